"""The examples end to end: leaky_client's refused logins are reported as
CLOSE_WAIT leaks created in db_connect(); fixed_client, db_server and a clean
program report nothing."""
import re
import unittest

from shimrun import ShimTestCase, example, prog, source_line

N = 5
# leaky_client keeps its leaked sockets 200 ms before it exits: held past
# this grace, they are leaks at exit (younger ones would be "closing").
# The watcher is off: these test the exit report alone.
HELD = {"grace_ms": 100, "scan_ms": 0}


def leaky_socket_line():
    """The line of leaky_client.c's one socket() call (in db_connect)."""
    return source_line("examples/leaky_client.c", r"\bsocket\(")


class ExampleTestCase(ShimTestCase):
    def db_server(self, count, under_shim=False, **kw):
        """Start db_server on an ephemeral port for count connections."""
        p = self.start([example("db_server"), 0, count], preload=under_shim, **kw)
        line = p.stdout.readline()
        self.assertRegex(line.decode(), r"^\d+\n$", "db_server did not print its port")
        return p, int(line)

    def wait_server(self, p):
        p.wait(30)
        self.assertEqual(p.returncode, 0, "db_server failed")


class TestLeakyClient(ExampleTestCase):
    def test_leaky_client_reports_each_refused_login_as_close_wait(self):
        """Every leaked connection is one close_wait leak, in CLOSE_WAIT, with
        the FIN noticed, created at leaky_client.c's socket() in db_connect."""
        server, port = self.db_server(N)
        run = self.run_shim([example("leaky_client"), port, N], options=HELD)
        self.wait_server(server)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertIn("leaky_client: %d of %d logins failed" % (N, N), run.stdout)
        rep = run.report
        self.assertEqual(len(rep.leaks), N, rep.describe())
        line = leaky_socket_line()
        for leak in rep.leaks:
            self.assertLeakFields(leak, kind="close_wait", when="exit", pid=run.pid,
                                  origin="socket", family="inet", type="stream",
                                  tcp_state="CLOSE_WAIT", peer="127.0.0.1:%d" % port)
            self.assertEqual(leak.get("fds"), [leak.get("fd")], rep.describe())
            self.assertRegex(leak.get("local") or "", r"^127\.0\.0\.1:\d+$")
            self.assertIsNotNone(leak.get("fin_age_ms"), "FIN not noticed\n" + rep.describe())
            frame = self.assertFrame(leak, "db_connect", "leaky_client.c", line)
            self.assertTrue(frame["file"].endswith("examples/leaky_client.c"), frame)
        self.assertEqual(len({l["fd"] for l in rep.leaks}), N, "fds not distinct")
        self.assertEqual(len({l["local"] for l in rep.leaks}), N, "local ports not distinct")
        self.assertEqual(len({l["stack_id"] for l in rep.leaks}), 1,
                         "one call site must give one stack id\n" + rep.describe())
        self.assertSummary(rep, pid=run.pid, sockets_opened=N, sockets_closed=0, leaks=N,
                           close_wait=N, open_at_exit=0)

    def test_leaky_client_text_report_headline_names_close_wait_and_db_connect(self):
        """The default text report leads with the CLOSE_WAIT group created in
        db_connect (leaky_client.c:LINE) and ends with the SUMMARY line."""
        server, port = self.db_server(N)
        run = self.run_shim([example("leaky_client"), port, N], options=HELD,
                            json_format=False)
        self.wait_server(server)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertIn("%d of %d logins failed" % (N, N), run.stdout)
        self.assertNotIn("sockleak", run.stdout, "the report belongs on stderr")
        lines = run.stderr.splitlines()
        headlines = [l for l in lines if l.startswith("==%d== sockleak: " % run.pid)]
        self.assertTrue(headlines, "no headline in:\n" + run.stderr)
        head = headlines[0]
        self.assertIn("CLOSE_WAIT", head)
        self.assertIn("db_connect", head)
        self.assertIn("leaky_client.c:%d" % leaky_socket_line(), head)
        self.assertRegex(head, r"\b%d sockets leaked in CLOSE_WAIT\b" % N)
        self.assertRegex(run.stderr, r"#\d+ 0x[0-9a-f]+ in db_connect \S*leaky_client\.c:%d"
                         % leaky_socket_line())
        last = [l for l in lines if l.strip()][-1]
        self.assertTrue(last.startswith("SUMMARY: sockleak: %d sockets leaked (%d in CLOSE_WAIT, "
                                        "0 open at exit)" % (N, N)), last)


class TestLeakyClientDefaults(ExampleTestCase):
    def test_leaky_client_young_close_waits_at_exit_are_closing_not_leaks(self):
        """Default options: the leaked sockets' FINs are 200 ms old at exit,
        younger than grace_ms (30 s), so nothing proves the program would
        not have closed them: no leak event, N closing in the summary, and
        the text run writes nothing."""
        server, port = self.db_server(N)
        run = self.run_shim([example("leaky_client"), port, N])
        self.wait_server(server)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=N, closing=N, still_open=0)


class TestCleanRuns(ExampleTestCase):
    def test_fixed_client_reports_no_leak(self):
        """fixed_client closes on the error path: every socket opened is
        closed and nothing is reported."""
        server, port = self.db_server(N)
        run = self.run_shim([example("fixed_client"), port, N])
        self.wait_server(server)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertIn("fixed_client: %d of %d logins failed" % (N, N), run.stdout)
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=N, sockets_closed=N, close_wait=0,
                           open_at_exit=0)

    def test_fixed_client_text_run_writes_nothing_to_stderr(self):
        """A clean run in the default text format writes nothing at all."""
        server, port = self.db_server(N)
        run = self.run_shim([example("fixed_client"), port, N], json_format=False)
        self.wait_server(server)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stderr, "")

    def test_clean_program_reports_no_leak(self):
        """TCP, UDP and a socketpair, all closed: six sockets opened and
        closed, no leak."""
        run = self.run_shim([prog("clean")])
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=6, sockets_closed=6)

    def test_clean_program_text_run_writes_nothing_to_stderr(self):
        """A clean run in the default text format writes nothing at all."""
        run = self.run_shim([prog("clean")], json_format=False)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stderr, "")
        self.assertEqual(run.stdout, "")

    def test_db_server_under_the_shim_does_not_leak(self):
        """db_server closes each connection and its listener."""
        server, port = self.db_server(N, under_shim=True)
        client = self.run_shim([example("fixed_client"), port, N], preload=False)
        self.assertEqual(client.returncode, 0, client.describe())
        self.wait_server(server)
        rep = self.reports([server.pid])[server.pid]
        self.assertNoLeaks(rep)
        self.assertSummary(rep, sockets_opened=N + 1, sockets_closed=N + 1)


if __name__ == "__main__":
    unittest.main()
