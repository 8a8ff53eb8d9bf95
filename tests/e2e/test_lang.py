"""Language-level creation stacks: Python, Java and node programs under the
shim get their own frames (function, file, line) at the top of each leak's
stack, before the runtime's native frames; clean programs report nothing."""
import http.server
import os
import shutil
import subprocess
import sys
import threading
import unittest

from shimrun import EXIT_LEAKS, LIST_ALL, ROOT, ClosingServer, ShimTestCase, example, format_leak, source_line
from test_live import LiveTestCase, is_live_leak, live_options

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")


def pythons():
    """Debian's python3 and the one running the tests (pyenv's, here), once each."""
    found = []
    for p in ("/usr/bin/python3", sys.executable):
        if p and os.path.exists(p) and os.path.realpath(p) not in [os.path.realpath(q) for q in found]:
            found.append(p)
    return found


class LangTestCase(LiveTestCase):
    # short programs that leak and exit: their CLOSE_WAITs are leaks at
    # exit however young (the live tests here give their own options)
    default_options = EXIT_LEAKS

    def assertLangFrame(self, leak, lang, function, file_basename, line):
        """The stack starts with language frames (none after a native one)
        and the innermost one outside the runtime's library is
        function at file_basename:line."""
        stack = leak.get("stack") or []
        langs = [f for f in stack if f.get("lang")]
        self.assertTrue(langs, "no %s frame:\n%s" % (lang, format_leak(leak)))
        self.assertEqual(stack[:len(langs)], langs,
                         "language frames must come first:\n" + format_leak(leak))
        for f in langs:
            self.assertEqual(f["lang"], lang, format_leak(leak))
            self.assertIsNone(f.get("pc"), format_leak(leak))
        own = [f for f in langs if os.path.basename(f.get("file") or "") == file_basename]
        self.assertTrue(own, "no frame in %s:\n%s" % (file_basename, format_leak(leak)))
        self.assertEqual((own[0].get("function"), own[0].get("line")), (function, line),
                         format_leak(leak))
        return own[0]


