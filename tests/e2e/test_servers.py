"""Real servers as their users run them, under the shim with default
options: nginx (master + 2 workers; graceful SIGQUIT and fast SIGTERM),
redis-server (SHUTDOWN), node http (a SIGTERM handler that exits 0) and
python3's ThreadingHTTPServer (Ctrl-C). Each gets bounded load: idle
keep-alive clients at shutdown, Connection: close requests, clients that
reset or close just before the shutdown, and clients that connect during
it. Every process must report zero leak events of any kind (live or exit)
and exit with the same status as without the shim; the time from the
signal to the exit is printed with and without the shim."""
import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

from shimrun import ShimTestCase, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")

IDLE = 20           # keep-alive clients idle at shutdown
CLOSERS = 20        # Connection: close requests before shutdown
LAST_MOMENT = 5     # clients that close, and as many that reset, just before it
LEAK_EVENTS = ("leak", "closed_late", "peer_not_closing", "port_pressure")

FIGURES = []        # (server, scenario, ms without, ms with), printed at exit


def http_request(keep_alive):
    return (b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: %s\r\n\r\n"
            % (b"keep-alive" if keep_alive else b"close"))


def read_http_response(sock):
    """One HTTP response (headers, then Content-Length bytes or to EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while length is None or len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class Protocol:
    """How the load talks to one kind of server."""
    keep_alive_request = http_request(True)
    close_request = http_request(False)
    read_response = staticmethod(read_http_response)


class RedisProtocol(Protocol):
    keep_alive_request = b"PING\r\n"
    close_request = b"PING\r\n"
    read_response = staticmethod(lambda s: s.recv(64))


class Load:
    """Clients of a server on 127.0.0.1:port."""

    def __init__(self, port, proto, silent_idle=True):
        self.port = port
        self.silent_idle = silent_idle
        self.proto = proto
        self.idle = []
        self.stop = threading.Event()
        self.during_thread = None
        self.during_count = 0

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return s

    def start_idle(self, n):
        """n idle clients: half after one keep-alive request, half that
        connected and sent nothing yet (unless not silent_idle: a graceful
        nginx waits for those until client_header_timeout)."""
        for i in range(n):
            s = self.connect()
            if i % 2 == 0 or not self.silent_idle:
                s.sendall(self.proto.keep_alive_request)
                self.proto.read_response(s)
            self.idle.append(s)

    def closers(self, n):
        for _ in range(n):
            with self.connect() as s:
                s.sendall(self.proto.close_request)
                self.proto.read_response(s)

    def last_moment(self, n):
        """n clients send a request and close at once, n send one and reset."""
        for i in range(2 * n):
            s = self.connect()
            s.sendall(self.proto.keep_alive_request)
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()

    def _during(self):
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(self.proto.keep_alive_request)
                    self.proto.read_response(s)
                    self.during_count += 1
            except OSError:
                time.sleep(0.005)

    def start_during(self):
        self.during_thread = threading.Thread(target=self._during, daemon=True)
        self.during_thread.start()

    def close(self):
        self.stop.set()
        if self.during_thread:
            self.during_thread.join(5)
        for s in self.idle:
            s.close()
        self.idle = []


def wait_port(port, proc, timeout=30, alive=True):
    """Wait until port accepts; proc must stay alive meanwhile (unless a
    launcher that has exited: alive=False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive and proc.poll() is not None:
            raise AssertionError("%s exited early with %s" % (proc.args, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("%s did not listen on %d" % (proc.args, port))


class ServerTestCase(ShimTestCase):
    """Start a server twice (without and with the shim) under the same load
    and shutdown; compare exit status, check every report, keep the time."""

    proto = Protocol
    silent_idle = True

    def launch(self, port, preload):
        raise NotImplementedError

    def shut_down(self, proc, load):
        """Send the shutdown; return the monotonic time it was sent."""
        raise NotImplementedError

    def one_run(self, preload):
        port = free_port()
        proc = self.launch(port, preload)
        wait_port(port, proc)
        load = Load(port, self.proto, self.silent_idle)
        try:
            load.start_idle(IDLE)
            load.closers(CLOSERS)
            load.last_moment(LAST_MOMENT)
            load.start_during()
            t0 = self.shut_down(proc, load)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.fail("%s did not exit within 30 s of the shutdown" % (proc.args,))
            elapsed_ms = (time.monotonic() - t0) * 1000
        finally:
            load.close()
        return proc, elapsed_ms

    def check_server(self, name, scenario):
        self.use_subdir(scenario + "-plain")
        plain, plain_ms = self.one_run(preload=False)
        self.use_subdir(scenario + "-shim")
        shim, shim_ms = self.one_run(preload=True)
        FIGURES.append((name, scenario, plain_ms, shim_ms))
        print("\n  shutdown %s %s: %.1f ms without the shim, %.1f ms with"
              % (name, scenario, plain_ms, shim_ms), flush=True)
        self.assertEqual(shim.returncode, plain.returncode,
                         "exit status changed under the shim")
        reports = self.reports([shim.pid])
        time.sleep(0.2)                 # children exit after the parent (nginx)
        reports = self.reports(list(self.all_pids()))
        bad, counts = [], {}
        for pid, rep in sorted(reports.items()):
            self.assertIsNotNone(rep.summary, "pid %d: no summary\n%s" % (pid, rep.describe()))
            events = [e for e in rep.events if e.get("event") in LEAK_EVENTS]
            for e in events:
                key = "/".join(str(e.get(k)) for k in ("event", "when", "kind") if e.get(k))
                counts[key] = counts.get(key, 0) + 1
            if events or rep.summary.get("leaks"):
                bad.append(rep.describe())
        print("  %s %s: %d process(es), %d with leak events: %s" % (
            name, scenario, len(reports), len(bad), counts or "none"), flush=True)
        self.assertEqual(bad, [], "leak events from a correct server:\n" + "\n".join(bad))
        return reports

    def all_pids(self):
        for name in os.listdir(self.tmp):
            if name.startswith("r.") and name[2:].isdigit():
                yield int(name[2:])


@unittest.skipUnless(shutil.which("nginx"), "nginx is not installed (nginx-light)")
class TestNginx(ServerTestCase):
    daemon = False

    def write_conf(self, port):
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""daemon %(daemon)s;
master_process on;
worker_processes 2;
user root;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    keepalive_timeout 65;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location / { return 200 "ok\\n"; }
    }
}
""" % {"d": self.tmp, "port": port, "daemon": "on" if self.daemon else "off"})
        return conf

    def launch(self, port, preload):
        conf = self.write_conf(port)
        return self.start([shutil.which("nginx"), "-p", self.tmp, "-c", conf, "-e",
                           os.path.join(self.tmp, "error.log")], preload=preload,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def test_nginx_graceful_sigquit_reports_nothing(self):
        """nginx master + 2 workers, SIGQUIT (graceful): no leak events."""
        self.sig = signal.SIGQUIT
        self.silent_idle = False
        reports = self.check_server("nginx", "sigquit")
        self.assertGreaterEqual(len(reports), 3, "master and 2 workers")

    def test_nginx_fast_sigterm_reports_nothing(self):
        """nginx master + 2 workers, SIGTERM (fast): no leak events."""
        self.sig = signal.SIGTERM
        reports = self.check_server("nginx", "sigterm")
        self.assertGreaterEqual(len(reports), 3, "master and 2 workers")

    def shut_down(self, proc, load):
        t0 = time.monotonic()
        proc.send_signal(self.sig)
        return t0


PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper(on):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


@unittest.skipUnless(shutil.which("nginx"), "nginx is not installed (nginx-light)")
class TestNginxDaemon(TestNginx):
    """nginx as it runs by default (daemon on): the launcher forks the
    master and exits at once; the master forks 2 workers. This test process
    is a child subreaper meanwhile, so the master (and the shim's watcher
    processes) are reparented to it and the master's exit status is read
    with waitpid, as an init system would."""

    daemon = True

    def setUp(self):
        super().setUp()
        set_child_subreaper(True)
        self.addCleanup(set_child_subreaper, False)
        self.addCleanup(self.reap_orphans, 0)

    def reap_orphans(self, wait_s):
        """Reap the processes reparented to us (watchers exit with their
        program); wait up to wait_s for the last ones."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.02)

    def one_run(self, preload):
        port = free_port()
        launcher = self.launch(port, preload)
        launcher.wait(30)
        pid_file = os.path.join(self.tmp, "nginx.pid")
        deadline = time.monotonic() + 10
        while not os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(pid_file) as f:
            master = int(f.read())
        wait_port(port, launcher, alive=False)
        load = Load(port, self.proto, self.silent_idle)
        try:
            load.start_idle(IDLE)
            load.closers(CLOSERS)
            load.last_moment(LAST_MOMENT)
            load.start_during()
            t0 = time.monotonic()
            os.kill(master, self.sig)
            deadline = t0 + 30
            while True:
                pid, status = os.waitpid(master, os.WNOHANG)
                if pid == master:
                    break
                if time.monotonic() > deadline:
                    os.kill(master, signal.SIGKILL)
                    os.waitpid(master, 0)
                    self.fail("the nginx master did not exit within 30 s of the shutdown")
                time.sleep(0.001)
            elapsed_ms = (time.monotonic() - t0) * 1000
        finally:
            load.close()
        self.reap_orphans(2)
        self.last_run = DaemonRun(launcher, master, os.waitstatus_to_exitcode(status))
        return self.last_run, elapsed_ms

    def check_daemon(self, scenario):
        reports = self.check_server("nginx-daemon", scenario)
        self.assertGreaterEqual(len(reports), 4, "launcher, master and 2 workers")
        self.assertIn(self.last_run.launcher.pid, reports)
        self.assertIn(self.last_run.master, reports)

    def test_nginx_daemon_graceful_sigquit_reports_nothing(self):
        """nginx daemon on (launcher, master + 2 workers), SIGQUIT to the
        master from the pid file: no leak events in any process."""
        self.sig = signal.SIGQUIT
        self.silent_idle = False
        self.check_daemon("sigquit")

    def test_nginx_daemon_fast_sigterm_reports_nothing(self):
        """nginx daemon on, SIGTERM to the master: no leak events."""
        self.sig = signal.SIGTERM
        self.check_daemon("sigterm")

    test_nginx_graceful_sigquit_reports_nothing = None
    test_nginx_fast_sigterm_reports_nothing = None


class DaemonRun:
    """What a daemonizing server's run gives: the launcher's exit status and
    the master's, compared with and without the shim."""

    def __init__(self, launcher, master, master_status):
        self.launcher = launcher
        self.master = master
        self.pid = launcher.pid
        self.returncode = (launcher.returncode, master_status)


@unittest.skipUnless(shutil.which("redis-server"), "redis-server is not installed")
class TestRedisServer(ServerTestCase):
    proto = RedisProtocol

    def launch(self, port, preload):
        return self.start([shutil.which("redis-server"), "--port", port, "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--daemonize", "no",
                           "--dir", self.tmp], preload=preload,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def shut_down(self, proc, load):
        s = load.connect()
        t0 = time.monotonic()
        s.sendall(b"SHUTDOWN NOSAVE\r\n")
        s.recv(64)
        s.close()
        return t0

    def test_redis_shutdown_with_idle_clients_reports_nothing(self):
        """redis-server SHUTDOWN with 20 idle clients: no leak events."""
        self.check_server("redis", "shutdown")


@unittest.skipUnless(shutil.which("node"), "node is not installed (nodejs)")
class TestNodeHttp(ServerTestCase):
    def launch(self, port, preload):
        return self.start([shutil.which("node"), os.path.join(SCRIPTS, "node_http.js"), port],
                          preload=preload, stdout=subprocess.DEVNULL)

    def shut_down(self, proc, load):
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        return t0

    def test_node_http_sigterm_handler_reports_nothing(self):
        """node http with a SIGTERM handler that exits 0: no leak events."""
        self.check_server("node", "sigterm")


class TestPythonHttpServer(ServerTestCase):
    def launch(self, port, preload):
        return self.start([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", port,
                           "--directory", self.base_tmp], preload=preload,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def shut_down(self, proc, load):
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        return t0

    def test_python_http_server_ctrl_c_reports_nothing(self):
        """python3 -m http.server (ThreadingHTTPServer) stopped with Ctrl-C:
        no leak events."""
        self.check_server("python3", "sigint")


def tearDownModule():
    if FIGURES:
        print("\nshutdown time, signal to exit (ms): server scenario without with")
        for name, scenario, plain, shim in FIGURES:
            print("  %-8s %-9s %7.1f %7.1f" % (name, scenario, plain, shim))


if __name__ == "__main__":
    unittest.main()
