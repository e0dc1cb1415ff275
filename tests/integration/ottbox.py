"""Helpers for the integration tests: start a real ottboxd and talk to its REST API.

Box     one daemon with its own temporary data directory and free port(s).
Client  an HTTP(S) client with a cookie jar, the CSRF token and an optional API key.

Environment:
  OTTBOXD          the daemon binary (default output/bin/ottboxd-asan if built, else
                   output/bin/ottboxd, relative to the repository root)
  OTTBOX_KEEP_DATA set to keep the data directories (logs, store) after the tests
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
LSAN_SUPPRESSIONS = os.path.join(HERE, "lsan.supp")

NEW_ADMIN_PASSWORD = "correct horse battery staple"
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 10

# Lines that say a sanitizer found something; any of them fails the run that printed it.
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
)


def daemon_binary():
    """The ottboxd to test: $OTTBOXD, else the ASan build if there is one, else the plain one."""
    path = os.environ.get("OTTBOXD")
    if not path:
        asan = os.path.join(REPO_ROOT, "output", "bin", "ottboxd-asan")
        plain = os.path.join(REPO_ROOT, "output", "bin", "ottboxd")
        path = asan if os.path.exists(asan) else plain
    elif not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            "no ottboxd binary at %s: build it with `make` (and `make -f scripts/build.mk "
            "asan-daemon O=output` for the sanitizer build) or set OTTBOXD" % path)
    return path


def daemon_env(extra=None):
    env = dict(os.environ)
    env.update(extra or {})
    options = "detect_leaks=1"
    env["ASAN_OPTIONS"] = options + (":" + env["ASAN_OPTIONS"] if env.get("ASAN_OPTIONS") else "")
    if os.path.exists(LSAN_SUPPRESSIONS):
        env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % LSAN_SUPPRESSIONS
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_report(text):
    """The sanitizer findings in a log, or "" when there are none."""
    return "\n".join(line for line in text.splitlines()
                     if any(marker in line for marker in SANITIZER_MARKERS))


class DaemonError(AssertionError):
    """The daemon did not start or stop the way it must."""


class Box:
    """One ottboxd process with a fresh data directory.

    extra_args: more daemon options; "{tls_port}" in them is replaced by a free port
    (see tls=True, which adds --listen-tls 127.0.0.1:{tls_port}). env: more environment
    variables for the daemon.
    """

    def __init__(self, extra_args=(), tls=False, data_dir=None, start=True, env=None):
        self.env = dict(env or {})
        self.binary = daemon_binary()
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="ottbox-it-")
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.extra_args = list(extra_args)
        if tls:
            self.extra_args += ["--listen-tls", "127.0.0.1:%d" % self.tls_port]
        self.proc = None
        self.runs = 0               # how many times the daemon was started
        self.returncode = None      # of the last run, once it ended
        self.admin_password = None  # set once the one-time password was changed
        if start:
            self.start()

    # ---- paths and logs ----

    def path(self, *parts):
        return os.path.join(self.data_dir, *parts)

    @property
    def db_path(self):
        return self.path("ottbox.db")

    def _log_path(self, stream, run):
        return self.path("%s.%d.log" % (stream, run))

    def stdout(self, run=None):
        """What the daemon wrote to stdout in one run (default: the latest)."""
        return self._read_log("stdout", run)

    def stderr(self, run=None):
        """What the daemon wrote to stderr (its log) in one run (default: the latest)."""
        return self._read_log("stderr", run)

    def all_stderr(self):
        return "".join(self._read_log("stderr", r) for r in range(1, self.runs + 1))

    def all_stdout(self):
        return "".join(self._read_log("stdout", r) for r in range(1, self.runs + 1))

    def _read_log(self, stream, run):
        run = self.runs if run is None else run
        try:
            with open(self._log_path(stream, run), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def initial_password(self):
        with open(self.path("initial-admin-password"), encoding="utf-8") as f:
            return f.read().strip()

    # ---- process life ----

    def args(self):
        return [self.binary, "--data-dir", self.data_dir,
                "--listen", "127.0.0.1:%d" % self.port] + self.extra_args

    def start(self, wait=True):
        """Starts the daemon; with wait, returns once GET /api/v1/health answers 200."""
        assert self.proc is None, "the daemon is already running"
        self.runs += 1
        self.returncode = None
        out = open(self._log_path("stdout", self.runs), "wb")
        err = open(self._log_path("stderr", self.runs), "wb")
        try:
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=daemon_env(self.env), cwd=REPO_ROOT)
        finally:
            out.close()
            err.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                self.returncode = code
                raise DaemonError("ottboxd exited with %d before it was ready; its log:\n%s"
                                  % (code, self.stderr()))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/api/v1/health")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return
                last_error = "health answered %d" % resp.status
            except OSError as e:
                last_error = str(e)
            time.sleep(0.05)
        self.kill9()
        raise DaemonError("ottboxd did not answer GET /api/v1/health within %d s (%s); its "
                          "log:\n%s" % (timeout, last_error, self.stderr()))

    def wait_exit(self, timeout):
        """Waits for the process to end; returns its exit code, or None when it did not."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.proc = None
        self.returncode = code
        return code

    def signal_stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Sends sig and waits; returns (exit code, seconds). Kills it when it hangs."""
        assert self.proc is not None, "the daemon is not running"
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.wait_exit(timeout)
        elapsed = time.monotonic() - started
        if code is None:
            self.kill9()
            raise DaemonError("ottboxd did not stop within %d s of %s; its log:\n%s"
                              % (timeout, signal.Signals(sig).name, self.stderr()))
        return code, elapsed

    def stop(self, sig=signal.SIGTERM):
        """Stops the daemon and checks that it exited with 0 and no sanitizer report."""
        if self.proc is None:
            return
        code, _ = self.signal_stop(sig)
        report = sanitizer_report(self.stderr())
        if code != 0 or report:
            raise DaemonError("ottboxd exited with %d after %s%s; its log:\n%s"
                              % (code, signal.Signals(sig).name,
                                 " and a sanitizer report" if report else "", self.stderr()))

    def kill9(self):
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.returncode = self.proc.returncode
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        """Stops the daemon (checked) and removes the data directory."""
        try:
            self.stop()
        finally:
            self.kill9()
            if not os.environ.get("OTTBOX_KEEP_DATA"):
                shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- command line ----

    def cli(self, *args, input=None, timeout=30):
        """Runs `ottboxd --data-dir DIR ARGS...`; returns the CompletedProcess (text)."""
        return subprocess.run([self.binary, "--data-dir", self.data_dir] + list(args),
                              input=input, capture_output=True, text=True, env=daemon_env(),
                              cwd=REPO_ROOT, timeout=timeout)

    def cli_ok(self, *args, input=None):
        result = self.cli(*args, input=input)
        if result.returncode != 0:
            raise AssertionError("ottboxd %s exited with %d:\n%s%s"
                                 % (" ".join(args), result.returncode, result.stdout,
                                    result.stderr))
        return result

    def add_user(self, name, role, password, must_change=False):
        """Creates a user with the CLI (`user add NAME --role ROLE --password-stdin`)."""
        args = ["user", "add", name, "--role", role, "--password-stdin"]
        if must_change:
            args.append("--must-change")
        return self.cli_ok(*args, input=password + "\n")

    def create_apikey(self, name, role):
        """Creates an API key with the CLI; returns the key (printed alone on stdout)."""
        return self.cli_ok("apikey", "create", "--name", name, "--role", role).stdout.strip()

    # ---- clients ----

    def client(self, **kwargs):
        return Client(self.port, **kwargs)

    def tls_client(self, **kwargs):
        kwargs.setdefault("tls", True)
        return Client(self.tls_port, **kwargs)

    def admin(self, **kwargs):
        """A client logged in as "admin", changing the one-time password on first use."""
        c = self.client(**kwargs)
        if self.admin_password is None:
            r = c.login("admin", self.initial_password())
            if r.status != 200:
                raise AssertionError("login with the one-time password failed: %r" % (r,))
            r = c.change_password(self.initial_password(), NEW_ADMIN_PASSWORD)
            if r.status != 204:
                raise AssertionError("changing the one-time password failed: %r" % (r,))
            self.admin_password = NEW_ADMIN_PASSWORD
        else:
            r = c.login("admin", self.admin_password)
            if r.status != 200:
                raise AssertionError("admin login failed: %r" % (r,))
        return c


class Response(tuple):
    """(status, headers, parsed JSON or None); also .status, .headers, .json, .raw."""

    def __new__(cls, status, headers, data, raw):
        self = super().__new__(cls, (status, headers, data))
        self.raw = raw
        return self

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    json = property(lambda self: self[2])

    def header(self, name):
        return self.headers.get(name)

    def set_cookies(self):
        return self.headers.get_all("Set-Cookie") or []

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:500].decode("utf-8", "replace"))


def parse_set_cookie(header):
    """'n=v; Path=/; HttpOnly' -> ('n', 'v', {'path': '/', 'httponly': True})."""
    parts = [p.strip() for p in header.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        if not p:
            continue
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return name.strip(), value.strip(), attrs


class Client:
    """A small HTTP client for the ottbox API.

    Remembers cookies (ob_session), the csrf_token of the last login (sent as X-CSRF-Token
    on POST/PATCH/PUT/DELETE), and sends api_key as Authorization: Bearer when given.
    Each request uses a new connection unless keep_alive is set.
    """

    STATE_CHANGING = ("POST", "PATCH", "PUT", "DELETE")

    def __init__(self, port, host="127.0.0.1", api_key=None, tls=False, ssl_context=None,
                 source_address=None, timeout=30, keep_alive=False):
        self.host = host
        self.port = port
        self.api_key = api_key
        self.tls = tls
        self.ssl_context = ssl_context
        self.source_address = source_address
        self.timeout = timeout
        self.keep_alive = keep_alive
        self.cookies = {}
        self.csrf_token = None
        self.history = []    # (method, path, status) of every answer
        self._conn = None

    def _connect(self):
        src = (self.source_address, 0) if self.source_address else None
        if self.tls:
            ctx = self.ssl_context
            if ctx is None:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                               context=ctx, source_address=src)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                          source_address=src)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def cookie_header(self):
        return "; ".join("%s=%s" % kv for kv in self.cookies.items())

    def request(self, method, path, body=None, headers=None, raw=None,
                content_type="application/json", csrf=True, auth=True):
        """Sends one request. body is encoded as JSON; raw (bytes/str) is sent as is.
        csrf=False leaves out X-CSRF-Token; auth=False leaves out the API key and cookies."""
        hdrs = {}
        payload = None
        if raw is not None:
            payload = raw.encode("utf-8") if isinstance(raw, str) else raw
        elif body is not None:
            payload = json.dumps(body).encode("utf-8")
        if payload is not None and content_type:
            hdrs["Content-Type"] = content_type
        if auth and self.api_key:
            hdrs["Authorization"] = "Bearer " + self.api_key
        if auth and self.cookies:
            hdrs["Cookie"] = self.cookie_header()
        if csrf and self.csrf_token and method in self.STATE_CHANGING:
            hdrs["X-CSRF-Token"] = self.csrf_token
        if not self.keep_alive:
            hdrs["Connection"] = "close"
        hdrs.update(headers or {})
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.request(method, path, body=payload, headers=hdrs)
            resp = self._conn.getresponse()
            data = resp.read()
        except Exception:
            self.close()
            raise
        if not self.keep_alive or resp.will_close:
            self.close()
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, value, attrs = parse_set_cookie(header)
            if attrs.get("max-age") == "0" or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        parsed = None
        if data.strip():
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
        self.history.append((method, path, resp.status))
        return Response(resp.status, resp.headers, parsed, data)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # ---- session helpers ----

    def login(self, name, password):
        r = self.post("/api/v1/session", {"name": name, "password": password})
        if r.status == 200 and r.json:
            self.csrf_token = r.json.get("csrf_token")
        return r

    def logout(self):
        r = self.delete("/api/v1/session")
        if r.status == 204:
            self.csrf_token = None
        return r

    def change_password(self, current, new):
        return self.post("/api/v1/session/password",
                         {"current_password": current, "new_password": new})

    @property
    def session_id(self):
        return self.cookies.get("ob_session")


def tls_context_for(pem_path):
    """An SSL context that trusts only the certificate in pem_path and checks host names."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=pem_path)
    return ctx


