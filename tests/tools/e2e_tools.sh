#!/bin/sh
# End-to-end tests of build/sockleak: real programs under the shim (run),
# saved report files (report) and live processes (scan). Prints "ok - NAME"
# or "not ok - NAME: why" per test. Run from the top of the tree.
cd "$(dirname "$0")/../.." || exit 1
SL=build/sockleak
P=build/tests/tools
T=$(mktemp -d /tmp/sockleak-e2e.XXXXXX)
HOLDER=
trap '[ -n "$HOLDER" ] && kill $HOLDER 2>/dev/null; rm -rf "$T"' EXIT
unset SOCKLEAK_OPTIONS LD_PRELOAD
# The test programs leak and exit at once: their CLOSE_WAITs are milliseconds
# old, so they are leaks at exit only with grace_ms=0 ("closing" otherwise).
HELD=--grace-ms=0

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1: $2"; }
# check NAME EXPECTED_STATUS ACTUAL_STATUS [FILE PATTERN]...
check() {
    name=$1 want=$2 got=$3; shift 3
    if [ "$got" != "$want" ]; then not_ok "$name" "exit status $got, expected $want"; return; fi
    while [ $# -ge 2 ]; do
        if ! grep -q -e "$2" "$1"; then not_ok "$name" "no \"$2\" in $1"; sed 's/^/#   /' "$1" | head -20; return; fi
        shift 2
    done
    ok "$name"
}
json() { python3 -c "import json,sys; d=[json.loads(l) for l in open(sys.argv[1])]; $2" "$1"; }

# --- run: exit statuses
$SL run $HELD -- $P/prog_leaky 3 >$T/leaky.txt 2>&1
check "run: leaky program exits 23" 23 $? $T/leaky.txt \
    "3 sockets leaked in CLOSE_WAIT (peer closed, never closed here) from connect_to_closing_peer (prog_common.h:[0-9]*) <- db_connect <- db_login <- main, created at:" \
    $T/leaky.txt "^SUMMARY: sockleak: 3 sockets leaked (3 in CLOSE_WAIT, 0 open at exit) in 1 group across 1 process"
$SL run -- $P/prog_clean 3 >$T/clean.txt 2>&1
check "run: clean program exits 0" 0 $? $T/clean.txt "^SUMMARY: sockleak: 0 sockets leaked"
$SL run $HELD -- $P/prog_leaky 1 7 >$T/fail.txt 2>&1
check "run: a failing command's own status wins" 7 $? $T/fail.txt "1 socket leaked in CLOSE_WAIT"
$SL run -- sh -c 'kill -TERM $$' >$T/sig.txt 2>&1
check "run: a command killed by SIGTERM gives 143" 143 $? $T/sig.txt "SUMMARY"
$SL run -- /nonexistent/cmd >$T/noent.txt 2>&1
check "run: a missing command gives 127" 127 $? $T/noent.txt "cannot run /nonexistent/cmd"
$SL run $HELD --fail-on none -- $P/prog_leaky 1 >$T/none.txt 2>&1
check "run: --fail-on none" 0 $? $T/none.txt "1 socket leaked"
$SL run --report-open -- $P/prog_listen >$T/listen.txt 2>&1
check "run: open_at_exit alone does not fail by default" 0 $? $T/listen.txt \
    "1 socket still open at exit (peer has not closed) from start_listener"
$SL run -- $P/prog_listen >$T/listen0.txt 2>&1
check "run: a socket still open at exit is not listed by default" 0 $? $T/listen0.txt \
    "^SUMMARY: sockleak: 0 sockets leaked"
$SL run -- $P/prog_leaky 2 >$T/young.txt 2>&1
check "run: a CLOSE_WAIT younger than grace_ms at exit is closing, not a leak" 0 $? \
    $T/young.txt "^SUMMARY: sockleak: 0 sockets leaked"
$SL run --report-open --fail-on any -- $P/prog_listen >$T/listen2.txt 2>&1
check "run: --fail-on any fails on open_at_exit" 23 $? $T/listen2.txt "open at exit"

# --- run: sockets received through SCM_RIGHTS (a worker handed a connection)
$SL run -- $P/prog_received >$T/recv0.txt 2>&1
check "run: a received socket held at exit is not a failure by default" 0 $? \
    $T/recv0.txt "^SUMMARY: sockleak: 0 sockets leaked"
$SL run --fail-on received -- $P/prog_received >$T/recv1.txt 2>&1
check "run: --fail-on received fails on a received socket held at exit" 23 $? $T/recv1.txt \
    "1 socket received through SCM_RIGHTS and still held at exit from take_handed_connection (prog_received.c:[0-9]*) <- main, created at:" \
    $T/recv1.txt "^SUMMARY: sockleak: 1 socket leaked (0 in CLOSE_WAIT, 0 open at exit, 1 received and still held)"
$SL run --fail-on received -- $P/prog_received close >$T/recv2.txt 2>&1
check "run: --fail-on received passes when the received socket is closed" 0 $? \
    $T/recv2.txt "^SUMMARY: sockleak: 0 sockets leaked"
$SL run --report-received -- $P/prog_received >$T/recv3.txt 2>&1
check "run: --report-received lists it without failing" 0 $? $T/recv3.txt \
    "1 socket received through SCM_RIGHTS and still held at exit from take_handed_connection"
$SL run $HELD --fail-on received -- $P/prog_leaky 1 >$T/recv4.txt 2>&1
check "run: --fail-on received still fails on close_wait" 23 $? $T/recv4.txt "1 socket leaked in CLOSE_WAIT"

# --- run: a fork + exec tree, merged
$SL run $HELD --format json -o $T/tree.jsonl -- $P/prog_tree $P/prog_leaky >$T/tree.out 2>&1
st=$?
if [ $st = 23 ] && json $T/tree.jsonl '
s = d[-1]; assert s["event"] == "summary" and s["processes"] == 3 and s["leaks"] == 4, s
leaks = [x for x in d if x["event"] == "leak"]
tree = [x for x in leaks if x["stack"][1]["function"] == "tree_leak"]
assert len(tree) == 2 and len({x["pid"] for x in tree}) == 2 and len({x["fingerprint"] for x in tree}) == 1, tree
assert len([x for x in leaks if x["stack"][1]["function"] == "db_connect"]) == 2
' 2>$T/tree.err; then ok "run: fork+exec tree merged (3 processes, one group across 2)"
else not_ok "run: fork+exec tree merged" "status $st, $(cat $T/tree.err $T/tree.out | tail -3)"; fi
$SL run $HELD -- $P/prog_tree $P/prog_leaky >$T/tree.txt 2>&1
check "run: text headline names the processes" 23 $? $T/tree.txt \
    "2 sockets leaked in CLOSE_WAIT .* from connect_to_closing_peer (prog_common.h:[0-9]*) <- tree_leak <- main, in 2 processes"

# --- pass-through flags reach the shim (the user's SOCKLEAK_OPTIONS first, flags win)
SOCKLEAK_OPTIONS=report_open=1 $SL run --no-report-open --fail-on any -- $P/prog_listen >$T/pass.txt 2>&1
check "run: --no-report-open passed to the shim" 0 $? $T/pass.txt "^SUMMARY: sockleak: 0 sockets leaked"

# --- suppressions
printf '# known\nleak:db_login\nleak:never_matches\n' >$T/supp.txt
$SL run $HELD --suppressions $T/supp.txt -- $P/prog_leaky 3 >$T/supp.out 2>&1
check "suppressions: --suppressions hides the leak and counts it" 0 $? $T/supp.out \
    "^Suppressions used:" $T/supp.out "^      3 db_login" $T/supp.out "; 3 suppressed"
if grep -q never_matches $T/supp.out; then not_ok "suppressions: unused ones are not listed" "listed"
else ok "suppressions: unused ones are not listed"; fi
SOCKLEAK_OPTIONS=suppressions=$T/supp.txt $SL run $HELD -- $P/prog_leaky 2 >$T/supp2.out 2>&1
check "suppressions: suppressions= in SOCKLEAK_OPTIONS" 0 $? $T/supp2.out "^      2 db_login"
printf 'leak:x\nbogus line\n' >$T/badsupp.txt
$SL run $HELD --suppressions $T/badsupp.txt -- $P/prog_leaky 1 >$T/badsupp.out 2>&1
check "suppressions: a bad file fails before running" 2 $? $T/badsupp.out "badsupp.txt:2:"

# --- run: processes the command leaves running (daemons) are waited for
$SL run $HELD -- $P/prog_daemon 300 >$T/daemon.txt 2>&1
check "run: a daemonized descendant's leak is in the report (default --wait)" 23 $? $T/daemon.txt \
    "1 socket leaked in CLOSE_WAIT .* from connect_to_closing_peer (prog_common.h:[0-9]*) <- daemon_leak <- main"
$SL run $HELD --wait 1 -- $P/prog_daemon 2500 >$T/daemon2.txt 2>$T/daemon2.err
st=$?
dir=$(sed -n 's/^    sockleak report \(.*\)\/r\.\*$/\1/p' $T/daemon2.err)
if [ $st = 0 ] && grep -q "1 process started by the command is still running after --wait 1 s: pid [0-9]* (prog_daemon)" $T/daemon2.err \
   && [ -d "$dir" ] && [ "$(stat -c %a "$dir")" = 700 ]; then
    dpid=$(sed -n 's/.*after --wait 1 s: pid \([0-9]*\) .*/\1/p' $T/daemon2.err)
    i=0; while kill -0 "$dpid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    $SL report "$dir"/r.* >$T/daemon2.late 2>&1
    check "run: a daemon still running after --wait is named, and its report appears where said" 23 $? \
        $T/daemon2.late "from connect_to_closing_peer (prog_common.h:[0-9]*) <- daemon_leak <- main"
    rm -rf "$dir"
else not_ok "run: a daemon still running after --wait is named" "status $st, dir '$dir': $(cat $T/daemon2.err)"; fi
mkdir -p $T/tmp
TMPDIR=$T/tmp $SL run $HELD -- $P/prog_daemon 100 >$T/daemon3.txt 2>&1
left=$(ls -A $T/tmp)
if [ -z "$left" ] && grep -q daemon_leak $T/daemon3.txt; then
    ok "run: no report directory left behind when every process exited"
else not_ok "run: no report directory left behind when every process exited" "left: $left"; fi

# --- baselines
$SL run $HELD --write-baseline $T/base.json -- $P/prog_leaky 2 >$T/b1.out 2>&1
check "baseline: --write-baseline accepts what it records" 0 $? $T/base.json '"fingerprint"' \
    $T/base.json "connect_to_closing_peer (prog_common.h:[0-9]*) <- db_connect"
$SL run $HELD --baseline $T/base.json -- $P/prog_leaky 5 >$T/b2.out 2>&1
check "baseline: known leaks pass (more sockets, same stack)" 0 $? $T/b2.out \
    "1 known leak group (5 sockets) matched the baseline"
$SL run $HELD --baseline $T/base.json -- $P/prog_tree $P/prog_leaky >$T/b3.out 2>&1
check "baseline: a new stack fails" 23 $? $T/b3.out "tree_leak" $T/b3.out "2 known (baseline)"

# --- SARIF
$SL run $HELD --format sarif -o $T/out.sarif -- $P/prog_leaky 2 >$T/sarif.out 2>&1
st=$?
if [ $st = 23 ] && python3 - $T/out.sarif >$T/sarif.err 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == "2.1.0" and "sarif" in d["$schema"]
run = d["runs"][0]; drv = run["tool"]["driver"]
assert drv["name"] == "sockleak" and drv["rules"]
ids = [r["id"] for r in drv["rules"]]
(r,) = run["results"]
assert r["ruleId"] in ids and r["level"] == "error" and "db_connect" in r["message"]["text"]
loc = r["locations"][0]["physicalLocation"]
assert loc["artifactLocation"]["uri"] == "tests/tools/prog_common.h", loc
assert loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%" and loc["region"]["startLine"] > 0
assert len(r["partialFingerprints"]["sockleakStack/v1"]) == 16
PY
then ok "sarif: required fields, located in the program's own source"
else not_ok "sarif: required fields" "status $st: $(tail -3 $T/sarif.err)"; fi

# --- report: files gathered elsewhere
mkdir $T/logs
SOCKLEAK_OPTIONS=log_path=$T/logs/r:format=json:grace_ms=0 LD_PRELOAD=$PWD/build/libsockleak.so $P/prog_tree $P/prog_leaky
$SL report $T/logs/r.* >$T/rep.txt 2>&1
check "report: merges log_path files like run" 23 $? $T/rep.txt "<- tree_leak <- main, in 2 processes" \
    $T/rep.txt "across 3 processes"
$SL report tests/tools/fixtures/two_procs.a.jsonl tests/tools/fixtures/two_procs.b.jsonl >$T/fx.txt 2>&1
check "report: fixtures grouped across processes" 23 $? $T/fx.txt \
    "5 sockets leaked in CLOSE_WAIT .* from db_connect (client.c:42) <- db_login <- main, in 2 processes"
$SL report tests/tools/fixtures/malformed.jsonl >$T/bad.txt 2>&1
check "report: malformed lines named by file and line, the rest used" 23 $? $T/bad.txt \
    "malformed.jsonl:1: truncated JSON" $T/bad.txt "malformed.jsonl:3: field \"pid\" is not an integer" \
    $T/bad.txt "10 malformed report lines skipped" $T/bad.txt "2 sockets leaked"
head -c 20000 /dev/urandom >$T/junk.bin
$SL report $T/junk.bin >$T/junk.txt 2>&1
st=$?
if [ $st -lt 128 ] && grep -q "junk.bin:1:" $T/junk.txt; then ok "report: binary junk is rejected, no crash"
else not_ok "report: binary junk" "status $st"; fi
$SL report /nonexistent/r.1 >$T/nofile.txt 2>&1
check "report: a missing file is an error" 2 $? $T/nofile.txt "cannot read /nonexistent/r.1"
$SL report --format json tests/tools/fixtures/clean.jsonl >$T/cj.txt 2>&1
check "report: clean input exits 0" 0 $? $T/cj.txt '"processes":1'

# --- help texts
$SL --help >$T/h1.txt 2>&1
check "help: sockleak --help lists the commands" 0 $? $T/h1.txt "sockleak run" $T/h1.txt "sockleak scan"
$SL run --help >$T/h2.txt 2>&1
check "help: run --help has the generated shim flags" 0 $? $T/h2.txt "--grace-ms=<n>" \
    $T/h2.txt "--scan-ms=<n>" $T/h2.txt "--format <text|json|sarif>" $T/h2.txt "--suppressions <file>"
$SL run --grace-ms=soon -- true >$T/h3.txt 2>&1
check "help: a bad flag value is an error" 2 $? $T/h3.txt "--grace-ms expects a whole number"

# --- signals reach the command
$SL run -- sleep 30 >$T/sleep.txt 2>&1 &
SLPID=$!
sleep 0.5
kill -TERM $SLPID
wait $SLPID
check "run: SIGTERM is forwarded to the command" 143 $? $T/sleep.txt "SUMMARY"

# --- scan
$P/prog_hold 2 >$T/hold.out &
HOLDER=$!
i=0; while ! grep -q ready $T/hold.out && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
$SL scan $HOLDER >$T/scan.txt 2>&1
check "scan: finds the CLOSE_WAIT sockets of a live process (exit 23)" 23 $? $T/scan.txt \
    "CLOSE_WAIT" $T/scan.txt "2 sockets in CLOSE_WAIT"
if grep -q LISTEN $T/scan.txt; then not_ok "scan: only CLOSE_WAIT without --all" "LISTEN listed"
else ok "scan: only CLOSE_WAIT without --all"; fi
$SL scan --all $HOLDER >$T/scan2.txt 2>&1
check "scan: --all lists every state" 23 $? $T/scan2.txt "LISTEN" $T/scan2.txt "CLOSE_WAIT"
$SL scan 999999999 >$T/scan3.txt 2>&1
check "scan: a missing pid is a clear error" 2 $? $T/scan3.txt "no process 999999999"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    setpriv --reuid=65534 --regid=65534 --clear-groups $SL scan 1 >$T/scan4.txt 2>&1
    check "scan: no permission is a clear error" 2 $? $T/scan4.txt "permission"
fi
kill $HOLDER; HOLDER=
