"""leaky_client.py -- the classic CLOSE_WAIT leak in Python, on purpose.

Usage: python3 examples/leaky_client.py PORT COUNT
  Logs in to db_server COUNT times. Every login is refused, and the error
  path in Database.login() returns without closing the connection, which
  stays in the database's list of open connections: each socket sits in
  CLOSE_WAIT. Under the shim the report names
  Database.connect in this file, not the interpreter's C frames (it exits
  within the default grace_ms of the FINs: grace_ms=0 reports them):
      SOCKLEAK_OPTIONS=grace_ms=0 LD_PRELOAD=build/libsockleak.so \
          python3 examples/leaky_client.py PORT 5
The fix: close the socket on the error path (or use `with`)."""
import os
import socket
import sys


class Database:
    def __init__(self, port):
        self.port = port
        self.open = []

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port))
        self.open.append(sock)
        return sock

    def login(self, user):
        sock = self.connect()
        sock.sendall(b"LOGIN %s secret\n" % user.encode())
        answer = sock.makefile("rb").readline()
        if not answer.startswith(b"OK"):
            # BUG: the error is reported, but sock is neither closed nor
            # removed from self.open.
            return None
        return sock


if __name__ == "__main__":
    port, count = int(sys.argv[1]), int(sys.argv[2])
    db = Database(port)
    failed = [db.login("app") for _ in range(count)].count(None)
    print("leaky_client.py: %d of %d logins failed" % (failed, count), flush=True)
    os._exit(0)   # as forked workers exit: interpreter teardown would close them
