#!/usr/bin/env python3
"""bench-lang: what language frames cost (lang_frames=1 against the shim
with lang_frames=0 and against no shim). A local server (not under the
shim) accepts and closes; clients in Python (Debian's python3), Java and
node connect and close in a loop, with and without the shim, interleaved,
ROUNDS times; each client reports its own CPU time per operation (a busy
machine's other work does not count; the server's and the watcher
process's do not either), and medians are printed. Python's bar:
create_connection within 1.2x; a bare socket()+close() beside it.

    bench/lang_bench.py build/libsockleak.so"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = 7


def serve():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)

    def loop():
        while True:
            c, _ = srv.accept()
            c.close()
    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


def run(argv, shim, lang_frames):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    if shim:
        env["LD_PRELOAD"] = shim
        env["SOCKLEAK_OPTIONS"] = "log_path=/dev/null:lang_frames=%d" % lang_frames
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


MODES = (("without", None, 0), ("native", "shim", 0), ("lang", "shim", 1))


def compare(name, argv, shim, columns):
    results = {m: [] for m, _, _ in MODES}
    for _ in range(ROUNDS):
        for mode, use, lang in MODES:
            results[mode].append(run(argv, shim if use else None, lang))
    for col, label in enumerate(columns):
        med = {m: statistics.median(r[col] for r in results[m]) for m, _, _ in MODES}
        print("%-7s %-31s %8.2f %8.2f %8.2f   %5.2fx  %5.2fx" % (
            name, label, med["without"], med["native"], med["lang"],
            med["lang"] / med["without"], med["lang"] / med["native"]))


def main(shim):
    shim = os.path.abspath(shim)
    port = str(serve())
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    print("client CPU us per operation to a local server, median of %d interleaved runs:" % ROUNDS)
    print("  without: no shim; native: shim, lang_frames=0; lang: shim, lang_frames=1 (default)")
    print("%-7s %-31s %8s %8s %8s   %6s  %6s" % ("", "operation", "without", "native", "lang",
                                               "lang/w", "lang/n"))
    compare("python", [py, os.path.join(HERE, "lang", "py_client.py"), port, "3000"], shim,
            ["create_connection()+close()", "socket()+close() (no connect)"])
    if shutil.which("javac") and shutil.which("java"):
        out = tempfile.mkdtemp(prefix="sockleak-bench-")
        subprocess.run(["javac", "-d", out, os.path.join(HERE, "lang", "JavaClient.java")], check=True)
        compare("java", ["java", "-cp", out, "JavaClient", port, "3000"], shim,
                ["new Socket(port)+close()"])
        shutil.rmtree(out, True)
    if shutil.which("node"):
        compare("node", ["node", os.path.join(HERE, "lang", "node_client.js"), port, "3000"], shim,
                ["net.connect()+destroy()"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/libsockleak.so")
