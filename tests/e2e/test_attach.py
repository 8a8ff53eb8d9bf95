"""sockleak attach PID: programs started without the shim get it loaded by
ptrace, report pre_attach and named-stack leaks, and run on exactly as
before after the detach (output, exit status, threads, fds)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from shimrun import BUILD, ROOT, prog, source_line

SOCKLEAK = os.path.join(BUILD, "sockleak")


def fds_of(pid):
    """fd number -> what it refers to, for every fd of pid."""
    d = "/proc/%d/fd" % pid
    out = {}
    for name in os.listdir(d):
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except FileNotFoundError:
            pass
    return out


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


def maps_of(pid):
    with open("/proc/%d/maps" % pid) as f:
        return f.read()


def relro_protections(pid, path):
    """The permissions of every mapping of path, in order."""
    return [line.split()[1] for line in maps_of(pid).splitlines() if line.endswith(path)]


class Service:
    """A program under test started without the shim; it prints "port N"."""

    def __init__(self, argv, env=None, **kw):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env, **kw)
        first = self.p.stdout.readline().split()
        if len(first) != 2 or first[0] != "port":
            self.p.kill()
            raise AssertionError("service did not start: %r %s" % (first, self.p.stderr.read()))
        self.port = int(first[1])
        self.pid = self.p.pid
        self.lines = []
        self.kept = []

    def connect(self, close=True):
        """One client connection; the service answers hello and keeps its end."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        data = s.recv(16)
        assert data == b"hello\n", data
        self.lines.append(self.p.stdout.readline().strip())
        if close:
            s.close()
        else:
            self.kept.append(s)

    def finish(self):
        """Close stdin: the service prints bye and exits 7."""
        out, err = self.p.communicate(timeout=20)
        for s in self.kept:
            s.close()
        return self.p.returncode, self.lines + out.splitlines(), err


def wait_attached(test, pid, attacher):
    """Until the shim's report memfd shows among pid's fds."""
    deadline = time.time() + 10
    while "sockleak-report" not in " ".join(fds_of(pid).values()):
        if time.time() > deadline or attacher.poll() is not None:
            attacher.kill()
            test.fail("not attached: %s" % attacher.communicate()[1])
        time.sleep(0.02)


def running(pid):
    """Alive and not a zombie (init here may reap orphans late)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def attach_watchers(host):
    """Running watcher processes of host started by an attached shim: they
    hold its report memfd as fd 8 and a pidfd of host (other tests, maybe
    another checkout's, run their own)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() != "sockleak-watch":
                    continue
            if "sockleak-report" not in os.readlink("/proc/%s/fd/8" % pid):
                continue
            for fd in os.listdir("/proc/%s/fd" % pid):
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) != "anon_inode:[pidfd]":
                    continue
                with open("/proc/%s/fdinfo/%s" % (pid, fd)) as f:
                    if "Pid:\t%d\n" % host in f.read():
                        found.append(int(pid))
        except (OSError, ValueError):
            pass
    return found


def run_attach(args, timeout=60, **kw):
    return subprocess.run([SOCKLEAK, "attach"] + args, capture_output=True, text=True,
                          timeout=timeout, **kw)


def leaks_of(json_text):
    return [json.loads(l) for l in json_text.splitlines() if l.strip()]


