"""A python3 client that logs in COUNT times, closing each connection after
the server hangs up, then once more keeping the socket in a pool it never
cleans up. Prints the leaked socket's fd and local address, then idles
until SIGTERM (os._exit(0): the pool is not finalized).
Usage: py_pool_leak.py PORT COUNT"""
import json
import os
import signal
import socket
import sys
import time

pool = []


def login(port, keep):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"LOGIN app secret\n")
    while s.recv(4096):
        pass
    if keep:
        pool.append(s)      # BUG on purpose: kept, never closed
    else:
        s.close()
    return s


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    port, count = int(sys.argv[1]), int(sys.argv[2])
    for _ in range(count):
        login(port, False)
    s = login(port, True)
    print(json.dumps({"fd": s.fileno(), "local": "%s:%d" % s.getsockname()}), flush=True)
    while True:
        time.sleep(1)
