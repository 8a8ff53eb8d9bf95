"""The false positives real servers used to get, one class at a time:
connections closing at shutdown (FIN age from the kernel), closes the shim
cannot see (syscall(SYS_close), the syscall instruction) with the number
reused, fork copies, and sockets still open at exit. (Received sockets:
test_fds.TestScmRights.)"""
import json
import time

from shimrun import EXIT_LEAKS, ClosingServer, HoldingServer, ShimTestCase, prog


class TestClosingAtExit(ShimTestCase):
    def run_idle(self, hold_ms, grace_ms):
        """live_idle never reads: only the kernel knows when the FIN came.
        The watcher is off, so nothing else can have noticed it."""
        with ClosingServer() as server:
            run = self.run_shim([prog("live_idle"), server.port, hold_ms],
                                options={"grace_ms": grace_ms, "scan_ms": 0})
        self.assertEqual(run.returncode, 0, run.describe())
        return run, run.json_lines()[0]["fd"]

    def test_closing_young_fin_at_exit_is_counted_not_reported(self):
        """Peer's FIN 100 ms old at exit, grace_ms=1500: closing, no leak."""
        run, _ = self.run_idle(100, 1500)
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, closing=1, close_wait=0)

    def test_closing_fin_older_than_grace_is_a_leak_aged_by_the_kernel(self):
        """Peer's FIN ~1000 ms old at exit, grace_ms=500: a close_wait leak
        whose fin_age_ms comes from the kernel (the program never read the
        EOF, and the watcher was off)."""
        run, fd = self.run_idle(1000, 500)
        leak = run.report.leak_for_fd(fd)
        self.assertLeakFields(leak, kind="close_wait", tcp_state="CLOSE_WAIT", eof_read=False)
        self.assertGreaterEqual(leak["fin_age_ms"], 500, run.report.describe())
        self.assertLess(leak["fin_age_ms"], 5000, run.report.describe())
        self.assertSummary(run.report, closing=0, close_wait=1, leaks=1)


class TestClosesOutsideTheShim(ShimTestCase):
    def run_raw(self, mode, options=None, hold_ms=100, after_ms=0):
        with ClosingServer() as server:
            # the watcher off: these are about the exit report's bookkeeping
            opts = {"grace_ms": 0, "report_open": 1, "scan_ms": 0}
            opts.update(options or {})
            run = self.run_shim([prog("rawclose"), mode, server.port, hold_ms, after_ms],
                                options=opts)
        self.assertEqual(run.returncode, 0, run.describe())
        return run, run.json_lines()[0]

    def test_raw_syscall_close_is_seen(self):
        """syscall(SYS_close, fd), as libuv closes: the socket is closed, not
        leaked, and not counted as closed outside the shim."""
        run, _ = self.run_raw("syscall")
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=1, sockets_closed=1, closed_untracked=0)

    def test_raw_close_with_reused_number_reports_only_the_new_socket(self):
        """The syscall instruction closes a CLOSE_WAIT socket (Go's way) and
        a UDP socket() gets its number: the old one is closed outside the
        shim (counted), never a leak; the new one is what the number holds."""
        run, fds = self.run_raw("raw")
        rep = run.report
        self.assertEqual(rep.leaks_of("close_wait"), [], rep.describe())
        leak = rep.leak_for_fd(fds["reused_fd"])
        self.assertLeakFields(leak, kind="open_at_exit", type="dgram", family="inet")
        self.assertSummary(rep, sockets_opened=2, sockets_closed=1, closed_untracked=1,
                           close_wait=0)

    def test_raw_close_of_a_free_number_is_not_reported(self):
        """The number stays free: the identity check at exit drops it."""
        run, _ = self.run_raw("gone")
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=1, sockets_closed=1, closed_untracked=1)

    def test_raw_close_after_a_live_report_is_closed_late(self):
        """Reported live after grace_ms=300 (default scan), then closed with the syscall
        instruction and its number reused: closed_late (untracked) follows,
        and the exit report does not list the old socket."""
        # the watcher finds the CLOSE_WAIT at its next scan (1 s), then waits
        # grace_ms: 2.5 s leaves room for a loaded machine
        run, fds = self.run_raw("raw", {"grace_ms": 300, "report_open": 0, "scan_ms": 1000},
                                hold_ms=2500, after_ms=100)
        rep = run.report
        live = [e for e in rep.leaks if e.get("when") == "live"]
        self.assertEqual(len(live), 1, rep.describe())
        self.assertEqual(live[0].get("fd"), fds["fd"])
        late = [e for e in rep.events if e.get("event") == "closed_late"]
        self.assertEqual(len(late), 1, rep.describe())
        self.assertEqual((late[0].get("fd"), late[0].get("untracked")), (fds["fd"], True))
        self.assertEqual([e for e in rep.leaks if e.get("when") == "exit"], [], rep.describe())
        self.assertSummary(rep, closed_untracked=1)


