"""Many threads creating, duplicating and closing sockets at once."""
import unittest

from shimrun import ShimTestCase, prog


class TestThreads(ShimTestCase):
    def test_threads_hammering_socket_dup2_accept_close_leave_no_leak(self):
        """16 threads of socket/connect/accept/accept4/dup/dup2/close for a
        second, everything released: no leak, and the summary counts every
        socket the program made as opened and as closed."""
        run = self.run_shim([prog("threads")], timeout=180)
        self.assertEqual(run.returncode, 0, run.describe())
        opened = run.json_lines()[0]["opened"]
        self.assertGreater(opened, 16 * 3)
        self.assertNoLeaks(run.report)
        self.assertSummary(run.report, sockets_opened=opened, sockets_closed=opened)


if __name__ == "__main__":
    unittest.main()
