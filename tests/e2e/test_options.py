"""SOCKLEAK_OPTIONS as a user meets them: exitcode/fail_on, help=1, and bad
options that warn but never stop the program."""
import signal
import unittest

from shimrun import ShimTestCase, example, option_names, prog
from test_examples import ExampleTestCase

N = 3


class TestExitcode(ExampleTestCase):
    def test_options_exitcode_applies_to_a_leaky_run(self):
        """exitcode=23: a run with close_wait leaks (held past grace_ms=0)
        exits 23."""
        server, port = self.db_server(N)
        run = self.run_shim([example("leaky_client"), port, N], options="exitcode=23:grace_ms=0")
        self.assertEqual(run.returncode, 23, run.describe())
        self.assertIn("%d of %d logins failed" % (N, N), run.stdout)

    def test_options_exitcode_leaves_a_clean_run_alone(self):
        """exitcode=23: a run without leaks exits 0."""
        server, port = self.db_server(N)
        run = self.run_shim([example("fixed_client"), port, N], options="exitcode=23")
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stderr, "")

    def test_options_exitcode_ignores_open_at_exit_unless_fail_on_any(self):
        """A socket still open at exit only: by default not a leak, nothing
        written, exit 0; listed with report_open=1, still exit 0; 23 with
        fail_on=any."""
        quiet = self.run_shim([prog("dup"), "dup"], options="exitcode=23")
        self.assertEqual(quiet.returncode, 0, quiet.describe())
        self.assertEqual(quiet.stderr, "", "a socket still open at exit is not a leak")
        default = self.run_shim([prog("dup"), "dup"], options="exitcode=23:report_open=1")
        self.assertEqual(default.returncode, 0, default.describe())
        self.assertIn("sockleak", default.stderr, "report_open=1 lists the open socket")
        any_kind = self.run_shim([prog("dup"), "dup"],
                                 options="exitcode=23:fail_on=any:report_open=1")
        self.assertEqual(any_kind.returncode, 23, any_kind.describe())


class TestHelpAndBadOptions(ExampleTestCase):
    def test_options_help_lists_every_option_and_runs_on(self):
        """help=1 prints every key of shim/options.inc, then the program runs."""
        run = self.run_shim([prog("clean")], options="help=1")
        self.assertEqual(run.returncode, 0, run.describe())
        out = run.stdout + run.stderr
        names = option_names()
        self.assertGreaterEqual(len(names), 10, "options.inc not parsed")
        missing = [n for n in names if n not in out]
        self.assertEqual(missing, [], "help=1 output lacks these options:\n" + out)

    def test_options_bad_keys_and_values_warn_and_keep_defaults(self):
        """bogus=1:format=xml warns about both (naming sockleak and the
        option), the program runs normally, and the report is text."""
        server, port = self.db_server(N)
        run = self.run_shim([example("leaky_client"), port, N], options="bogus=1:format=xml:grace_ms=0")
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertIn("leaky_client: %d of %d logins failed" % (N, N), run.stdout)
        lines = run.stderr.splitlines()
        for option in ("bogus", "format"):
            self.assertTrue([l for l in lines if "sockleak" in l and option in l],
                            "no warning naming sockleak and %s:\n%s" % (option, run.stderr))
        self.assertRegex(run.stderr, r"(?m)^==%d== sockleak: .*CLOSE_WAIT" % run.pid)
        self.assertRegex(run.stderr, r"(?m)^SUMMARY: sockleak: ")
        self.assertNotIn('"event"', run.stderr, "format=xml must fall back to text")


class TestOptionRanges(ExampleTestCase):
    def test_options_exitcode_out_of_range_is_refused_with_its_range(self):
        """exitcode=256 (an exit status has 8 bits: it would exit 0) is
        refused with one line naming the option and 0-255; the program runs
        on with the default."""
        run = self.run_shim([prog("dup"), "dup"], options="exitcode=256")
        self.assertEqual(run.returncode, 0, run.describe())
        warnings = [l for l in run.stderr.splitlines() if "'exitcode'" in l]
        self.assertEqual(len(warnings), 1, run.stderr)
        self.assertIn("from 0 to 255", warnings[0])

    def test_options_snapshot_signal_sigsegv_is_refused_so_a_crash_still_kills(self):
        """snapshot_signal=SIGSEGV is refused: a program that then writes
        through a bad pointer dies of SIGSEGV instead of looping."""
        run = self.run_shim([prog("exit_signal"), "segv"],
                            options="snapshot_signal=SIGSEGV", timeout=20)
        self.assertEqual(run.returncode, -signal.SIGSEGV, run.describe())
        self.assertEqual(len([l for l in run.stderr.splitlines()
                              if "'snapshot_signal'" in l]), 1, run.stderr)


if __name__ == "__main__":
    unittest.main()
