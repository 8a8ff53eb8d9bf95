"""Sockets and their fds: dup/dup2/dup3/F_DUPFD give one socket several fds,
close_range/closefrom/fclose close them, SCM_RIGHTS hands them over, and
each kind of socket is reported with the right kind, family and state."""
import unittest

from shimrun import LIST_ALL, ShimTestCase, prog


class TestDup(ShimTestCase):
    default_options = LIST_ALL

    def run_dup(self, mode):
        run = self.run_shim([prog("dup"), mode])
        self.assertEqual(run.returncode, 0, run.describe())
        return run, run.json_lines()[0]

    def test_dup_two_fds_are_one_leak_listing_both(self):
        """dup, dup2, dup3, F_DUPFD, F_DUPFD_CLOEXEC: one leak, fds [a, b]."""
        for mode in ("dup", "dup2", "dup3", "fcntl_dupfd", "fcntl_dupfd_cloexec"):
            with self.subTest(mode=mode):
                self.use_subdir(mode)
                run, fds = self.run_dup(mode)
                rep = run.report
                self.assertEqual(len(rep.leaks), 1, rep.describe())
                self.assertLeakFields(rep.leaks[0], kind="open_at_exit", family="inet",
                                      type="dgram", origin="socket",
                                      fd=min(fds["fds"]), fds=sorted(fds["fds"]))
                self.assertFrame(rep.leaks[0], "make_udp", "dup.c")
                self.assertSummary(rep, leaks=1, sockets_opened=1, sockets_closed=0)

    def test_dup_closing_the_original_keeps_the_dup_leaked(self):
        """dup then close(original): still one leak, under the dup's fd."""
        run, fds = self.run_dup("close_orig")
        rep = run.report
        self.assertEqual(len(rep.leaks), 1, rep.describe())
        self.assertLeakFields(rep.leaks[0], kind="open_at_exit", type="dgram",
                              fd=fds["kept"], fds=[fds["kept"]])

    def test_dup_closing_every_fd_is_no_leak(self):
        """dup and F_DUPFD, all three fds closed: closed, no leak."""
        run, fds = self.run_dup("close_all")
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=1, sockets_closed=1)

    def test_dup2_onto_a_sockets_last_fd_releases_it(self):
        """dup2(udp, tcp): the TCP socket lost its last fd (closed, not a
        leak); the UDP socket is one leak with both fds."""
        run, fds = self.run_dup("dup2_over_last")
        rep = run.report
        self.assertEqual(len(rep.leaks), 1, rep.describe())
        self.assertLeakFields(rep.leaks[0], type="dgram", fds=sorted(fds["udp_fds"]))
        self.assertSummary(rep, leaks=1, sockets_opened=2, sockets_closed=1)

    def test_dup2_onto_a_shared_fd_keeps_the_other_reference(self):
        """dup2(udp, tcp) when the TCP socket has a dup: both sockets leak,
        the TCP one under its dup only."""
        run, fds = self.run_dup("dup2_over_shared")
        rep = run.report
        self.assertEqual(len(rep.leaks), 2, rep.describe())
        udp = rep.leak_for_fd(fds["udp_fds"][0])
        tcp = rep.leak_for_fd(fds["tcp_fds"][0])
        self.assertLeakFields(udp, type="dgram", fds=sorted(fds["udp_fds"]))
        self.assertLeakFields(tcp, type="stream", fds=fds["tcp_fds"])
        self.assertFrame(tcp, "make_tcp", "dup.c")

    def test_fclose_of_fdopen_closes_the_socket(self):
        """fclose(fdopen(s)) closes s without close(): no leak."""
        run, fds = self.run_dup("fclose")
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=1, sockets_closed=1)


class TestCloseRangeAndClosefrom(ShimTestCase):
    default_options = LIST_ALL

    def run_closefd(self, mode):
        run = self.run_shim([prog("closefd"), mode])
        self.assertEqual(run.returncode, 0, run.describe())
        return run, run.json_lines()[0]

    def assertLeakedExactly(self, run, fds):
        rep = run.report
        self.assertEqual(sorted(l.get("fd") for l in rep.leaks), sorted(fds), rep.describe())
        for leak in rep.leaks:
            self.assertLeakFields(leak, kind="open_at_exit", type="dgram", fds=[leak["fd"]])
            self.assertFrame(leak, "make_socket", "closefd.c")
        self.assertSummary(rep, leaks=len(fds))

    def test_close_range_closed_sockets_are_not_reported(self):
        """close_range(b, d, 0) of five sockets: only the first and last leak."""
        run, fds = self.run_closefd("close_range")
        self.assertLeakedExactly(run, fds["kept"])
        self.assertSummary(run.report, sockets_opened=5, sockets_closed=3)

    def test_close_range_cloexec_closes_nothing(self):
        """CLOSE_RANGE_CLOEXEC only sets close-on-exec: both sockets leak."""
        run, fds = self.run_closefd("close_range_cloexec")
        self.assertLeakedExactly(run, fds["kept"])

    def test_closefrom_closed_sockets_are_not_reported(self):
        """closefrom(second of three): only the first leaks."""
        run, fds = self.run_closefd("closefrom")
        self.assertLeakedExactly(run, fds["kept"])
        self.assertSummary(run.report, sockets_opened=3, sockets_closed=2)

    def test_closefrom_3_still_gets_the_report_written(self):
        """closefrom(3) closes every fd the shim may hold: the report is
        still written, with only the socket made afterwards."""
        run, fds = self.run_closefd("closefrom3")
        self.assertLeakedExactly(run, fds["kept"])
        self.assertSummary(run.report, sockets_opened=3, sockets_closed=2)

    def test_close_range_3_to_max_still_gets_the_report_written(self):
        """close_range(3, ~0U, 0): the same as closefrom(3)."""
        run, fds = self.run_closefd("close_range_all")
        self.assertLeakedExactly(run, fds["kept"])
        self.assertSummary(run.report, sockets_opened=3, sockets_closed=2)

    def test_close_range_that_fails_changes_nothing(self):
        """close_range with unknown flags or first > last fails with EINVAL
        and closes nothing: every socket stays tracked and is reported, and
        the shim's own fds survive a failed close_range(3, ~0U, bad flags)."""
        run, fds = self.run_closefd("close_range_bad")
        self.assertLeakedExactly(run, fds["kept"])
        self.assertSummary(run.report, sockets_opened=3, sockets_closed=0)


