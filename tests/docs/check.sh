#!/bin/sh
# The README documents every SOCKLEAK_OPTIONS key, help=1 prints every key,
# and the report format document names every JSON field the shim writes.
# Prints "docs: N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi; }

help=$(SOCKLEAK_OPTIONS=help=1 LD_PRELOAD=build/libsockleak.so /bin/true 2>&1)
for opt in $(sed -n 's/^SL_OPTION([A-Z]*, *\([a-z_]*\),.*/\1/p' shim/options.inc); do
    check "README documents option $opt" "grep -q '^| \`$opt\` |' README.md"
    def=$(sed -n "s/^SL_OPTION([A-Z]*, *$opt, *\"\([^\"]*\)\".*/\1/p" shim/options.inc)
    [ -n "$def" ] && check "README gives $opt's default $def" "grep -q '^| \`$opt\` | \`$def\` |' README.md"
    check "help=1 lists option $opt" "printf '%s\n' \"\$help\" | grep -q \"^	$opt \""
done
for field in $(grep -o '\\"[a-z_]*\\":' shim/report.c | tr -d '\\":' | sort -u); do
    check "docs/report-format.md names field $field" "grep -q \"$field\" docs/report-format.md"
done
echo "docs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