class TestForkCopies(ShimTestCase):
    def run_fork(self, who):
        with HoldingServer() as server:
            run = self.run_shim([prog("forkcopy"), who, server.port])
            self.assertEqual(run.returncode, 0, run.describe())
            child = run.json_lines()[0]["child"]
            reports = self.reports([run.pid, child])
        return reports[run.pid], reports[child]

    def test_fork_child_closing_its_copy_is_not_closed_first(self):
        """The child closes its copy; the connection lives on in the parent:
        not "closed here first" in the child, nothing reported in either."""
        parent, child = self.run_fork("child")
        for rep in (parent, child):
            self.assertNoLeaks(rep)
            self.assertSummary(rep, closed_first=0)
            self.assertEqual([e for e in rep.events if e["event"] not in ("summary",)], [],
                             rep.describe())

    def test_fork_parent_closing_its_copy_is_not_closed_first(self):
        """A fork server closes the connection it handed to its child: not
        closed first in the parent; the child reports nothing either."""
        parent, child = self.run_fork("parent")
        for rep in (parent, child):
            self.assertNoLeaks(rep)
            self.assertSummary(rep, closed_first=0)


class TestVforkChildren(ShimTestCase):
    """A vfork child runs in the parent's memory until it execs or exits;
    its closes (every fd from 3 up, as before an exec) must leave the
    parent's records alone: the parent's leak is still reported."""

    def exit_leak(self, run, fd):
        hits = [l for l in run.report.leaks
                if l.get("when") == "exit" and fd in (l.get("fds") or [l.get("fd")])]
        self.assertEqual(len(hits), 1, run.report.describe())
        return hits[0]

    def test_vfork_child_closing_every_fd_keeps_the_parents_leak(self):
        for mode in ("exec", "exit"):
            with self.subTest(mode=mode):
                self.use_subdir(mode)
                with ClosingServer() as server:
                    run = self.run_shim([prog("vforkclose"), server.port, 3, mode],
                                        options={"grace_ms": 0})
                self.assertEqual(run.returncode, 0, run.describe())
                out = run.json_lines()[0]
                self.assertEqual(out["status"], 0, run.describe())
                leak = self.exit_leak(run, out["fd"])
                self.assertLeakFields(leak, kind="close_wait", tcp_state="CLOSE_WAIT")
                self.assertFrame(leak, "main", "vforkclose.c")
                self.assertSummary(run.report, leaks=1, sockets_opened=1, sockets_closed=0,
                                   closed_untracked=0)

    def test_python_subprocess_keeps_the_parents_leak(self):
        """python3's subprocess (vfork, close_fds=True) three times while a
        connection it leaked sits in CLOSE_WAIT: one leak, at exit."""
        code = ("import socket, subprocess, sys, time\n"
                "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
                "s.sendall(b'login\\n')\n"
                "for _ in range(3):\n"
                "    subprocess.run(['/bin/true'], check=True)\n"
                "time.sleep(0.2)\n"
                "print('{\"fd\":%d}' % s.detach(), flush=True)\n")  # never closed
        with ClosingServer() as server:
            run = self.run_shim(["python3", "-c", code, server.port], options={"grace_ms": 0})
        self.assertEqual(run.returncode, 0, run.describe())
        leak = self.exit_leak(run, run.json_lines()[0]["fd"])
        self.assertLeakFields(leak, kind="close_wait", tcp_state="CLOSE_WAIT")
        self.assertSummary(run.report, leaks=1, closed_untracked=0)


