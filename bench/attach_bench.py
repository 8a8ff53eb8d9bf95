#!/usr/bin/env python3
"""bench-attach: time from `sockleak attach` to attached (and the detach), as
the command measures it, for quiet targets: a C service blocked in poll()
and python3 blocked in readline(); 20 attach/detach cycles each, median and
worst. The issue's bar: under 100 ms for a quiet process.

    python3 bench/attach_bench.py BUILD_DIR
"""
import os
import re
import statistics
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
sockleak = os.path.join(build, "sockleak")
targets = {
    "C service (poll)": [os.path.join(build, "tests", "e2e", "progs", "attach_svc")],
    "python3 (readline)": [sys.executable, "-c",
                           "import socket,sys; l=socket.socket(); l.bind(('127.0.0.1',0)); "
                           "l.listen(); print('port', l.getsockname()[1], flush=True); sys.stdin.readline()"],
}
for name, argv in targets.items():
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    att, det = [], []
    for _ in range(20):
        r = subprocess.run([sockleak, "attach", "--duration", "0", "--fail-on", "none",
                            "-o", os.devnull, str(p.pid)], capture_output=True, text=True)
        a = re.search(r"attached to process \d+ in ([\d.]+) ms", r.stderr)
        d = re.search(r"detached from process \d+ in ([\d.]+) ms", r.stderr)
        if not a or not d:
            sys.exit("bench-attach: %s: %s" % (name, r.stderr))
        att.append(float(a.group(1)))
        det.append(float(d.group(1)))
    p.stdin.close()
    p.wait()
    print("bench-attach: %-20s attach median %5.1f ms, worst %5.1f ms; detach median %5.1f ms, "
          "worst %5.1f ms (20 cycles)" % (name, statistics.median(att), max(att),
                                          statistics.median(det), max(det)))
