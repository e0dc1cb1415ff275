"""Start the reference control plane (cp.py) as a subprocess and drive its admin API.

For test_cp.py here, and for the integration tests that put a real ottboxd next to it:

    with ControlPlane() as cp:                     # a temporary state dir, a free port
        token = cp.new_token()                     # an enrollment token
        cp.set_desired("*", {"settings": {...}}, poll_interval_s=10)
        cp.bad_bundle(device_id, "tampered")       # a test knob
        cp.reported(device_id)["latest"]; cp.events(device_id)["events"]
        cp.requests(device=device_id, path="/desired")

Environment: OTTBOX_KEEP_DATA set keeps the state directory (and cp.log beside it).
"""

import http.client
import json
import os
import select
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
CP = os.path.join(HERE, "cp.py")
PYTHON = "/usr/bin/python3"   # Debian's, the one python3-cryptography is installed for
START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 5

Json = Dict[str, Any]


class AdminError(AssertionError):
    pass


class ControlPlane:
    def __init__(self, state_dir: Optional[str] = None, listen: str = "127.0.0.1:0",
                 args: Sequence[str] = (), ca_file: Optional[str] = None) -> None:
        self.own_dir = tempfile.mkdtemp(prefix="ottbox-cp-") if state_dir is None else None
        self.state_dir = state_dir or os.path.join(self.own_dir or "", "state")
        self.log_path = os.path.join(os.path.dirname(self.state_dir), "cp.log")
        self.listen = listen
        self.args = list(args)
        self.ca_file = ca_file
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.info: Json = {}

    # --- process ---------------------------------------------------------------------------

    def start(self) -> "ControlPlane":
        os.makedirs(os.path.dirname(self.state_dir), exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, CP, "--listen", self.listen, "--state", self.state_dir] + self.args,
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("cp.py did not start:\n" + self.log_text()[-3000:])
            if select.select([self.proc.stdout], [], [], left)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    continue
                line += chunk
        self.info = json.loads(line)
        # Later starts of the same control plane keep its port (and so its base URL).
        self.listen = self.info["listening"]
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        if self.own_dir and not os.environ.get("OTTBOX_KEEP_DATA"):
            shutil.rmtree(self.own_dir, ignore_errors=True)

    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def log_text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    @property
    def admin_token(self) -> str:
        return str(self.info["admin_token"])

    @property
    def signing_keys_pem(self) -> List[str]:
        return [k["public_key_pem"] for k in self.info["signing_keys"]]

    # --- admin API -----------------------------------------------------------------------------

    def admin_raw(self, method: str, path: str, body: Any = None,
                  token: Optional[str] = None) -> "http.client.HTTPResponse":
        host, port = self.info["listening"].rsplit(":", 1)
        host = host.strip("[]")
        conn: http.client.HTTPConnection
        if self.base_url.startswith("https:"):
            ctx = ssl.create_default_context(cafile=self.ca_file)
            ctx.check_hostname = False
            if not self.ca_file:
                ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=ctx)
        else:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Authorization": "Bearer " + (self.admin_token if token is None else token)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        resp.data = resp.read()  # type: ignore[attr-defined]
        conn.close()
        return resp

    def admin(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        resp = self.admin_raw(method, "/admin/v1" + path, body)
        data = resp.data  # type: ignore[attr-defined]
        if resp.status != expect:
            raise AdminError("%s %s: %d %s" % (method, path, resp.status, data.decode()[:500]))
        return json.loads(data) if data and resp.getheader("Content-Type", "").startswith(
            "application/json") else data

    def new_token(self, expires_in_s: int = 600, **kw: Any) -> str:
        return str(self.admin("POST", "/enrollment-tokens",
                              dict(kw, expires_in_s=expires_in_s), 201)["token"])

    def set_desired(self, target: str, payload: Json, **kw: Any) -> Json:
        result: Json = self.admin("PUT", "/devices/%s/desired" % target,
                                  dict(kw, payload=payload), 201)
        return result

    def bad_bundle(self, target: str, kind: str, **kw: Any) -> Json:
        result: Json = self.admin("PUT", "/knobs/bad-bundle",
                                  dict(kw, device=target, kind=kind), 201)
        return result

    def fail(self, status: int, count: Optional[int] = None, **kw: Any) -> Json:
        result: Json = self.admin("PUT", "/knobs/fail", dict(kw, status=status, count=count))
        return result

    def down(self, mode: str, for_s: Optional[int] = None, **kw: Any) -> Json:
        expect = 202 if mode == "refuse" else 200
        result: Json = self.admin("PUT", "/knobs/down", dict(kw, mode=mode, for_s=for_s),
                                  expect)
        return result

    def clear_knobs(self) -> None:
        self.admin("DELETE", "/knobs", expect=204)

    def reported(self, device_id: str) -> Json:
        result: Json = self.admin("GET", "/devices/%s/reported" % device_id)
        return result

    def events(self, device_id: str) -> Json:
        result: Json = self.admin("GET", "/devices/%s/events" % device_id)
        return result

    def requests(self, **filters: Any) -> List[Json]:
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        result: List[Json] = self.admin("GET", "/requests" + ("?" + query if query else ""))[
            "requests"]
        return result