class TestStillOpenAtExit(ShimTestCase):
    def test_still_open_sockets_are_counted_per_state_and_site(self):
        """kinds leaves two TCP listeners, a UDP socket and a socketpair end
        whose peer closed: with default options no leak event; the summary
        counts 3 still open by state and creation site, and 1 closing."""
        run = self.run_shim([prog("kinds")])
        self.assertEqual(run.returncode, 0, run.describe())
        rep = run.report
        self.assertNoLeaks(rep)
        self.assertSummary(rep, still_open=3, closing=1,
                           still_open_states={"LISTEN": 2, "inet/dgram": 1})
        sites = rep.summary["still_open_sites"]
        self.assertEqual(sorted(s["count"] for s in sites), [1, 1, 1], rep.describe())
        for s in sites:
            self.assertTrue(s["module"].endswith("/kinds"), s)
            self.assertRegex(s["offset"], r"^0x[0-9a-f]+$")

    def test_still_open_text_run_writes_nothing_and_verbose_says_why(self):
        """Text format: nothing by default; verbose=1 gives one SUMMARY line
        that counts them as still open, not leaks."""
        quiet = self.run_shim([prog("kinds")], json_format=False)
        self.assertEqual(quiet.stderr, "")
        verbose = self.run_shim([prog("kinds")], options={"verbose": 1}, json_format=False)
        self.assertRegex(verbose.stderr, r"SUMMARY: sockleak: 0 sockets leaked .*; 3 still open "
                                         r"at exit, not leaks \(2 LISTEN, 1 inet/dgram")


class TestManySocketsAtExit(ShimTestCase):
    """The exit path sorts sockets with one poll() and asks the kernel about
    a socket one by one only where that leaves doubt (issue 9: its cost
    grows with the leaks, not the connections)."""

    STILL_OPEN = {"ESTABLISHED": 81, "FIN_WAIT2": 1, "LISTEN": 1, "CLOSE": 1,
                  "inet/dgram": 40, "unix/stream": 80}

    def run_mix(self, how, *extra):
        with HoldingServer() as server:
            run = self.run_shim([prog("exitmix"), 40, server.port, how] + list(extra),
                                options=EXIT_LEAKS)
        self.assertEqual(run.returncode, 0, run.describe())
        return run, run.json_lines()[0]

    def check_mix(self, run, fds):
        rep = run.report
        self.assertEqual(sorted(e["fd"] for e in rep.leaks),
                         sorted([fds["cw_fd"], fds["unix_fd"]]), rep.describe())
        self.assertLeakFields(rep.leak_for_fd(fds["cw_fd"]), kind="close_wait",
                              tcp_state="CLOSE_WAIT", family="inet")
        self.assertLeakFields(rep.leak_for_fd(fds["unix_fd"]), kind="close_wait",
                              family="unix")
        self.assertSummary(rep, leaks=2, closing=0, closed_untracked=1, still_open=204,
                           still_open_states=self.STILL_OPEN)

    def test_exit_sorts_many_sockets_of_every_kind_and_state(self):
        """40 of each kind (idle TCP pairs, UDP, Unix pairs) and one each of
        LISTEN, FIN_WAIT2, a full send buffer, a reset, a raw close, a TCP
        and a Unix CLOSE_WAIT: exit() and _exit() report exactly the two
        leaks, and count every other socket under its real state."""
        for how in ("exit", "_exit"):
            with self.subTest(how=how):
                self.check_mix(*self.run_mix(how))

    def test_exit_does_not_ask_idle_connections_one_by_one(self):
        """The same, but a seccomp filter makes fstat, getsockopt,
        getsockname and getpeername fail on the 80 idle connection fds
        just before exit: the report is the same (they were sorted by the
        poll alone), not 80 sockets "closed outside the shim"."""
        for how in ("exit", "_exit"):
            with self.subTest(how=how):
                self.check_mix(*self.run_mix(how, "seal"))


if __name__ == "__main__":
    import unittest
    unittest.main()