class TestPythonFrames(LangTestCase):
    def test_lang_python_module_function_live_and_exit(self):
        """A module function that keeps two connections the server hung up
        on: reported live and at exit, both with fetch_quote at its line in
        py_module_leak.py, the two sharing one stack_id."""
        line = source_line("tests/e2e/scripts/py_module_leak.py", "# LEAK-SITE")
        for py in pythons():
            with self.subTest(python=py), ClosingServer(reply=b"ACME 42\n") as server:
                self.use_subdir(os.path.basename(os.path.dirname(os.path.dirname(py))) + "-mod")
                p = self.start([py, os.path.join(SCRIPTS, "py_module_leak.py"), server.port,
                                "hold"], options=dict(live_options(), scan_ms=1000),
                               stdin=subprocess.PIPE,
                               universal_newlines=True)
                live, _ = self.wait_event(p.pid, is_live_leak)
                self.assertLangFrame(live, "python", "fetch_quote", "py_module_leak.py", line)
                rep, out = self.finish(p)
                self.assertEqual(out.split(), ["ACME", "42", "ACME", "42"])
                leaks = rep.leaks_of("close_wait")
                exits = [l for l in leaks if l.get("when") == "exit"]
                self.assertEqual(len(exits), 2, rep.describe())
                for leak in exits:
                    self.assertLangFrame(leak, "python", "fetch_quote", "py_module_leak.py", line)
                self.assertEqual(exits[0]["stack_id"], exits[1]["stack_id"],
                                 "one Python call site, one stack\n" + rep.describe())

    def test_lang_python_create_connection_in_method(self):
        """socket.create_connection inside a class method: the leak names
        PriceClient.connect (3.11+'s qualified name) at its line, under
        socket.py's own frames; the text headline names it too."""
        line = source_line("tests/e2e/scripts/py_class_leak.py", "# LEAK-SITE")
        for py in pythons():
            with self.subTest(python=py), ClosingServer(reply=b"ACME 42\n") as server:
                self.use_subdir(os.path.basename(os.path.dirname(os.path.dirname(py))) + "-cls")
                run = self.run_shim([py, os.path.join(SCRIPTS, "py_class_leak.py"), server.port])
                self.assertEqual(run.returncode, 0, run.describe())
                leaks = run.report.leaks_of("close_wait")
                self.assertEqual(len(leaks), 1, run.report.describe())
                stack = leaks[0]["stack"]
                self.assertEqual(os.path.basename(stack[0].get("file") or ""), "socket.py",
                                 format_leak(leaks[0]))
                self.assertLangFrame(leaks[0], "python", "PriceClient.connect",
                                     "py_class_leak.py", line)
                text = self.run_shim([py, os.path.join(SCRIPTS, "py_class_leak.py"),
                                      server.port], options="grace_ms=0:scan_ms=0")
                self.assertIn("from PriceClient.connect (py_class_leak.py:%d)" % line, text.stderr)
                self.assertIn('File "%s", line %d, in PriceClient.connect'
                              % (os.path.join(SCRIPTS, "py_class_leak.py"), line), text.stderr)

    def test_lang_python_suppression_and_baseline_by_frame(self):
        """A suppression naming the Python method (or its file) hides the
        leak in the shim; `sockleak run` accepts it from a baseline written
        by an earlier run whose leak came from another line of that method
        (fingerprints use function and file, not line or native frames)."""
        script = os.path.join(SCRIPTS, "py_class_leak.py")
        with ClosingServer(reply=b"ACME 42\n") as server:
            for pattern in ("^PriceClient.connect$", "py_class_leak.py"):
                supp = os.path.join(self.tmp, "supp.txt")
                with open(supp, "w") as f:
                    f.write("leak:%s\n" % pattern)
                run = self.run_shim([pythons()[0], script, server.port],
                                    options={"suppressions": supp})
                self.assertEqual(run.report.leaks, [], run.report.describe())
                self.assertSummary(run.report, suppressed=1, leaks=0)
            base = os.path.join(self.tmp, "base.json")
            moved = os.path.join(self.tmp, "py_class_leak.py")
            with open(script) as f, open(moved, "w") as g:
                g.write("\n\n" + f.read())          # the same code, two lines lower
            sockleak = os.path.join(ROOT, "build", "sockleak")
            env = {k: v for k, v in os.environ.items()
                   if k not in ("LD_PRELOAD", "SOCKLEAK_OPTIONS")}
            first = subprocess.run([sockleak, "run", "--grace-ms=0", "--write-baseline", base, "--",
                                    pythons()[0], script, str(server.port)],
                                   env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
            again = subprocess.run([sockleak, "run", "--grace-ms=0", "--baseline", base, "--",
                                    pythons()[0], moved, str(server.port)],
                                   env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
            self.assertIn("1 known", again.stdout + again.stderr)
            other = subprocess.run([sockleak, "run", "--grace-ms=0", "--baseline", base, "--",
                                    pythons()[0], os.path.join(SCRIPTS, "py_module_leak.py"),
                                    str(server.port)],
                                   env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(other.returncode, 23, other.stdout + other.stderr)

    def test_lang_python_debug_allocator_hooks_at_first_socket(self):
        """PYTHONDEVMODE=1 (a debug allocator): no abort at exit; the hook
        is registered at the first socket, so that one has native frames
        only and the second one has fetch_quote's."""
        line = source_line("tests/e2e/scripts/py_module_leak.py", "# LEAK-SITE")
        with ClosingServer(reply=b"ACME 42\n") as server:
            run = self.run_shim([pythons()[0], os.path.join(SCRIPTS, "py_module_leak.py"),
                                 server.port], env={"PYTHONDEVMODE": "1"})
        self.assertEqual(run.returncode, 0, run.describe())
        leaks = sorted(run.report.leaks_of("close_wait"), key=lambda l: l["fd"])
        self.assertEqual(len(leaks), 2, run.report.describe())
        self.assertFalse([f for f in leaks[0]["stack"] if f.get("lang")], format_leak(leaks[0]))
        self.assertLangFrame(leaks[1], "python", "fetch_quote", "py_module_leak.py", line)

    def test_lang_python_lang_frames_off(self):
        """lang_frames=0: the same leak, with native frames only."""
        with ClosingServer(reply=b"ACME 42\n") as server:
            run = self.run_shim([pythons()[0], os.path.join(SCRIPTS, "py_class_leak.py"),
                                 server.port], options={"lang_frames": 0})
        self.assertEqual(run.returncode, 0, run.describe())
        leaks = run.report.leaks_of("close_wait")
        self.assertEqual(len(leaks), 1, run.report.describe())
        self.assertFalse([f for f in leaks[0]["stack"] if f.get("lang")], format_leak(leaks[0]))
        self.assertTrue(leaks[0]["stack"], format_leak(leaks[0]))

    def test_lang_python_clean_program_reports_nothing(self):
        """socket, create_connection, accept and socketpair, each closed: no
        leak, every socket counted as closed."""
        for py in pythons():
            with self.subTest(python=py), ClosingServer(reply=b"HI\n") as server:
                self.use_subdir(os.path.basename(os.path.dirname(os.path.dirname(py))) + "-clean")
                run = self.run_shim([py, os.path.join(SCRIPTS, "py_clean.py"), server.port])
                self.assertEqual(run.returncode, 0, run.describe())
                self.assertNoLeaks(run.report)
                self.assertGreaterEqual(run.report.summary["sockets_opened"], 5)


JAVA_SRC = os.path.join(HERE, "java")
JAVA_OUT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "tests", "e2e", "java-lang")


@unittest.skipUnless(shutil.which("java") and shutil.which("javac"),
                     "java/javac are not installed (default-jdk-headless)")
class TestJavaFrames(LangTestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(JAVA_OUT, exist_ok=True)
        sources = [os.path.join(JAVA_SRC, f)
                   for f in ("QuoteClient.java", "ChannelClient.java", "CleanClient.java",
                             "AcceptAndHttp.java")]
        subprocess.run(["javac", "-d", JAVA_OUT] + sources, check=True)

    def run_java(self, cls, server, options=None):
        return self.run_shim(["java", "-cp", JAVA_OUT, cls, server.port], options=options,
                             timeout=180)

    def test_lang_java_socket_leak_names_the_method(self):
        """java.net.Socket kept after the server hung up, twice from one
        line: two close_wait leaks with QuoteClient.fetch at its line in
        QuoteClient.java under the JDK's frames, one stack_id, no flag; the
        text headline names QuoteClient.fetch as a Java stack line does."""
        line = source_line("tests/e2e/java/QuoteClient.java", "// LEAK-SITE")
        with ClosingServer(reply=b"ACME 42\n") as server:
            run = self.run_java("QuoteClient", server)
            self.assertEqual(run.returncode, 0, run.describe())
            leaks = run.report.leaks_of("close_wait")
            self.assertEqual(len(leaks), 2, run.report.describe())
            for leak in leaks:
                self.assertLangFrame(leak, "java", "QuoteClient.fetch", "QuoteClient.java", line)
                self.assertEqual(leak["stack"][0]["function"], "sun.nio.ch.Net.socket0",
                                 format_leak(leak))
            self.assertEqual(leaks[0]["stack_id"], leaks[1]["stack_id"], run.report.describe())
            text = self.run_java("QuoteClient", server, options="grace_ms=0:scan_ms=0")
        self.assertIn("from QuoteClient.fetch (QuoteClient.java:%d)" % line, text.stderr)
        self.assertIn("at QuoteClient.fetch(QuoteClient.java:%d)" % line, text.stderr)

    def test_lang_java_socketchannel_leak_names_the_method(self):
        """A SocketChannel read to EOF and kept: the leak names
        ChannelClient$Feed.open at its line."""
        line = source_line("tests/e2e/java/ChannelClient.java", "// LEAK-SITE")
        with ClosingServer(reply=b"tick\n") as server:
            run = self.run_java("ChannelClient", server)
        self.assertEqual(run.returncode, 0, run.describe())
        leaks = run.report.leaks_of("close_wait")
        self.assertEqual(len(leaks), 1, run.report.describe())
        self.assertLangFrame(leaks[0], "java", "ChannelClient$Feed.open", "ChannelClient.java",
                             line)

    def test_lang_java_accept_and_httpclient_name_their_methods(self):
        """A ServerSocket.accept() socket and HttpClient's kept-alive
        connection, both open at exit: each names the program's method
        (HttpClient's caller sits ~34 Java frames deep)."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        server.RequestHandlerClass.protocol_version = "HTTP/1.1"   # keep-alive
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        # open at exit, not leaks: listed with report_open=1 (LIST_ALL)
        run = self.run_shim(["java", "-cp", JAVA_OUT, "AcceptAndHttp", server.server_address[1]],
                            timeout=180, options=LIST_ALL)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.strip(), "200", run.describe())
        leaks = run.report.leaks
        accepted = [l for l in leaks if l.get("origin") in ("accept", "accept4")]
        self.assertEqual(len(accepted), 1, run.report.describe())
        self.assertLangFrame(accepted[0], "java", "AcceptAndHttp.acceptOne", "AcceptAndHttp.java",
                             source_line("tests/e2e/java/AcceptAndHttp.java", "// ACCEPT-SITE"))
        # Java's sockets are dual-stack: the peer reads [::ffff:127.0.0.1]:PORT
        to_http = [l for l in leaks
                   if (l.get("peer") or "").endswith("127.0.0.1]:%d" % server.server_address[1])]
        self.assertEqual(len(to_http), 1, run.report.describe())
        self.assertLangFrame(to_http[0], "java", "AcceptAndHttp.fetchStatus", "AcceptAndHttp.java",
                             source_line("tests/e2e/java/AcceptAndHttp.java", "// HTTP-SITE"))

    def test_lang_java_clean_program_reports_nothing(self):
        """Socket, SocketChannel and ServerSocket.accept, each closed: no leak."""
        with ClosingServer(reply=b"HI\n") as server:
            run = self.run_java("CleanClient", server)
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.strip(), "done")
        self.assertNoLeaks(run.report)


@unittest.skipUnless(shutil.which("node"), "node is not installed (nodejs)")
class TestNodeFrames(LangTestCase):
    def test_lang_node_half_open_socket_names_the_method(self):
        """A net.Socket kept half-open after the server hung up, twice from
        one line: two close_wait leaks whose first frame outside node's own
        modules is Feed.open at its line (with a column) in
        node_half_open.js; the preload left NODE_OPTIONS as it was."""
        line = source_line("tests/e2e/scripts/node_half_open.js", "// LEAK-SITE")
        with ClosingServer(reply=b"ACME 42\n") as server:
            run = self.run_shim(["node", os.path.join(SCRIPTS, "node_half_open.js"), server.port])
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout, "ACME 42\nACME 42\n")
        leaks = run.report.leaks_of("close_wait")
        self.assertEqual(len(leaks), 2, run.report.describe())
        for leak in leaks:
            frame = self.assertLangFrame(leak, "js", "Feed.open", "node_half_open.js", line)
            self.assertGreater(frame.get("column"), 0, format_leak(leak))
        self.assertEqual(leaks[0]["stack_id"], leaks[1]["stack_id"], run.report.describe())

    def test_lang_node_program_sees_no_preload(self):
        """The preload is invisible to the program: NODE_OPTIONS as the
        program was started with it (unset, or its own value)."""
        code = "console.log(JSON.stringify(process.env.NODE_OPTIONS ?? null))"
        run = self.run_shim(["node", "-e", code])
        self.assertEqual(run.stdout.strip(), "null", run.describe())
        run = self.run_shim(["node", "-e", code], env={"NODE_OPTIONS": "--no-warnings"})
        self.assertEqual(run.stdout.strip(), '"--no-warnings"', run.describe())

    def test_lang_node_clean_program_reports_nothing(self):
        """A client, a server and its accepted connection, each closed."""
        with ClosingServer(reply=b"HI\n") as server:
            run = self.run_shim(["node", os.path.join(SCRIPTS, "node_clean.js"), server.port])
        self.assertEqual(run.returncode, 0, run.describe())
        self.assertEqual(run.stdout.strip(), "done")
        self.assertNoLeaks(run.report)


class TestLangExamples(LangTestCase):
    """examples/leaky_client.{py,js} and LeakyClient.java against db_server."""

    def run_example(self, argv, n=3):
        server = self.start([example("db_server"), 0, n], preload=False)
        port = int(server.stdout.readline())
        run = self.run_shim(argv + [port, n], timeout=180)
        server.wait(30)
        self.assertEqual(run.returncode, 0, run.describe())
        leaks = run.report.leaks_of("close_wait")
        self.assertEqual(len(leaks), n, run.report.describe())
        return leaks

    def test_lang_examples_name_their_connect_method(self):
        """Each language's leaky client: every refused login is a close_wait
        leak created in its connect method, at that line of the example."""
        cases = [("python", [pythons()[0], os.path.join(ROOT, "examples", "leaky_client.py")],
                  "Database.connect", "leaky_client.py", r"create_connection\(")]
        if shutil.which("node"):
            cases.append(("js", ["node", os.path.join(ROOT, "examples", "leaky_client.js")],
                          "Database.connect", "leaky_client.js", r"return net\.connect\("))
        if shutil.which("java"):
            cases.append(("java", ["java", os.path.join(ROOT, "examples", "LeakyClient.java")],
                          "LeakyClient.connect", "LeakyClient.java", r"return new Socket\("))
        for lang, argv, function, name, pattern in cases:
            with self.subTest(lang=lang):
                self.use_subdir("ex-" + lang)
                line = source_line(os.path.join("examples", name), pattern)
                for leak in self.run_example(argv):
                    self.assertLangFrame(leak, lang, function, name, line)
