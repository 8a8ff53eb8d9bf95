"""One deliberate leak per runtime that must still be found with default
options but grace_ms: a client (C, python3, node) logs in 200 times to a
server that hangs up, closing each connection correctly, then keeps one
more in a pool for ever. Exactly one live close_wait report within
grace_ms + 1 s of that connection's FIN, for that socket, and nothing else
(the exit report lists the same socket, held past grace_ms)."""
import json
import os
import shutil
import signal
import sys
import time
import unittest

from shimrun import ClosingServer, ShimTestCase, format_leak, prog

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")

GRACE_MS = 1500
CORRECT = 200
OTHER_EVENTS = ("closed_late", "peer_not_closing", "port_pressure")


class TestDeliberateLeaks(ShimTestCase):
    def check_one_leak(self, argv):
        with ClosingServer() as server:
            p = self.start(argv + [server.port, CORRECT], options={"grace_ms": GRACE_MS})
            line = p.stdout.readline()
            fin_seen = time.monotonic()         # the client saw the FIN before printing
            if not line:
                self.fail("the client printed nothing: %r" % p.stderr.read()[-2000:])
            leaked = json.loads(line)
            deadline = fin_seen + GRACE_MS / 1000 + 1.0
            live = []
            while not live and time.monotonic() < deadline:
                live = [e for e in self.events_of(p.pid)
                        if e.get("event") == "leak" and e.get("when") == "live"]
                time.sleep(0.01)
            self.assertTrue(live, "no live report within grace_ms + 1 s; events: %s"
                            % self.events_of(p.pid))
            time.sleep(0.5)                     # nothing else may follow
            self.assertEqual(self.stop(p), 0, "the client's exit status")
        rep = self.reports([p.pid])[p.pid]
        live = [e for e in rep.leaks if e.get("when") == "live"]
        self.assertEqual(len(live), 1, rep.describe())
        self.assertLeakFields(live[0], kind="close_wait", tcp_state="CLOSE_WAIT",
                              fd=leaked["fd"], local=leaked["local"], peer=server.address)
        exit_leaks = [e for e in rep.leaks if e.get("when") == "exit"]
        self.assertEqual([(e.get("fd"), e.get("local"), e.get("kind")) for e in exit_leaks],
                         [(leaked["fd"], leaked["local"], "close_wait")], rep.describe())
        self.assertEqual([e for e in rep.events if e.get("event") in OTHER_EVENTS], [],
                         rep.describe())
        self.assertSummary(rep, leaks=1, close_wait=1, sockets_opened=CORRECT + 1,
                           sockets_closed=CORRECT, closed_untracked=0)
        return live[0]

    def test_deliberate_leak_c_client_pool(self):
        """C: the one socket kept in the pool, created in pool_login."""
        leak = self.check_one_leak([prog("pool_leak")])
        self.assertFrame(leak, "pool_login", "pool_leak.c")

    def test_deliberate_leak_python_client_pool(self):
        """python3: the one socket kept in the pool list."""
        self.check_one_leak([sys.executable, os.path.join(SCRIPTS, "py_pool_leak.py")])

    @unittest.skipUnless(shutil.which("node"), "node is not installed (nodejs)")
    def test_deliberate_leak_node_net_socket_kept_in_an_array(self):
        """node: one net.Socket kept in an array among 200 destroyed ones
        (node closes them with syscall(SYS_close))."""
        self.check_one_leak([shutil.which("node"), os.path.join(SCRIPTS, "node_pool_leak.js")])


if __name__ == "__main__":
    unittest.main()
