"""Programs no one here wrote, under the shim: curl, python3, java, redis,
socat. They must behave exactly as without it, and sockleak must find the
leaks they really have (and no others)."""
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest

from shimrun import BUILD, EXIT_LEAKS, ClosingServer, ShimTestCase, format_leak, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")
JAVA_OUT = os.path.join(BUILD, "tests", "e2e", "java")


def peers(address):
    """The ways a loopback IPv4 peer may be shown (IPv6 sockets see it mapped)."""
    host, port = address.rsplit(":", 1)
    return {address, "[::ffff:%s]:%s" % (host, port)}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class TestCurl(ShimTestCase):
    def serve_http(self, directory):
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(QuietHandler, directory=directory))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return "http://127.0.0.1:%d" % server.server_address[1]

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_curl_fetches_identically_and_leaks_no_close_wait(self):
        """curl fetching two files from python3's http.server (which closes
        each connection): exit 0, the same output as without the shim, and
        no close_wait leak in curl's report."""
        www = os.path.join(self.tmp, "www")
        os.mkdir(www)
        bodies = {"a.txt": "".join("line %d of a\n" % i for i in range(20000)),
                  "b.txt": "b\n" * 1000}
        for name, body in bodies.items():
            with open(os.path.join(www, name), "w") as f:
                f.write(body)
        base = self.serve_http(www)
        argv = [shutil.which("curl"), "-sS", "--noproxy", "*",
                base + "/a.txt", base + "/b.txt"]
        plain = self.run_shim(argv, preload=False)
        self.assertEqual(plain.returncode, 0, plain.describe())
        self.assertEqual(plain.stdout, bodies["a.txt"] + bodies["b.txt"])
        run = self.run_shim(argv)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout, plain.stdout, "curl's output changed under the shim")
        rep = run.report
        self.assertEqual(rep.leaks_of("close_wait"), [], rep.describe())
        self.assertGreaterEqual(rep.summary.get("sockets_opened", 0), 2,
                                "the shim did not see curl's connections\n" + rep.describe())
        self.assertEqual(rep.summary.get("close_wait"), 0, rep.describe())


class TestPython(ShimTestCase):
    def test_python_leaked_socket_in_close_wait_is_found(self):
        """A python3 script that keeps a connection the server hung up on
        for 200 ms (past grace_ms=100): one close_wait leak in CLOSE_WAIT
        with the server as peer, created from inside the python interpreter."""
        with ClosingServer() as server:
            run = self.run_shim([sys.executable, os.path.join(SCRIPTS, "leaky_conn.py"),
                                 server.port], options={"grace_ms": 100, "scan_ms": 0})
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.strip(), "ERR login refused")
        rep = run.report
        self.assertEqual(len(rep.leaks), 1, rep.describe())
        leak = rep.leaks[0]
        self.assertLeakFields(leak, kind="close_wait", tcp_state="CLOSE_WAIT",
                              peer=server.address, family="inet", type="stream",
                              origin="socket")
        self.assertIsNotNone(leak.get("fin_age_ms"), format_leak(leak))
        self.assertTrue([f for f in leak.get("stack") or []
                         if "python" in os.path.basename(f.get("module") or "")],
                        "no frame in the python binary or libpython:\n" + format_leak(leak))
        self.assertSummary(rep, leaks=1, close_wait=1)

    def test_python_with_statement_leaks_nothing(self):
        """The same login with `with socket...`: no leak at all."""
        with ClosingServer() as server:
            run = self.run_shim([sys.executable, os.path.join(SCRIPTS, "clean_conn.py"),
                                 server.port])
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.strip(), "ERR login refused")
        self.assertNoLeaks(run.report)
        opened = run.report.summary.get("sockets_opened", 0)
        self.assertGreaterEqual(opened, 1, "the shim did not see the connection")
        self.assertSummary(run.report, sockets_closed=opened)


@unittest.skipUnless(shutil.which("java") and shutil.which("javac"),
                     "java/javac are not installed (default-jdk-headless)")
