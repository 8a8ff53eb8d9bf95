#!/usr/bin/env python3
"""Run the end-to-end tests (tests/e2e/test_*.py); the last line printed is
"e2e: N passed, N failed". Arguments (or E2E_FILTER) are test name patterns,
as in unittest's -k: "fork" runs every test whose name contains fork.

    python3 tests/e2e/run.py [PATTERN ...]
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class CountingResult(unittest.TextTestResult):
    """Counts tests, not failure records: a test with several failing
    subtests is one failed test; an error outside any test is one failure."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.failed_ids = set()
        self.skipped_ids = set()
        self.outside_errors = 0

    def _failed(self, test):
        if isinstance(test, unittest.TestCase):
            self.failed_ids.add(test.id())
        else:   # setUpClass/setUpModule errors arrive as _ErrorHolder
            self.outside_errors += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._failed(test)

    def addError(self, test, err):
        super().addError(test, err)
        self._failed(test)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._failed(test)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._failed(test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.skipped_ids.add(test.id())


def main(argv):
    patterns = argv or os.environ.get("E2E_FILTER", "").split()
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in patterns]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=CountingResult)
    result = runner.run(suite)
    failed = len(result.failed_ids) + result.outside_errors
    skipped = len(result.skipped_ids - result.failed_ids)
    passed = result.testsRun - len(result.failed_ids) - skipped
    sys.stderr.flush()
    print("e2e: %d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
