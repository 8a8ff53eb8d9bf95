#!/usr/bin/env python3
"""bench-lang: what language frames cost. A local server (not under the
shim) accepts and closes; clients in Python (Debian's python3), Java and
node connect and close in a loop, with and without the shim, interleaved,
ROUNDS times; medians are printed. Python's bar: create_connection within
1.2x; a bare socket()+close() is printed beside it.

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
ROUNDS = 5


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


def run(argv, shim):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("SOCKLEAK_OPTIONS", None)
    if shim:
        env["LD_PRELOAD"] = shim
        env["SOCKLEAK_OPTIONS"] = "log_path=/dev/null"
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


def compare(name, argv, shim, columns):
    results = {False: [], True: []}
    for _ in range(ROUNDS):
        for with_shim in (False, True):
            results[with_shim].append(run(argv, shim if with_shim else None))
    for col, label in enumerate(columns):
        off = statistics.median(r[col] for r in results[False])
        on = statistics.median(r[col] for r in results[True])
        print("%-8s %-34s without %8.2f us   with %8.2f us   %.2fx" % (name, label, off, on, on / off))


def main(shim):
    shim = os.path.abspath(shim)
    port = str(serve())
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    print("median of %d interleaved runs, per operation, to a local server" % ROUNDS)
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
