"""shimrun -- run programs under LD_PRELOAD=build/libsockleak.so and hand
back their reports, parsed: the events of each process, by pid.

    class TestX(ShimTestCase):
        def test_x_something(self):
            run = self.run_shim([prog("kinds")])
            leak = run.report.leak_for_fd(3)

Every test gets its own temporary directory (self.tmp); JSON reports go to
self.tmp/r.<pid>. JSON runs add verbose=1, so every process that ran under
the shim writes at least its summary line: a missing summary is a failure,
never "no leaks".
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
SHIM = os.path.join(BUILD, "libsockleak.so")
PROGS = os.path.join(BUILD, "tests", "e2e", "progs")
EXAMPLES = os.path.join(BUILD, "examples")

REPORT_WAIT_S = 15      # how long to poll for a report file to be complete
RUN_TIMEOUT_S = 120     # a program under test that runs longer has hung


def prog(name):
    """Path of a test program built by tests/e2e/e2e.mk."""
    return os.path.join(PROGS, name)


def example(name):
    """Path of an example program built by examples/examples.mk."""
    return os.path.join(EXAMPLES, name)


def source_line(relpath, pattern):
    """The line number of the one line of ROOT/relpath matching pattern."""
    with open(os.path.join(ROOT, relpath)) as f:
        hits = [i for i, text in enumerate(f, 1) if re.search(pattern, text)]
    if len(hits) != 1:
        raise AssertionError("%s: expected one line matching %r, found %s"
                             % (relpath, pattern, hits))
    return hits[0]


def option_names():
    """Every SOCKLEAK_OPTIONS key declared in shim/options.inc."""
    with open(os.path.join(ROOT, "shim", "options.inc")) as f:
        return re.findall(r"^SL_OPTION\(\s*\w+\s*,\s*(\w+)\s*,", f.read(), re.M)


def free_port():
    """An ephemeral port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def format_stack(stack):
    return "\n".join("    #%d %s %s:%s (%s+%s)%s" % (
        i, f.get("function"), f.get("file"), f.get("line"), f.get("module"),
        f.get("offset"), " [inlined]" if f.get("inlined") else "")
        for i, f in enumerate(stack or []))


def format_leak(leak):
    head = {k: v for k, v in leak.items() if k != "stack"}
    return json.dumps(head) + "\n" + format_stack(leak.get("stack"))