class TestJava(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(JAVA_OUT, exist_ok=True)
        sources = [os.path.join(HERE, "java", f) for f in ("Leaky.java", "Fixed.java")]
        subprocess.run(["javac", "-d", JAVA_OUT] + sources, check=True)

    def run_java(self, cls, server):
        # a CLOSE_WAIT at exit is a leak however young its FIN, reported once
        run = self.run_shim(["java", "-cp", JAVA_OUT, cls, server.port], timeout=180,
                            options=EXIT_LEAKS)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.strip(), "read 18 bytes")
        return run.report

    def test_java_unclosed_socket_is_a_close_wait_leak(self):
        """A java Socket read to EOF and never closed: one close_wait leak
        with the server as peer, in CLOSE_WAIT. (Other close_wait leaks are
        the subject of the try-with-resources test.)"""
        with ClosingServer() as server:
            rep = self.run_java("Leaky", server)
        leaks = [l for l in rep.leaks_of("close_wait")
                 if l.get("peer") in peers(server.address)]
        self.assertEqual(len(leaks), 1, rep.describe())
        self.assertLeakFields(leaks[0], tcp_state="CLOSE_WAIT", type="stream", origin="socket")
        self.assertIn(leaks[0].get("family"), ("inet", "inet6"))
        self.assertIsNotNone(leaks[0].get("fin_age_ms"), format_leak(leaks[0]))

    def test_java_try_with_resources_has_no_close_wait_leak(self):
        """The same with try-with-resources: no close_wait leak (the JVM may
        hold other sockets open at exit)."""
        with ClosingServer() as server:
            rep = self.run_java("Fixed", server)
        self.assertEqual(rep.leaks_of("close_wait"), [], rep.describe())
        self.assertGreaterEqual(rep.summary.get("sockets_opened", 0), 1,
                                "the shim did not see the JVM's socket")


@unittest.skipUnless(shutil.which("redis-server") and shutil.which("redis-cli"),
                     "redis-server/redis-cli are not installed")
class TestRedis(ShimTestCase):
    def wait_listening(self, port, proc, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assertIsNone(proc.poll(), "redis-server exited early")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.fail("redis-server did not listen on %d" % port)

    def test_redis_server_runs_normally_and_leaks_no_close_wait(self):
        """redis-server under the shim answers PING (redis-cli under the shim
        too) and shuts down cleanly; neither reports a close_wait leak."""
        port = free_port()
        server = self.start([shutil.which("redis-server"), "--port", port,
                             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--daemonize", "no", "--dir", self.tmp],
                            stdout=subprocess.DEVNULL)
        self.wait_listening(port, server)
        cli = shutil.which("redis-cli")
        for _ in range(3):
            ping = self.run_shim([cli, "-h", "127.0.0.1", "-p", port, "PING"])
            self.assertEqual(ping.returncode, 0, ping.describe())
            self.assertEqual(ping.stdout.strip(), "PONG")
            self.assertEqual(ping.report.leaks_of("close_wait"), [], ping.report.describe())
        self.run_shim([cli, "-h", "127.0.0.1", "-p", port, "SHUTDOWN", "NOSAVE"],
                      preload=False)
        server.wait(30)
        err = server.stderr.read().decode(errors="replace")
        self.assertEqual(server.returncode, 0, err)
        rep = self.reports([server.pid])[server.pid]
        self.assertEqual(rep.leaks_of("close_wait"), [], rep.describe())
        self.assertEqual(rep.summary.get("close_wait"), 0, rep.describe())
        self.assertGreaterEqual(rep.summary.get("sockets_opened", 0), 5,
                                "listener + 5 client connections\n" + rep.describe())


@unittest.skipUnless(shutil.which("socat"), "socat is not installed")
class TestSocat(ShimTestCase):
    def test_socat_relays_identically_and_its_unclosed_connection_is_reported(self):
        """socat -u TCP:server STDOUT: the same output and status as without
        the shim. socat ends with shutdown(SHUT_RDWR) after the server's FIN
        and exits without close(): one TCP leak, kind close_wait (FIN seen,
        never closed), with the FIN noticed (grace_ms=0: however young)."""
        with ClosingServer(reply=b"hello from the server\n", read_line=False) as server:
            argv = [shutil.which("socat"), "-u", "TCP:127.0.0.1:%d" % server.port, "STDOUT"]
            plain = self.run_shim(argv, preload=False)
            run = self.run_shim(argv, options=EXIT_LEAKS)
        self.assertEqual(plain.returncode, 0, plain.describe())
        self.assertEqual(plain.stdout, "hello from the server\n")
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout, plain.stdout, "socat's output changed under the shim")
        rep = run.report
        tcp = [l for l in rep.leaks if l.get("family") == "inet"]
        self.assertEqual(len(tcp), 1, rep.describe())
        self.assertLeakFields(tcp[0], kind="close_wait", type="stream", origin="socket")
        self.assertRegex(tcp[0].get("local") or "", r"^127\.0\.0\.1:\d+$")
        self.assertIsNotNone(tcp[0].get("fin_age_ms"), format_leak(tcp[0]))


if __name__ == "__main__":
    unittest.main()
