"""Process lifecycle: fork gives each process its own report, _exit/_Exit
still write it, other libraries' destructors run before it, and sockets a
process inherits are left out unless report_inherited=1."""
import socket
import subprocess
import unittest

from shimrun import LIST_ALL, ShimTestCase, prog


class TestFork(ShimTestCase):
    default_options = LIST_ALL

    def test_fork_parent_and_child_each_report_their_own_sockets(self):
        """The child's leak is only in the child's report; the child closing
        its inherited copy does not touch the parent's leak."""
        run = self.run_shim([prog("fork")])
        self.assertEqual(run.returncode, 0, run.describe())
        out = {l["who"]: l for l in run.json_lines()}
        parent, child = out["parent"], out["child"]
        self.assertEqual(parent["pid"], run.pid)
        reports = self.reports([parent["pid"], child["pid"]])
        self.assertEqual(sorted(reports), sorted([parent["pid"], child["pid"]]),
                         "one report per process")
        prep, crep = reports[parent["pid"]], reports[child["pid"]]

        self.assertEqual(len(prep.leaks), 1, prep.describe())
        self.assertLeakFields(prep.leaks[0], pid=parent["pid"], fd=parent["fd"],
                              family="inet", type="dgram", kind="open_at_exit")
        self.assertFrame(prep.leaks[0], "parent_socket", "fork.c")
        self.assertSummary(prep, pid=parent["pid"], leaks=1)

        self.assertEqual(len(crep.leaks), 1, crep.describe())
        self.assertLeakFields(crep.leaks[0], pid=child["pid"], fd=child["fd"],
                              family="inet6", type="dgram", kind="open_at_exit")
        self.assertFrame(crep.leaks[0], "child_socket", "fork.c")
        self.assertSummary(crep, pid=child["pid"], leaks=1)


class TestExitPaths(ShimTestCase):
    default_options = LIST_ALL

    MODES = ("_exit", "_Exit", "exit", "return")

    def run_exit(self, mode):
        self.use_subdir(mode)
        run = self.run_shim([prog("exit"), mode])
        self.assertEqual(run.returncode, 7, run.describe())
        return run

    def test_exit_paths_all_write_the_report(self):
        """_exit, _Exit, exit and return from main: the report (the leak and
        the summary) is written and the exit status is kept."""
        for mode in self.MODES:
            with self.subTest(mode=mode):
                run = self.run_exit(mode)
                fd = run.json_lines()[0]["fd"]
                rep = run.report
                self.assertEqual(len(rep.leaks), 1, rep.describe())
                self.assertLeakFields(rep.leaks[0], fd=fd, kind="open_at_exit", type="dgram")
                self.assertFrame(rep.leaks[0], "leak_socket", "exit.c")
                self.assertSummary(rep, leaks=1, sockets_opened=1, sockets_closed=0)

    def test_exit_status_is_in_the_summary(self):
        """The summary's exit_status is the status the program exited with."""
        for mode in self.MODES:
            with self.subTest(mode=mode):
                run = self.run_exit(mode)
                self.assertSummary(run.report, exit_status=7)


class TestConstructors(ShimTestCase):
    default_options = LIST_ALL

    def test_socket_from_a_library_constructor_before_the_shims_is_recorded(self):
        """libctor.so's constructor runs before the shim's: its socket()
        starts the shim from the hook and is recorded with its stack."""
        run = self.run_shim([prog("ctor_main")])
        self.assertEqual(run.returncode, 0, run.describe())
        fd = run.json_lines()[0]["fd"]
        self.assertGreaterEqual(fd, 0, run.stdout)
        rep = run.report
        self.assertEqual(len(rep.leaks), 1, rep.describe())
        self.assertLeakFields(rep.leaks[0], fd=fd, origin="socket", kind="open_at_exit",
                              type="dgram")
        self.assertFrame(rep.leaks[0], "open_at_load", "ctor_lib.c")
        self.assertSummary(rep, sockets_opened=1, leaks=1)


class TestDestructors(ShimTestCase):
    default_options = LIST_ALL

    def test_destructor_closing_a_socket_is_not_a_leak(self):
        """libdtor.so's destructor closes the socket after main returns: the
        exit report must come after it and not list the socket."""
        run = self.run_shim([prog("dtor_main"), "adopt"])
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=2, sockets_closed=2)

    def test_destructor_control_without_adopt_is_a_close_wait_leak(self):
        """The control: nobody closes the socket, so it is reported."""
        run = self.run_shim([prog("dtor_main"), "keep"])
        self.assertEqual(run.returncode, 0, run.describe())
        fd = run.json_lines()[0]["fd"]
        rep = run.report
        self.assertEqual(len(rep.leaks), 1, rep.describe())
        self.assertLeakFields(rep.leaks[0], fd=fd, kind="close_wait", family="unix",
                              origin="socketpair")


class TestInherited(ShimTestCase):
    default_options = LIST_ALL

    def run_with_socket_stdio(self, options=None):
        """Run stdio_echo with one end of a socketpair as its stdin and
        stdout; our end stays open until it has exited."""
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        with theirs:
            p = self.start([prog("stdio_echo")], options=options, stdin=theirs.fileno(),
                           stdout=theirs.fileno(), stderr=subprocess.PIPE)
        ours.sendall(b"hello over a socket\n")
        ours.settimeout(30)
        echoed = b""
        while not echoed.endswith(b"\n"):
            chunk = ours.recv(256)
            if not chunk:
                break
            echoed += chunk
        p.wait(60)
        err = p.stderr.read().decode()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(echoed, b"hello over a socket\n")
        return p.pid, self.reports([p.pid])[p.pid]

    def test_inherited_stdio_socket_is_not_reported_by_default(self):
        """stdin/stdout are an inherited socket: not a leak by default."""
        pid, rep = self.run_with_socket_stdio()
        self.assertNoLeaks(rep)

    def test_inherited_stdio_socket_is_reported_with_report_inherited(self):
        """report_inherited=1: one leak, origin inherited, fds [0, 1]."""
        pid, rep = self.run_with_socket_stdio({"report_inherited": 1})
        self.assertEqual(len(rep.leaks), 1, rep.describe())
        self.assertLeakFields(rep.leaks[0], origin="inherited", family="unix",
                              type="stream", kind="open_at_exit", fd=0, fds=[0, 1])
        self.assertSummary(rep, leaks=1, inherited=1)


if __name__ == "__main__":
    unittest.main()