class Report:
    """The parsed JSON Lines report of one process."""

    def __init__(self, pid, path):
        self.pid = pid
        self.path = path
        with open(path, encoding="utf-8", errors="replace") as f:
            self.text = f.read()
        self.events = []
        for n, line in enumerate(self.text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                self.events.append(json.loads(line))
            except ValueError as e:
                raise AssertionError("%s:%d: not JSON (%s): %r" % (path, n, e, line))
        self.leaks = [e for e in self.events if e.get("event") == "leak"]
        summaries = [e for e in self.events if e.get("event") == "summary"]
        self.summary = summaries[-1] if summaries else None

    def complete(self):
        return bool(self.events) and self.events[-1].get("event") == "summary"

    def leaks_of(self, kind):
        return [l for l in self.leaks if l.get("kind") == kind]

    def leak_for_fd(self, fd):
        """The one leak whose fds include fd, or None."""
        hits = [l for l in self.leaks if fd in (l.get("fds") or [l.get("fd")])]
        if len(hits) > 1:
            raise AssertionError("fd %d is in %d leaks:\n%s" % (fd, len(hits), self.describe()))
        return hits[0] if hits else None

    def describe(self):
        out = ["report %s (pid %d): %d events" % (self.path, self.pid, len(self.events))]
        out += [format_leak(l) for l in self.leaks]
        out.append("summary: %s" % json.dumps(self.summary))
        return "\n".join(out)


class Run:
    """A finished program: its exit status, output and reports by pid."""

    def __init__(self, argv, pid, returncode, stdout, stderr, reports):
        self.argv = argv
        self.pid = pid
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.reports = reports

    @property
    def report(self):
        """The report of the process that was started (not its children)."""
        if self.pid not in self.reports:
            raise AssertionError("no report for pid %d of %s; reports: %s\nstderr:\n%s"
                                 % (self.pid, self.argv, sorted(self.reports), self.stderr))
        return self.reports[self.pid]

    def json_lines(self):
        """The program's own stdout, parsed as JSON lines (the test programs
        print their fd numbers that way)."""
        return [json.loads(l) for l in self.stdout.splitlines() if l.startswith("{")]

    def describe(self):
        out = ["%s exited %s" % (" ".join(self.argv), self.returncode),
               "stdout: %r" % self.stdout[-2000:], "stderr: %r" % self.stderr[-2000:]]
        out += [r.describe() for r in self.reports.values()]
        return "\n".join(out)


def clean_env():
    env = dict(os.environ)
    for key in ("LD_PRELOAD", "SOCKLEAK_OPTIONS"):
        env.pop(key, None)
    return env


class LoopbackServer:
    """A loopback TCP server in a thread that hands each accepted connection
    to handle(conn); subclasses say what the server does with it."""

    def __init__(self, backlog=64):
        self.accepted = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.handle(conn)
            self.accepted += 1

    def handle(self, conn):
        raise NotImplementedError

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ClosingServer(LoopbackServer):
    """For each connection: read one line (if read_line), send reply, and
    close its side, like db_server."""

    def __init__(self, reply=b"ERR login refused\n", read_line=True):
        self.reply = reply
        self.read_line = read_line
        super().__init__()

    def handle(self, conn):
        with conn:
            conn.settimeout(10)
            # The reply and the FIN in one segment, as db_server sends them:
            # a client that exits right after reading the reply is already
            # in CLOSE_WAIT (sent apart, a preempted server could be late).
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            try:
                if self.read_line:
                    data = b""
                    while b"\n" not in data:
                        chunk = conn.recv(256)
                        if not chunk:
                            break
                        data += chunk
                conn.sendall(self.reply)
            except OSError:
                pass


class HoldingServer(LoopbackServer):
    """Accepts and never closes first: the leaking server of the classic
    story (its side is closed when the test closes the server)."""

    def __init__(self):
        self.conns = []
        super().__init__(backlog=16)

    def handle(self, conn):
        self.conns.append(conn)

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


# The exit report of a short program, as it was before sockets still open
# at exit and young CLOSE_WAITs stopped counting as leaks: every socket
# listed, and a CLOSE_WAIT a leak whatever its FIN's age; the watcher off,
# so each is reported once, at exit. For tests whose subject is the
# bookkeeping (dup, close_range, fork, kinds, stacks), not the defaults.
LIST_ALL = {"report_open": 1, "grace_ms": 0, "scan_ms": 0}
# A short program's CLOSE_WAIT leaks, at exit only, however young the FIN.
EXIT_LEAKS = {"grace_ms": 0, "scan_ms": 0}


class ShimTestCase(unittest.TestCase):
    """A test with its own temp dir, running programs under the shim."""

    maxDiff = None
    default_options = {}    # merged under each test's own options

    def setUp(self):
        if not os.path.exists(SHIM):
            self.fail("%s is not built (make build/libsockleak.so)" % SHIM)
        self.tmp = self.base_tmp = tempfile.mkdtemp(prefix="sockleak-e2e-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.log_prefix = os.path.join(self.tmp, "r")
        self._started = []
        self.addCleanup(self._stop_started)

    def use_subdir(self, name):
        """Subtests share one test: give each its own directory for reports."""
        sub = os.path.join(self.base_tmp, name)
        os.mkdir(sub)
        self.tmp = sub
        self.log_prefix = os.path.join(sub, "r")

    # -- running ---------------------------------------------------------

    def shim_env(self, options=None, json_format=True, env=None, preload=True):
        """The environment for a program: LD_PRELOAD and SOCKLEAK_OPTIONS.
        options: a dict (merged over the JSON defaults) or a raw string."""
        e = clean_env()
        if preload:
            e["LD_PRELOAD"] = SHIM
            if isinstance(options, str):
                e["SOCKLEAK_OPTIONS"] = options
            else:
                opts = dict(self.default_options)
                if json_format:
                    opts.update({"format": "json", "log_path": self.log_prefix, "verbose": 1})
                opts.update(options or {})
                if opts:
                    e["SOCKLEAK_OPTIONS"] = ":".join("%s=%s" % kv for kv in opts.items())
        e.update(env or {})
        return e

    def start(self, argv, options=None, json_format=True, env=None, preload=True,
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, **kw):
        """Start argv (under the shim unless preload=False); stopped at cleanup."""
        p = subprocess.Popen([str(a) for a in argv], stdin=stdin, stdout=stdout,
                             stderr=stderr, cwd=kw.pop("cwd", self.tmp),
                             env=self.shim_env(options, json_format, env, preload), **kw)
        self._started.append(p)
        return p

    def run_shim(self, argv, options=None, json_format=True, env=None, input=None,
                 timeout=RUN_TIMEOUT_S, expect_pids=None, preload=True, **kw):
        """Run argv to completion under the shim; return a Run. The reports
        of expect_pids (default: the started process, for JSON runs) are
        waited for until complete."""
        if input is not None:
            kw["stdin"] = subprocess.PIPE
        p = self.start(argv, options, json_format, env, preload, **kw)
        try:
            out, err = p.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            self.fail("%s did not finish in %d s\nstdout: %r\nstderr: %r"
                      % (argv, timeout, out[-2000:], err[-2000:]))
        if expect_pids is None:
            expect_pids = [p.pid] if preload and json_format and not isinstance(options, str) else []
        reports = self.reports(expect_pids)
        return Run([str(a) for a in argv], p.pid, p.returncode,
                   _text(out), _text(err), reports)

    def stop(self, p, sig=signal.SIGTERM, timeout=30):
        """Stop a started process and wait for it; return its exit status."""
        if p.poll() is None:
            p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail("%s did not stop on signal %d" % (p.args, sig))
        return p.returncode

    def _stop_started(self):
        for p in self._started:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr, p.stdin):
                if f:
                    f.close()

    # -- reports ---------------------------------------------------------

    def events_of(self, pid):
        """The events pid has written to its log_path file so far (complete
        lines only: a live report may be read while it is written)."""
        try:
            with open("%s.%d" % (self.log_prefix, pid), encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        return [json.loads(l) for l in text.splitlines(True) if l.endswith("\n") and l.strip()]

    def reports(self, expect_pids=(), wait_s=REPORT_WAIT_S):
        """Every report file in self.tmp, parsed, by pid. Polls until the
        reports of expect_pids exist and end with their summary line."""
        deadline = time.monotonic() + wait_s
        while True:
            found = {}
            for name in os.listdir(self.tmp):
                m = re.fullmatch(r"r\.(\d+)", name)
                if m:
                    found[int(m.group(1))] = os.path.join(self.tmp, name)
            pending = [pid for pid in expect_pids
                       if pid not in found or not _complete(found[pid])]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        reports = {pid: Report(pid, path) for pid, path in found.items()}
        for pid in pending:
            self.fail("pid %d wrote no complete report (ending with a summary) in %d s; "
                      "report files: %s%s" % (pid, wait_s, sorted(found),
                      "\n" + reports[pid].text[-3000:] if pid in reports else ""))
        return reports

    # -- assertions ------------------------------------------------------

    def assertLeakFields(self, leak, msg=None, **fields):
        """Each named field of leak has the given value."""
        self.assertIsNotNone(leak, msg)
        got = {k: leak.get(k) for k in fields}
        self.assertEqual(got, fields, "%s\n%s" % (msg or "", format_leak(leak)))

    def assertNoLeaks(self, report, msg=None):
        """No leak events and a summary with leaks 0."""
        self.assertIsNotNone(report.summary, "no summary line\n" + report.describe())
        self.assertEqual(report.leaks, [], "%s\n%s" % (msg or "", report.describe()))
        self.assertEqual(report.summary.get("leaks"), 0, report.describe())

    def assertSummary(self, report, msg=None, **fields):
        self.assertIsNotNone(report.summary, "no summary line\n" + report.describe())
        got = {k: report.summary.get(k) for k in fields}
        self.assertEqual(got, fields, "%s\n%s" % (msg or "", report.describe()))

    def assertFrame(self, leak, function, file_basename, line=None):
        """The creation stack has a frame in function at file_basename[:line]."""
        stack = leak.get("stack") or []
        for f in stack:
            if (f.get("function") == function and f.get("file")
                    and os.path.basename(f["file"]) == file_basename
                    and (line is None or f.get("line") == line)):
                return f
        self.fail("no frame %s at %s:%s in the creation stack:\n%s"
                  % (function, file_basename, line if line is not None else "*",
                     format_leak(leak)))


def _complete(path):
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
        return bool(lines) and b'"event":"summary"' in lines[-1].replace(b" ", b"")
    except OSError:
        return False


def _text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")


def which(name):
    return shutil.which(name)
