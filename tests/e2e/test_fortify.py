"""_FORTIFY_SOURCE builds call __recv_chk and __read_chk, not recv/read: the
peer's FIN seen through them must still be noticed."""
import subprocess
import unittest

from shimrun import ShimTestCase, prog


class TestFortify(ShimTestCase):
    def test_fortify_program_really_calls_the_chk_functions(self):
        """The premise: the -O2 -D_FORTIFY_SOURCE=2 build imports
        __recv_chk and __read_chk."""
        syms = subprocess.run(["nm", "-D", prog("fortify")], capture_output=True,
                              text=True, check=True).stdout
        self.assertRegex(syms, r"(?m)\bU __recv_chk\b")
        self.assertRegex(syms, r"(?m)\bU __read_chk\b")

    def test_fortify_fin_seen_by_recv_chk_and_read_chk(self):
        """Both sockets read to EOF through the _chk functions, then kept for
        1 s (past grace_ms=500): close_wait leaks whose EOF the read hooks
        saw (eof_read; the watcher is off), FIN age >= 800 ms."""
        run = self.run_shim([prog("fortify"), 16], options={"scan_ms": 0, "grace_ms": 500})
        self.assertEqual(run.returncode, 0, run.describe())
        fds = run.json_lines()[0]
        rep = run.report
        self.assertEqual(len(rep.leaks), 2, rep.describe())
        for name, reader in (("recv_fd", "__recv_chk"), ("read_fd", "__read_chk")):
            leak = rep.leak_for_fd(fds[name])
            self.assertLeakFields(leak, "FIN seen by " + reader, kind="close_wait",
                                  tcp_state="CLOSE_WAIT", family="inet", type="stream")
            self.assertIsNotNone(leak.get("fin_age_ms"),
                                 "%s: the FIN returned by %s was not noticed\n%s"
                                 % (name, reader, rep.describe()))
            self.assertIs(leak.get("eof_read"), True,
                          "%s: %s returned 0 unnoticed\n%s" % (name, reader, rep.describe()))
            self.assertGreaterEqual(leak["fin_age_ms"], 800,
                                    "%s: FIN noticed only at exit, not when %s returned 0\n%s"
                                    % (name, reader, rep.describe()))
            self.assertFrame(leak, "connect_client", "fortify.c")


if __name__ == "__main__":
    unittest.main()