class TestKinds(ShimTestCase):
    default_options = LIST_ALL

    def test_kinds_each_socket_kind_is_reported_as_such(self):
        """A socketpair end whose peer closed is close_wait (unix); listeners
        are open_at_exit in LISTEN (inet, inet6); UDP is open_at_exit with no
        TCP state."""
        run = self.run_shim([prog("kinds")])
        self.assertEqual(run.returncode, 0, run.describe())
        fds = run.json_lines()[0]
        rep = run.report
        self.assertEqual(len(rep.leaks), 4, rep.describe())
        pair = rep.leak_for_fd(fds["pair_fd"])
        self.assertLeakFields(pair, kind="close_wait", family="unix", type="stream",
                              origin="socketpair", tcp_state=None, fds=[fds["pair_fd"]])
        self.assertFrame(pair, "make_pair_end", "kinds.c")
        listener = rep.leak_for_fd(fds["listen_fd"])
        self.assertLeakFields(listener, kind="open_at_exit", family="inet", type="stream",
                              protocol=6, origin="socket", tcp_state="LISTEN",
                              local="127.0.0.1:%d" % fds["port"], peer=None,
                              fin_age_ms=None)
        self.assertFrame(listener, "make_listener", "kinds.c")
        listener6 = rep.leak_for_fd(fds["listen6_fd"])
        self.assertLeakFields(listener6, kind="open_at_exit", family="inet6", type="stream",
                              tcp_state="LISTEN", local="[::1]:%d" % fds["port6"])
        udp = rep.leak_for_fd(fds["udp_fd"])
        self.assertLeakFields(udp, kind="open_at_exit", family="inet", type="dgram",
                              tcp_state=None, local="127.0.0.1:%d" % fds["udp_port"])
        self.assertFrame(udp, "make_udp", "kinds.c")
        self.assertSummary(rep, leaks=4, close_wait=1, open_at_exit=3)

    def test_kinds_report_open_0_leaves_only_close_wait(self):
        """report_open=0: only the close_wait socketpair end is reported."""
        run = self.run_shim([prog("kinds")], options={"report_open": 0})
        fds = run.json_lines()[0]
        rep = run.report
        self.assertEqual([l.get("fd") for l in rep.leaks], [fds["pair_fd"]], rep.describe())
        self.assertSummary(rep, leaks=1, close_wait=1, open_at_exit=0)


class TestScmRights(ShimTestCase):
    default_options = LIST_ALL

    def test_scm_rights_received_socket_is_counted_not_reported_by_default(self):
        """A socket received over SCM_RIGHTS and open at exit belongs to its
        sender's design (nginx's master hands workers their channels): no
        leak event, counted as received in the summary."""
        run = self.run_shim([prog("scm_rights")], options={"report_received": 0})
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, received=1)

    def test_scm_rights_received_socket_has_origin_received(self):
        """report_received=1: the received socket is reported as kind
        received, with origin received and the stack that received it."""
        run = self.run_shim([prog("scm_rights")], options={"report_received": 1})
        self.assertEqual(run.returncode, 0, run.describe())
        fds = run.json_lines()[0]
        rep = run.report
        self.assertEqual(len(rep.leaks), 1, rep.describe())
        self.assertLeakFields(rep.leaks[0], kind="received", origin="received",
                              family="inet", type="dgram", fd=fds["received_fd"],
                              fds=[fds["received_fd"]])
        self.assertFrame(rep.leaks[0], "receive_fd", "scm_rights.c")
        self.assertSummary(rep, received=0, received_reported=1, leaks=1)

    def test_scm_rights_report_received_lists_it_without_report_open(self):
        """Default options but report_received=1: the received socket held
        at exit is listed (kind received); the other still-open sockets
        stay counted only."""
        run = self.run_shim([prog("scm_rights")], options={"report_received": 1,
                                                           "report_open": 0})
        self.assertEqual(run.returncode, 0, run.describe())
        fds = run.json_lines()[0]
        rep = run.report
        self.assertEqual([(e["kind"], e["fd"]) for e in rep.leaks],
                         [("received", fds["received_fd"])], rep.describe())

    def test_scm_rights_fail_on_received_sets_the_exit_status(self):
        """exitcode=23:fail_on=received: the program keeps a received socket,
        so it exits 23 (and the socket is listed without report_received);
        with the default fail_on it exits 0."""
        opts = {"report_open": 0, "exitcode": 23}
        failing = self.run_shim([prog("scm_rights")], options=dict(opts, fail_on="received"))
        self.assertEqual(failing.returncode, 23, failing.describe())
        self.assertEqual([e["kind"] for e in failing.report.leaks], ["received"],
                         failing.report.describe())
        passing = self.run_shim([prog("scm_rights")], options=opts)
        self.assertEqual(passing.returncode, 0, passing.describe())
        self.assertNoLeaks(passing.report)
        self.assertSummary(passing.report, received=1)


if __name__ == "__main__":
    unittest.main()
