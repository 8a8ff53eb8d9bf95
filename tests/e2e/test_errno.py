"""The shim never changes what a call returns or what errno says: every
wrapped function, on failing and succeeding paths, gives the same result
and errno with the shim as without it."""
import unittest

from shimrun import ShimTestCase, prog


class TestResultsAndErrno(ShimTestCase):
    def test_every_wrapper_returns_the_real_result_and_errno(self):
        """errno_check prints each call's result and errno; the two runs
        must agree line by line (and the calls must really have failed)."""
        bare = self.run_shim([prog("errno_check")], preload=False)
        shim = self.run_shim([prog("errno_check")])
        self.assertEqual(bare.returncode, 0, bare.describe())
        self.assertEqual(shim.returncode, 0, shim.describe())
        lines = bare.stdout.splitlines()
        self.assertIn("connect refused", "\n".join(lines))
        self.assertTrue(any("Connection refused" in l for l in lines), bare.stdout)
        self.assertTrue(any(l.startswith("read eof") and " 0 unchanged" in l for l in lines),
                        bare.stdout)
        self.assertEqual(shim.stdout.splitlines(), lines)


if __name__ == "__main__":
    unittest.main()
