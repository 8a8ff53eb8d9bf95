"""Log in to a server that refuses and hangs up, and keep the connection in
a pool that is never cleaned up. Ends with os._exit(), as forked workers
(multiprocessing, gunicorn) do: a normal interpreter exit would close the
socket during finalization.  Usage: leaky_conn.py PORT"""
import os
import socket
import sys
import time

pool = []


def login(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"LOGIN app secret\n")
    answer = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:          # the server hung up
            break
        answer += chunk
    pool.append(s)             # BUG: kept, never closed
    return answer


if __name__ == "__main__":
    print(login(int(sys.argv[1])).decode().strip(), flush=True)
    time.sleep(0.2)
    os._exit(0)