def quote(segment):
    return urllib.parse.quote(segment, safe="")


def assert_error(test, resp, status, code=None, mentions=()):
    """Checks an error answer: the status, the body {"error": {"code", "message",
    "field"?}} and nothing else, the machine code when given, and that the message names each of
    mentions. Returns the message."""
    test.assertEqual(resp.status, status, "expected %d, got %r" % (status, resp))
    test.assertIsInstance(resp.json, dict, "error body is not a JSON object: %r" % (resp,))
    test.assertEqual(set(resp.json), {"error"}, "error body: %r" % (resp.json,))
    error = resp.json["error"]
    test.assertIsInstance(error, dict, "error body: %r" % (resp.json,))
    test.assertIn(set(error), ({"code", "message"}, {"code", "message", "field"}),
                  "error body: %r" % (resp.json,))
    if "field" in error:
        # The field an error is about is the one its message names first.
        test.assertTrue(error["message"].startswith(error["field"] + ": "),
                        "error body: %r" % (resp.json,))
    test.assertIsInstance(error["code"], str)
    test.assertIsInstance(error["message"], str)
    test.assertTrue(error["message"], "the error message is empty")
    if code is not None:
        test.assertEqual(error["code"], code, "error body: %r" % (resp.json,))
    for word in mentions:
        test.assertIn(str(word), error["message"], "error body: %r" % (resp.json,))
    return error["message"]


class BoxTestCase:
    """Mixin for unittest.TestCase: one Box for the whole class (cls.box).

    box_args: keyword arguments for Box. With login_admin = True, cls.admin is a client
    logged in as admin with the one-time password already changed."""

    box_args = {}
    login_admin = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.box = Box(**cls.box_args)
        cls.addClassCleanup(cls.box.close)
        if cls.login_admin:
            cls.admin = cls.box.admin()
