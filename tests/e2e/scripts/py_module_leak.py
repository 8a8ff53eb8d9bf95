"""A module function that opens a connection, reads the server's answer to
the end (the server hung up) and keeps the socket in a pool: a CLOSE_WAIT
leak whose Python frame is fetch_quote. With "hold", waits for stdin to
close before exiting (for the live report). Ends with os._exit(), as forked
workers do: a normal exit would close the socket during finalization.
Usage: py_module_leak.py PORT [hold]"""
import os
import socket
import sys

pool = []


def fetch_quote(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # LEAK-SITE
    s.connect(("127.0.0.1", port))
    s.sendall(b"QUOTE ACME\n")
    answer = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    pool.append(s)          # BUG: kept, never closed
    return answer


if __name__ == "__main__":
    port = int(sys.argv[1])
    for _ in range(2):
        print(fetch_quote(port).decode().strip(), flush=True)
    if sys.argv[2:] == ["hold"]:
        sys.stdin.read()
    os._exit(0)
