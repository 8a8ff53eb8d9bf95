"""Time N create_connection()+close() to PORT, and N bare socket()+close();
print the two per-operation costs in microseconds of this process's CPU
time (a busy machine's other work does not count)."""
import socket
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
t0 = time.process_time()
for _ in range(n):
    socket.create_connection(("127.0.0.1", port)).close()
t1 = time.process_time()
for _ in range(n):
    socket.socket().close()
t2 = time.process_time()
print("%.3f %.3f" % ((t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6))