class TestAttach(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sockleak-attach-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def attach_and_leak(self, binary):
        """Leaks before the attach (pre_attach) and while attached (with a
        stack naming svc_accept_leaky); then detach and check the service
        runs on as before."""
        svc = Service([binary])
        try:
            svc.connect()                       # leaked before the attach
            time.sleep(0.2)
            fds_before, threads_before = fds_of(svc.pid), threads_of(svc.pid)
            maps_before = [l for l in maps_of(svc.pid).splitlines() if binary in l]
            out = os.path.join(self.tmp, "report.json")
            a = subprocess.Popen([SOCKLEAK, "attach", "--duration", "4", "--grace-ms=300",
                                  "--format", "json", "-o", out, str(svc.pid)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_attached(self, svc.pid, a)
            deadline = time.time() + 5
            while not attach_watchers(svc.pid) and time.time() < deadline:
                time.sleep(0.05)
            watchers = attach_watchers(svc.pid)
            self.assertTrue(watchers, "a watcher process runs while attached")
            svc.connect()                       # leaked while attached
            svc.connect()
            _, err = a.communicate(timeout=30)
            self.assertEqual(a.returncode, 23, err)
            self.assertIn("attached to process %d" % svc.pid, err)
            self.assertIn("sockleak: live: pid %d" % svc.pid, err)
            self.assertIn("detached from process %d" % svc.pid, err)
            time.sleep(0.3)
            # the process runs on as before: same fds (numbers and files), threads, maps
            fds_after = fds_of(svc.pid)
            new_conns = {fd: t for fd, t in fds_after.items() if fd not in fds_before}
            self.assertEqual(len(new_conns), 2, (fds_before, fds_after))
            self.assertTrue(all(t.startswith("socket:") for t in new_conns.values()), new_conns)
            self.assertEqual({fd: fds_after[fd] for fd in fds_before}, fds_before)
            self.assertEqual(max(new_conns), max(fds_before) + 2,
                             "the program's next fds must be the ones it would get without sockleak")
            self.assertEqual(threads_of(svc.pid), threads_before)
            self.assertFalse([w for w in watchers if running(w)],
                             "the watcher process exited at detach")
            self.assertEqual([l for l in maps_of(svc.pid).splitlines() if binary in l], maps_before,
                             "page protections of the program restored exactly")
            svc.connect()                       # after the detach: nothing reported, all works
            with open(out) as f:
                events = leaks_of(f.read())
        finally:
            if svc.p.poll() is None:
                status, lines, err = svc.finish()
        self.assertEqual(status, 7)
        self.assertEqual(lines, ["conn 1", "conn 2", "conn 3", "conn 4", "bye 4"])
        self.assertEqual(err, "")
        cw = [e for e in events if e.get("kind") == "close_wait"]
        pre = [e for e in cw if e["origin"] == "pre_attach"]
        named = [e for e in cw if e["origin"] in ("accept", "accept4")]
        self.assertEqual(len(pre), 1, events)
        self.assertIsNone(pre[0]["age_ms"])
        self.assertEqual(pre[0]["stack"], [])
        self.assertEqual(len(named), 2, events)
        line = source_line("tests/e2e/progs/attach_svc.c", r"int c = accept\(l, NULL, NULL\)")
        for e in named:
            top = [f for f in e["stack"] if f["function"] == "svc_accept_leaky"]
            self.assertTrue(top, e["stack"])
            self.assertTrue(top[0]["file"].endswith("attach_svc.c"), top[0])
            self.assertEqual(top[0]["line"], line)
        listen = [e for e in events if e.get("tcp_state") == "LISTEN"]
        self.assertEqual(len(listen), 1)
        self.assertEqual(listen[0]["kind"], "open_at_exit")

    def test_attach_c_service(self):
        self.attach_and_leak(prog("attach_svc"))

    def test_attach_full_relro_pie(self):
        self.attach_and_leak(prog("attach_svc_relro"))

    def test_attach_no_plt(self):
        self.attach_and_leak(prog("attach_svc_noplt"))

    def test_attach_text_report_headings(self):
        # pre_attach sockets under their own heading; later ones with file:line
        svc = Service([prog("attach_svc")])
        try:
            svc.connect()
            a = subprocess.Popen([SOCKLEAK, "attach", "--duration", "3", "--grace-ms=200",
                                  str(svc.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
            wait_attached(self, svc.pid, a)
            svc.connect()
            out, err = a.communicate(timeout=30)
        finally:
            svc.finish()
        self.assertEqual(a.returncode, 23, err)
        self.assertIn("1 socket leaked in CLOSE_WAIT (peer closed, never closed here) "
                      "(attached: creation stack unknown):", out)
        self.assertRegex(out, r"1 socket leaked in CLOSE_WAIT .* from svc_accept_leaky "
                              r"\(attach_svc\.c:\d+\)")
        self.assertIn("still open at detach", out)
        self.assertRegex(out, r"SUMMARY: sockleak: 3 sockets leaked \(2 in CLOSE_WAIT, 1 open at detach\)")

    def test_attach_python3(self):
        script = os.path.join(self.tmp, "svc.py")
        with open(script, "w") as f:
            f.write("import socket, sys\n"
                    "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(64)\n"
                    "print('port', l.getsockname()[1], flush=True)\n"
                    "kept = []\n"
                    "while True:\n"
                    "    line = sys.stdin.readline()\n"
                    "    if not line: break\n"
                    "    c, _ = l.accept(); c.sendall(b'hello\\n'); kept.append(c)\n"
                    "    print('conn', len(kept), flush=True)\n"
                    "print('bye', len(kept))\n"
                    "sys.exit(7)\n")
        svc = Service([sys.executable, script])

        def conn():
            svc.p.stdin.write("go\n")
            svc.p.stdin.flush()
            svc.connect()
        try:
            conn()
            time.sleep(0.2)
            fds_before, threads_before = fds_of(svc.pid), threads_of(svc.pid)
            out = os.path.join(self.tmp, "py.json")
            a = subprocess.Popen([SOCKLEAK, "attach", "--duration", "3", "--grace-ms=200",
                                  "--format", "json", "-o", out, str(svc.pid)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_attached(self, svc.pid, a)
            conn()
            _, err = a.communicate(timeout=30)
            self.assertEqual(a.returncode, 23, err)
            time.sleep(0.2)
            after = fds_of(svc.pid)
            self.assertEqual({fd: after[fd] for fd in fds_before}, fds_before)
            self.assertEqual(len(after), len(fds_before) + 1, (fds_before, after))
            self.assertEqual(threads_of(svc.pid), threads_before)
        finally:
            status, lines, err = svc.finish()
        self.assertEqual(status, 7)
        self.assertEqual(lines, ["conn 1", "conn 2", "bye 2"])
        with open(out) as f:
            events = leaks_of(f.read())
        cw = [e for e in events if e.get("kind") == "close_wait"]
        self.assertEqual(sorted(e["origin"] for e in cw), ["accept4", "pre_attach"], cw)
        created = [e for e in cw if e["origin"] == "accept4"][0]
        # created while attached: a stack through the interpreter's socket module
        self.assertTrue(any("sock_accept" in (f["function"] or "") for f in created["stack"]),
                        created["stack"])

    def test_attach_other_mount_namespace(self):
        # the target cannot see build/libsockleak.so: it gets it from a memfd
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare for a private mount namespace")
        binary = os.path.join(self.tmp, "svc")
        shutil.copy(prog("attach_svc"), binary)
        svc = Service(["unshare", "-m", "--propagation", "private", "sh", "-c",
                       "mount -t tmpfs none %s && exec %s" % (BUILD, binary)])
        try:
            self.assertFalse(os.path.exists("/proc/%d/root%s/libsockleak.so" % (svc.pid, BUILD)))
            svc.connect()
            fds_before = fds_of(svc.pid)
            for round in range(2):      # the second attach reuses the loaded copy
                out = os.path.join(self.tmp, "ns%d.json" % round)
                # --grace-ms=0: CLOSE_WAITs younger than grace_ms at detach
                # are only "closing"
                a = subprocess.Popen([SOCKLEAK, "attach", "--duration", "2", "--format", "json",
                                      "--grace-ms=0", "-o", out, str(svc.pid)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                wait_attached(self, svc.pid, a)
                svc.connect()
                _, err = a.communicate(timeout=30)
                self.assertEqual(a.returncode, 23, err)
                if round == 0:
                    self.assertIn("library loaded from a memfd", err)
                self.assertIn("detached from process %d" % svc.pid, err)
                with open(out) as f:
                    events = leaks_of(f.read())
                cw = [e for e in events if e.get("kind") == "close_wait"]
                self.assertEqual(len([e for e in cw if e["origin"] == "pre_attach"]), 1 + round, cw)
                named = [e for e in cw if e["origin"] != "pre_attach"]
                self.assertEqual(len(named), 1, cw)
                # the watcher came from a memfd too: live reports while attached
                self.assertIn("sockleak: live: pid %d" % svc.pid, err)
                self.assertTrue(any(f["function"] == "svc_accept_leaky" for f in named[0]["stack"]),
                                named[0]["stack"])
            libs = [l for l in maps_of(svc.pid).splitlines() if "sockleak-lib" in l]
            self.assertTrue(libs, "loaded once, from the memfd")
            after = fds_of(svc.pid)
            self.assertEqual({fd: after[fd] for fd in fds_before}, fds_before)
            self.assertEqual(len(after), len(fds_before) + 2)
        finally:
            status, lines, err = svc.finish()
        self.assertEqual(status, 7)
        self.assertEqual(lines, ["conn 1", "conn 2", "conn 3", "bye 3"])

    @unittest.skipUnless(shutil.which("java") and shutil.which("javac"), "java/javac not installed")
    def test_attach_java(self):
        # the JVM: accepts made while attached are named by the JDK's native accept
        out_dir = os.path.join(self.tmp, "classes")
        subprocess.run(["javac", "-d", out_dir, os.path.join(ROOT, "tests", "e2e", "java",
                                                             "AttachSrv.java")], check=True)
        svc = Service(["java", "-cp", out_dir, "AttachSrv"])

        def conn():
            svc.p.stdin.write("go\n")
            svc.p.stdin.flush()
            svc.connect()
        try:
            conn()
            time.sleep(0.3)
            fds_before, threads_before = fds_of(svc.pid), threads_of(svc.pid)
            out = os.path.join(self.tmp, "java.json")
            a = subprocess.Popen([SOCKLEAK, "attach", "--duration", "4", "--grace-ms=200",
                                  "--format", "json", "-o", out, str(svc.pid)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_attached(self, svc.pid, a)
            conn()
            _, err = a.communicate(timeout=60)
            self.assertEqual(a.returncode, 23, err)
            time.sleep(0.3)
            after = fds_of(svc.pid)
            self.assertEqual({fd: after[fd] for fd in fds_before}, fds_before)
            self.assertEqual(len(after), len(fds_before) + 1, (fds_before, after))
            self.assertEqual(threads_of(svc.pid), threads_before)
        finally:
            status, lines, err = svc.finish()
        self.assertEqual(status, 7)
        self.assertEqual(lines, ["conn 1", "conn 2", "bye 2"])
        with open(out) as f:
            events = leaks_of(f.read())
        tcp = [e for e in events if e.get("kind") == "close_wait" and e.get("tcp_state")]
        self.assertEqual(sorted(e["origin"] for e in tcp), ["accept", "pre_attach"], tcp)
        made = [e for e in tcp if e["origin"] == "accept"][0]
        self.assertIn("Java_sun_nio_ch_Net_accept", [f["function"] for f in made["stack"]])

    def test_attach_fork_child_not_followed(self):
        # a child forked while attached drops the shim before fork returns
        svc = Service([prog("attach_svc")])
        try:
            out = os.path.join(self.tmp, "fork.json")
            a = subprocess.Popen([SOCKLEAK, "attach", "--duration", "2", "--format", "json",
                                  "-o", out, str(svc.pid)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            wait_attached(self, svc.pid, a)
            svc.p.stdin.write("fork\n")
            svc.p.stdin.flush()
            child = svc.p.stdout.readline().split()
            _, err = a.communicate(timeout=30)
            self.assertEqual(a.returncode, 0, err)
        finally:
            status, lines, err = svc.finish()
        self.assertEqual(status, 7)
        self.assertEqual(child[0], "child", child)
        self.assertEqual(child[2], "0", "the child holds none of the shim's fds")
        with open(out) as f:
            events = leaks_of(f.read())
        self.assertTrue(events)
        self.assertEqual([e for e in events if e.get("pid") == int(child[1])], [],
                         "the child reported nothing")

    def test_attach_library_loaded_while_attached(self):
        # dlopen while attached: the new library's slots are patched too
        svc = Service([prog("attach_svc")])
        try:
            out = os.path.join(self.tmp, "dl.json")
            a = subprocess.Popen([SOCKLEAK, "attach", "--duration", "2", "--format", "json",
                                  "--fail-on", "any", "-o", out, str(svc.pid)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_attached(self, svc.pid, a)
            svc.p.stdin.write("dlopen %s\n" % prog("libattachdl.so"))
            svc.p.stdin.flush()
            dl = svc.p.stdout.readline().split()
            _, err = a.communicate(timeout=30)
            self.assertEqual(a.returncode, 23, err)
        finally:
            status, lines, err = svc.finish()
        self.assertEqual(status, 7)
        self.assertEqual(dl[0], "dl", dl)
        with open(out) as f:
            events = leaks_of(f.read())
        made = [e for e in events if e.get("fd") == int(dl[1])]
        self.assertEqual(len(made), 1, events)
        self.assertEqual(made[0]["origin"], "socket")
        self.assertEqual(made[0]["stack"][0]["function"], "attach_dl_make_socket", made[0]["stack"])

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_attach_curl_mid_transfer(self):
        # curl's slots patched and restored in the middle of a slow download;
        # the download completes byte for byte
        import threading
        body = b"".join(b"%05d sockleak attach\n" % i for i in range(400))
        l = socket.socket()
        l.bind(("127.0.0.1", 0))
        l.listen(1)

        def serve():
            c, _ = l.accept()
            c.recv(4096)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(body))
            for i in range(0, len(body), len(body) // 20):
                c.sendall(body[i:i + len(body) // 20])
                time.sleep(0.15)
            c.close()
        t = threading.Thread(target=serve)
        t.start()
        dest = os.path.join(self.tmp, "body")
        curl = subprocess.Popen(["curl", "-sS", "-o", dest, "http://127.0.0.1:%d/" %
                                 l.getsockname()[1]], stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)
            out = os.path.join(self.tmp, "curl.json")
            r = run_attach(["--duration", "1", "--fail-on", "none", "--format", "json", "-o", out,
                            str(curl.pid)])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("detached from process %d" % curl.pid, r.stderr)
            self.assertEqual(curl.wait(timeout=30), 0, curl.stderr.read())
        finally:
            if curl.poll() is None:
                curl.kill()
            t.join()
            l.close()
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), body)
        with open(out) as f:
            events = leaks_of(f.read())
        self.assertTrue([e for e in events if e.get("origin") == "pre_attach"
                         and e.get("tcp_state") == "ESTABLISHED"], events)

    def test_attach_detach_50_cycles_under_churn(self):
        # 4 threads of connect/accept/close churn: nothing lost, nothing left
        p = subprocess.Popen([prog("attach_churn")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")

            def command(word, answer):
                p.stdin.write(word + "\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline().strip(), answer)
            command("pause", "paused")
            fds_before, threads_before = fds_of(p.pid), threads_of(p.pid)
            maps_before = maps_of(p.pid)
            command("resume", "resumed")
            for i in range(50):
                r = run_attach(["--duration", "0", "--fail-on", "none", "--format", "json",
                                "-o", os.devnull, str(p.pid)])
                self.assertEqual(r.returncode, 0, "cycle %d: %s" % (i, r.stderr))
                self.assertIn("detached from process %d" % p.pid, r.stderr)
            command("pause", "paused")
            self.assertEqual(fds_of(p.pid), fds_before)
            self.assertEqual(threads_of(p.pid), threads_before)
            lib = [l for l in maps_of(p.pid).splitlines() if "libsockleak" in l]
            self.assertTrue(lib, "the library stays mapped (see docs)")
            # what stays: the library and its dependencies, and the shim's
            # memory (its stack store), never fds or processes
            other = lambda m: [l for l in m.splitlines()
                               if not any(k in l for k in ("libsockleak", "libunwind", "libdw", "libmnl",
                                                           "/memfd:sockleak",
                                                           "libelf", "libz", "liblzma", "libbz2",
                                                           "libzstd", "[heap]", "[stack]", "[anon"))
                               and len(l.split()) > 5]
            self.assertEqual(other(maps_of(p.pid)), other(maps_before))
            time.sleep(0.5)
            self.assertEqual(attach_watchers(p.pid), [], "every watcher process exited")
            p.stdin.close()
            out = p.stdout.read()
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 0, out + p.stderr.read())
        self.assertRegex(out, r"ops [1-9]\d* errors 0")


class TestAttachRefusals(unittest.TestCase):
    """Each refusal exits 2 with a message saying what to do."""

    def refused(self, args, *needles, **kw):
        r = run_attach(args, **kw)
        self.assertEqual(r.returncode, 2, r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)
        return r

    def test_attach_refuses_missing_pid(self):
        pid = 4194303  # above any pid_max default; never a process
        self.refused([str(pid)], "no process with pid %d" % pid, "ps -p")

    def test_attach_refuses_static_binary(self):
        p = subprocess.Popen([prog("static_sleeper")])
        try:
            time.sleep(0.1)
            self.refused([str(p.pid)], "statically linked", "sockleak scan %d" % p.pid)
        finally:
            p.kill()
            p.wait()

    def test_attach_refuses_seccomp_filter(self):
        # python3 installs a one-rule seccomp filter through prctl, then sleeps
        code = ("import ctypes, struct, time\n"
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "allow = struct.pack('HBBI', 0x06, 0, 0, 0x7fff0000)\n"
                "buf = ctypes.create_string_buffer(allow)\n"
                "class P(ctypes.Structure):\n"
                "    _fields_ = [('len', ctypes.c_ushort), ('f', ctypes.c_void_p)]\n"
                "prog = P(1, ctypes.cast(buf, ctypes.c_void_p))\n"
                "assert libc.prctl(38, 1, 0, 0, 0) == 0\n"            # PR_SET_NO_NEW_PRIVS
                "assert libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0\n"  # SECCOMP_MODE_FILTER
                "print('ready', flush=True)\n"
                "time.sleep(60)\n")
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            self.refused([str(p.pid)], "seccomp filter", "sockleak run")
        finally:
            p.kill()
            p.wait()

    def other_user(self):
        for tool in (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],):
            if shutil.which(tool[0]) and os.geteuid() == 0:
                return tool
        self.skipTest("needs root and setpriv to act as another user")

    def public_sockleak(self):
        """sockleak with its library in a directory the other user can read
        (the checkout may sit in a private 0700 directory)."""
        d = tempfile.mkdtemp(prefix="sockleak-public-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        for name in ("sockleak", "libsockleak.so", "sockleak-watcher"):
            shutil.copy(os.path.join(BUILD, name), d)
        return os.path.join(d, "sockleak")

    def test_attach_refuses_other_users_process(self):
        as_nobody = self.other_user()
        p = subprocess.Popen(["sleep", "60"])
        try:
            time.sleep(0.1)
            r = subprocess.run(as_nobody + [self.public_sockleak(), "attach", str(p.pid)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("no permission to trace process %d: it runs as uid 0" % p.pid, r.stderr)
            self.assertIn("CAP_SYS_PTRACE", r.stderr)
        finally:
            p.kill()
            p.wait()

    def test_attach_refuses_non_dumpable_process(self):
        as_nobody = self.other_user()
        code = ("import ctypes, time\n"
                "assert ctypes.CDLL(None).prctl(4, 0, 0, 0, 0) == 0\n"   # PR_SET_DUMPABLE 0
                "print('ready', flush=True)\n"
                "time.sleep(60)\n")
        p = subprocess.Popen(as_nobody + [sys.executable, "-c", code], stdout=subprocess.PIPE,
                             text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            r = subprocess.run(as_nobody + [self.public_sockleak(), "attach", str(p.pid)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("not dumpable", r.stderr)
            self.assertIn("as root (CAP_SYS_PTRACE)", r.stderr)
        finally:
            p.kill()
            p.wait()

    def test_attach_refuses_yama_scope(self):
        path = "/proc/sys/kernel/yama/ptrace_scope"
        if not os.path.exists(path) or not os.access(path, os.W_OK):
            self.skipTest("no writable %s on this kernel" % path)
        as_nobody = self.other_user()
        with open(path) as f:
            old = f.read().strip()
        p = subprocess.Popen(as_nobody + ["sleep", "60"])
        try:
            with open(path, "w") as f:
                f.write("1")
            r = subprocess.run(as_nobody + [self.public_sockleak(), "attach", str(p.pid)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("kernel.yama.ptrace_scope is 1", r.stderr)
            self.assertIn("sysctl kernel.yama.ptrace_scope=0", r.stderr)
        finally:
            with open(path, "w") as f:
                f.write(old)
            p.kill()
            p.wait()

    def test_attach_refuses_preloaded_process(self):
        env = dict(os.environ, LD_PRELOAD=os.path.join(BUILD, "libsockleak.so"))
        svc = Service([prog("attach_svc")], env=env)
        try:
            self.refused([str(svc.pid)], "already runs libsockleak.so", "preloaded")
        finally:
            svc.finish()

    def test_attach_refuses_stopped_process(self):
        p = subprocess.Popen(["sleep", "60"])
        try:
            os.kill(p.pid, signal.SIGSTOP)
            time.sleep(0.1)
            self.refused([str(p.pid)], "is stopped", "kill -CONT %d" % p.pid)
        finally:
            p.kill()
            p.wait()

    @unittest.skipUnless(shutil.which("strace"), "strace not installed")
    def test_attach_refuses_traced_process(self):
        p = subprocess.Popen(["sleep", "60"])
        tracer = subprocess.Popen(["strace", "-p", str(p.pid), "-o", os.devnull],
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while "TracerPid:\t0\n" in open("/proc/%d/status" % p.pid).read():
                self.assertLess(time.time(), deadline, "strace did not attach")
                time.sleep(0.05)
            self.refused([str(p.pid)], "already traced by process", "detach that one first")
        finally:
            tracer.kill()
            tracer.wait()
            p.kill()
            p.wait()

    def test_attach_refuses_bad_usage(self):
        self.refused([], "no PID given")
        self.refused(["12x"], "give exactly one PID")
