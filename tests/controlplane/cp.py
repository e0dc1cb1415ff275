#!/usr/bin/python3
"""The reference control plane of docs/control-plane.md (protocol version 1).

    cp.py --listen 127.0.0.1:PORT --state DIR [--tls-cert C --tls-key K [--tls-ca CA]]
          [--admin-token T] [--base-url URL] [--admin-remote]
    cp.py sign-bundle --key PEM --payload JSON|FILE|- --generation N [--device-id ID] ...
    cp.py verify JWS|FILE|- --pubkey PEM [--pubkey PEM ...] [--device-id ID]
    cp.py keygen --out PEM

Serving, it prints one JSON line on stdout when it is ready:
    {"listening": "127.0.0.1:PORT", "base_url": ..., "admin_token": ...,
     "signing_keys": [{"kid", "public_key_pem", "active"}], "state": DIR}
and one line per request on stderr. PORT 0 picks a free port (the line says which).

The device API (docs/control-plane.md), under the base URL's path:
    POST /v1/enroll                          compact JWS with a jwk header   -> 201
    GET  /v1/devices/{id}/desired            device token, If-None-Match     -> 200/304/404
    PUT  /v1/devices/{id}/reported           device token, JSON              -> 204
    POST /v1/devices/{id}/events             device token, JSON              -> 200 acked_through
    POST /v1/devices/{id}/diagnostics        device token, any body          -> 201
The admin API (bearer token; from loopback only unless --admin-remote) is under /admin/v1/:
see README.md beside this file. Errors are {"error": {"code", "message"}} everywhere.

Python 3 standard library and python3-cryptography only; run it with /usr/bin/python3.
"""

import argparse
import collections
import http.server
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # imported from elsewhere
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))

import cp_jws as jws  # noqa: E402
from cp_jws import FLEET, Json, JwsError  # noqa: E402
from cp_state import ApiError, State, constant_time_equal  # noqa: E402

MAX_BODY_BYTES = 16 << 20
MAX_DIAGNOSTICS_BYTES = 64 << 20
REQUEST_LOG_SIZE = 20000
DEVICE_ENDPOINTS = ("enroll", "desired", "reported", "events", "diagnostics")
MAX_REFUSE_S = 600

_DEV = r"/v1/devices/([^/]+)"
DEVICE_ROUTES: List[Tuple[str, "re.Pattern[str]", str]] = [
    ("POST", re.compile(r"^/v1/enroll$"), "enroll"),
    ("GET", re.compile("^" + _DEV + "/desired$"), "desired"),
    ("PUT", re.compile("^" + _DEV + "/reported$"), "reported"),
    ("POST", re.compile("^" + _DEV + "/events$"), "events"),
    ("POST", re.compile("^" + _DEV + "/diagnostics$"), "diagnostics"),
]


def log(message: str) -> None:
    sys.stderr.write("%s cp: %s\n" % (jws.rfc3339(time.time()), message))
    sys.stderr.flush()


def media_type(value: Optional[str]) -> str:
    return (value or "").split(";")[0].strip().lower()


def etag_matches(if_none_match: Optional[str], etag: str) -> bool:
    """If-None-Match (RFC 9110 §13.1.2): "*" or a list of tags, compared weakly."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = re.findall(r'(?:W/)?"[^"]*"', if_none_match)
    return etag in [tag[2:] if tag.startswith("W/") else tag for tag in tags]


def _opt_int(body: Json, name: str, low: int, high: int) -> Optional[int]:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ApiError(400, "invalid", "%s must be an integer from %d to %d" % (name, low, high))
    return value


# --- test knobs (in memory only: a restart clears them) ----------------------------------------

class Knobs:
    """Deliberate misbehaviour for tests: bad bundles, injected errors, the device API down."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bad: Dict[str, Json] = {}          # target (device id or "*") -> bundle record
        self.fail: Optional[Json] = None
        self.down: Optional[Json] = None

    def snapshot(self) -> Json:
        with self.lock:
            bad = {t: {"kind": r["kind"], "etag": r["etag"], "remaining": r["remaining"],
                       "generation": (r["claims"] or {}).get("generation")}
                   for t, r in self.bad.items()}
            down = dict(self.down) if self.down else None
            if down and down.get("until") is not None:
                down["for_s_left"] = max(0.0, round(down.pop("until") - time.monotonic(), 1))
            elif down:
                down.pop("until", None)
            return {"bad_bundle": bad, "fail": dict(self.fail) if self.fail else None,
                    "down": down}

    def take_bad_bundle(self, dev: str) -> Optional[Json]:
        with self.lock:
            target = dev if dev in self.bad else FLEET
            record = self.bad.get(target)
            if record is None:
                return None
            if record["remaining"] is not None:
                record["remaining"] -= 1
                if record["remaining"] <= 0:
                    del self.bad[target]
            return record

    def peek_bad_bundle(self, dev: str) -> Optional[Json]:
        with self.lock:
            return self.bad.get(dev) or self.bad.get(FLEET)

    def take_error(self, endpoint: str, dev: Optional[str]) -> Optional[ApiError]:
        """The injected answer for this request, if a knob says so (and counts it)."""
        with self.lock:
            down = self.down
            if down and down["until"] is not None and time.monotonic() >= down["until"]:
                self.down = down = None
            if down and down["mode"] == "503":
                return ApiError(503, "down", "test knob: the control plane is down",
                                _retry_after(down.get("retry_after")))
            fail = self.fail
            if not fail or endpoint not in fail["endpoints"]:
                return None
            if fail["device"] is not None and fail["device"] != dev:
                return None
            if fail["remaining"] is not None:
                fail["remaining"] -= 1
                if fail["remaining"] <= 0:
                    self.fail = None
            return ApiError(fail["status"], "injected_failure",
                            "test knob: answering %d" % fail["status"],
                            _retry_after(fail.get("retry_after")))


def _retry_after(seconds: Optional[int]) -> Dict[str, str]:
    return {"Retry-After": str(seconds)} if seconds is not None else {}


class RequestLog:
    """The device API's requests, newest last, for tests to assert the 304 path and timing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: "collections.deque[Json]" = collections.deque(maxlen=REQUEST_LOG_SIZE)

    def add(self, entry: Json) -> None:
        with self.lock:
            self.entries.append(entry)

    def query(self, device: Optional[str], path: Optional[str], method: Optional[str],
              since: Optional[float]) -> List[Json]:
        with self.lock:
            entries = list(self.entries)
        return [e for e in entries
                if (device is None or e["device"] == device)
                and (path is None or path in e["path"])
                and (method is None or e["method"] == method)
                and (since is None or e["t"] >= since)]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


# --- the control plane -----------------------------------------------------------------------

class ControlPlane:
    """What the request handlers share: state, knobs, configuration, replay cache."""

    def __init__(self, state: State, base_url: str, admin_token: str, admin_remote: bool,
                 ca_pem: Optional[str]) -> None:
        self.state = state
        self.base_url = ""
        self.base_path = ""
        self.set_base_url(base_url)
        self.admin_token = admin_token
        self.admin_remote = admin_remote
        self.ca_pem = ca_pem
        self.knobs = Knobs()
        self.requests = RequestLog()
        self.lock = threading.Lock()
        self.jtis: Dict[Tuple[str, str], float] = {}
        self.last_seen: Dict[str, str] = {}
        self.refusing = False
        self.listener: Optional["Listener"] = None

    def set_base_url(self, base_url: str) -> None:
        """The URL boxes were given (the aud of their tokens); its path prefixes the API."""
        self.base_url = base_url.rstrip("/")
        self.base_path = urllib.parse.urlsplit(self.base_url).path.rstrip("/")

    def route_path(self, path: str) -> str:
        """The path without the base URL's path (a proxy in front may have taken it off)."""
        if self.base_path and (path == self.base_path or path.startswith(self.base_path + "/")):
            return path[len(self.base_path):]
        return path

    def authenticate(self, authorization: Optional[str], dev: str, method: str, route: str,
                     now: float) -> None:
        """The device token checks of the doc, in this order: a token is there, the device
        is known, the signature and claims (jws.check_device_token), the device is not
        disabled, the jti was not seen before its exp."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "device" or not token.strip():
            raise _unauthorized("missing_token", "Authorization: Device <JWS> is required")
        key = self.state.device_key(dev)
        if key is None:
            raise _unauthorized("unknown_device", "no enrolled device %s" % dev)
        try:
            claims = jws.check_device_token(token.strip(), key, device=dev, aud=self.base_url,
                                            method=method, path=self.base_path + route, now=now)
        except JwsError as e:
            code = "bad_token" if e.code == "malformed" else e.code
            raise _unauthorized(code, e.message) from None
        record = self.state.device(dev)
        if record and record.get("disabled"):
            raise ApiError(403, "device_disabled", "device %s is disabled" % dev)
        with self.lock:
            for seen in [k for k, until in self.jtis.items() if until < now]:
                del self.jtis[seen]
            if (dev, claims["jti"]) in self.jtis:
                raise _unauthorized("replayed_token", "this jti was used already")
            self.jtis[(dev, claims["jti"])] = claims["exp"] + jws.CLOCK_SKEW_S
            self.last_seen[dev] = jws.rfc3339(now)

    def enroll_body_for_box(self, token: str) -> Json:
        """What to send to the box's POST /api/v1/cloud/enroll for this token."""
        body: Json = {"url": self.base_url,
                      "bundle_keys": [k["public_key_pem"] for k in self.state.signing_keys()],
                      "enrollment_token": token}
        if self.ca_pem:
            body["ca_pem"] = self.ca_pem
        return body


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, {"WWW-Authenticate": 'Device error="%s"' % code})


# --- HTTP ------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ottbox-cp/1"
    timeout = 120
    server: "Server"

    def do_GET(self) -> None:
        self.handle_request()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        log("%s %s" % (self.client_address[0], format % args))

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # handle_request logs one line of its own per request

    # The request --------------------------------------------------------------------------

    def handle_request(self) -> None:
        cp = self.server.cp
        if cp.refusing:  # "down" in refuse mode: drop even kept-alive connections
            self.close_connection = True
            return
        started = time.monotonic()
        self.answer_status = 0
        self.answer_etag: Optional[str] = None
        self.answer_error: Optional[str] = None
        self.device: Optional[str] = None
        url = urllib.parse.urlsplit(self.path)
        admin = url.path == "/admin" or url.path.startswith("/admin/")
        try:
            self.body = self.read_body(MAX_DIAGNOSTICS_BYTES if url.path.endswith("/diagnostics")
                                       else MAX_BODY_BYTES)
            if admin:
                self.admin(url.path, urllib.parse.parse_qs(url.query))
            else:
                self.device_api(url.path)
        except ApiError as e:
            self.send_error_json(e)
        except Exception:
            traceback.print_exc()
            self.send_error_json(ApiError(500, "internal", "the control plane failed"))
        inm = self.headers.get("If-None-Match")
        log("%s %s %s%s -> %d%s%s %.1fms" % (
            self.client_address[0], self.command, self.path,
            ' inm=%s' % inm if inm else "", self.answer_status,
            " etag=%s" % self.answer_etag if self.answer_etag else "",
            " [%s]" % self.answer_error if self.answer_error else "",
            (time.monotonic() - started) * 1000))
        if not admin:
            cp.requests.add({"t": time.time(), "method": self.command, "path": self.path,
                             "device": self.device, "if_none_match": inm,
                             "status": self.answer_status, "etag": self.answer_etag,
                             "error": self.answer_error})

    def read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
        if length < 0 or length > limit:
            self.close_connection = True
            raise ApiError(413, "too_large", "the body is over %d bytes" % limit)
        return self.rfile.read(length) if length else b""

    def read_chunked(self, limit: int) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "bad_request", "bad chunk size") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            if len(out) + size > limit:
                self.close_connection = True
                raise ApiError(413, "too_large", "the body is over %d bytes" % limit)
            out += self.rfile.read(size)
            self.rfile.readline(1024)

    def json_body(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, "bad_json", "the body is not JSON") from None

    # Answers --------------------------------------------------------------------------------

    def send(self, status: int, body: bytes = b"", content_type: Optional[str] = None,
             headers: Optional[Dict[str, str]] = None) -> None:
        self.answer_status = status
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status not in (204, 304):
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, value: Any, headers: Optional[Dict[str, str]] = None) -> None:
        self.send(status, (json.dumps(value, indent=1) + "\n").encode(), "application/json",
                  headers)

    def send_error_json(self, e: ApiError) -> None:
        self.answer_error = e.code
        self.send_json(e.status, {"error": {"code": e.code, "message": e.message}}, e.headers)

    # The device API ---------------------------------------------------------------------------

    def device_api(self, path: str) -> None:
        cp = self.server.cp
        route = cp.route_path(path)
        matches = [(m, rx.match(route), name) for m, rx, name in DEVICE_ROUTES]
        found = [(name, match) for m, match, name in matches if match and m == self.command]
        if not found:
            if any(match for _, match, _ in matches):
                raise ApiError(405, "method_not_allowed", "%s is not allowed here" % self.command)
            raise ApiError(404, "not_found", "no such endpoint")
        name, match = found[0]
        dev = urllib.parse.unquote(match.group(1)) if match.groups() else None
        self.device = dev
        error = cp.knobs.take_error(name, dev)
        if error:
            raise error
        now = time.time()
        if name == "enroll":
            if media_type(self.headers.get("Content-Type")) != "application/jose":
                raise ApiError(415, "unsupported_media_type", "send Content-Type: application/jose")
            answer = cp.state.enroll(self.body, now)
            self.device = answer["device_id"]
            self.send_json(201, answer)
            return
        assert dev is not None
        cp.authenticate(self.headers.get("Authorization"), dev, self.command, route, now)
        if name == "desired":
            self.device_desired(dev, now)
        elif name == "reported":
            self.require_json()
            cp.state.put_reported(dev, self.json_body(), now)
            self.send(204)
        elif name == "events":
            self.require_json()
            self.send_json(200, {"acked_through": cp.state.add_events(dev, self.json_body(), now)})
        else:
            meta = cp.state.add_diagnostics(dev, self.body, self.headers.get(
                "Content-Type") or "application/octet-stream", now)
            self.send_json(201, {"id": meta["id"], "size": meta["size"]})

    def require_json(self) -> None:
        if media_type(self.headers.get("Content-Type")) != "application/json":
            raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")

    def device_desired(self, dev: str, now: float) -> None:
        cp = self.server.cp
        record = cp.knobs.take_bad_bundle(dev) or cp.state.desired(dev, now)
        if record is None:
            raise ApiError(404, "no_desired_state", "no desired state for %s yet" % dev)
        self.answer_etag = record["etag"]
        if etag_matches(self.headers.get("If-None-Match"), record["etag"]):
            self.send(304, headers={"ETag": record["etag"]})
            return
        self.send(200, record["jws"].encode("ascii"), "application/jose",
                  {"ETag": record["etag"], "Cache-Control": "no-cache"})

    # The admin API ----------------------------------------------------------------------------

    def admin(self, path: str, query: Dict[str, List[str]]) -> None:
        cp = self.server.cp
        peer = self.client_address[0]
        try:
            loopback = ipaddress.ip_address(peer.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback and not cp.admin_remote:
            raise ApiError(403, "admin_local_only", "the admin API answers loopback clients only "
                           "(start with --admin-remote to change that)")
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not constant_time_equal(token.strip(), cp.admin_token):
            raise ApiError(401, "admin_token", "Authorization: Bearer <admin token> is required",
                           {"WWW-Authenticate": "Bearer"})
        for method, rx, handler in ADMIN_ROUTES:
            match = rx.match(path)
            if match and method == self.command:
                args = [urllib.parse.unquote(g) for g in match.groups()]
                handler(self, query, *args)
                return
        if any(rx.match(path) for _, rx, _ in ADMIN_ROUTES):
            raise ApiError(405, "method_not_allowed", "%s is not allowed here" % self.command)
        raise ApiError(404, "not_found", "no such admin endpoint")

    def a_status(self, query: Dict[str, List[str]]) -> None:
        cp = self.server.cp
        unpinned = cp.state.unpinned_key.public_key()
        listening = cp.listener.address if cp.listener else ""
        self.send_json(200, {
            "base_url": cp.base_url, "listening": listening, "state": cp.state.dir,
            "generation": cp.state.bundles["generation"],
            "signing_keys": cp.state.signing_keys(),
            "unpinned_key": {"kid": jws.key_id(unpinned),
                             "public_key_pem": jws.public_key_pem(unpinned)},
            "devices": len(cp.state.devices), "knobs": cp.knobs.snapshot()})

    def a_keys(self, query: Dict[str, List[str]]) -> None:
        self.send_json(200, {"keys": self.server.cp.state.signing_keys()})

    def a_keys_pem(self, query: Dict[str, List[str]]) -> None:
        pems = "".join(k["public_key_pem"] for k in self.server.cp.state.signing_keys())
        self.send(200, pems.encode(), "application/x-pem-file")

    def a_new_key(self, query: Dict[str, List[str]]) -> None:
        kid = self.server.cp.state.add_signing_key()
        self.send_json(201, {"kid": kid, "keys": self.server.cp.state.signing_keys()})

    def a_new_token(self, query: Dict[str, List[str]]) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "invalid", "the body must be a JSON object")
        lifetime = _opt_int(body, "expires_in_s", 1, 365 * 86400)
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or not 8 <= len(token) <= 200):
            raise ApiError(400, "invalid", "token must be a string of 8 to 200 characters")
        cp = self.server.cp
        record = cp.state.create_token(time.time(), lifetime or 24 * 3600, token,
                                       str(body.get("note", "")))
        record["box_enroll"] = cp.enroll_body_for_box(record["token"])
        self.send_json(201, record)

    def a_tokens(self, query: Dict[str, List[str]]) -> None:
        with self.server.cp.state.lock:
            tokens = [dict(t) for t in self.server.cp.state.tokens.values()]
        self.send_json(200, {"tokens": tokens})

    def device_summary(self, dev: str) -> Json:
        cp = self.server.cp
        record = cp.state.device(dev)
        if record is None:
            raise ApiError(404, "not_found", "no device %s" % dev)
        latest = cp.state.get_reported(dev)["latest"] or {}
        events = cp.state.get_events(dev)
        desired = cp.state.desired_record(dev) or cp.state.desired_record(FLEET)
        return {"device_id": dev, "enrolled_at": record.get("enrolled_at"),
                "disabled": record.get("disabled", False), "box": record.get("box", {}),
                "last_seen": cp.last_seen.get(dev),
                "desired_generation": desired["generation"] if desired else None,
                "desired_target": desired["target"] if desired else None,
                "reported_generation": latest.get("generation"),
                "reported_status": latest.get("status"),
                "events_stored": len(events["events"]), "events_duplicates": events["duplicates"]}

    def a_devices(self, query: Dict[str, List[str]]) -> None:
        with self.server.cp.state.lock:
            ids = sorted(self.server.cp.state.devices)
        self.send_json(200, {"devices": [self.device_summary(dev) for dev in ids]})

    def a_device(self, query: Dict[str, List[str]], dev: str) -> None:
        summary = self.device_summary(dev)
        summary["public_key_pem"] = self.server.cp.state.devices[dev]["public_key_pem"]
        self.send_json(200, summary)

    def a_disable(self, query: Dict[str, List[str]], dev: str, action: str) -> None:
        self.server.cp.state.set_disabled(dev, action == "disable")
        self.send_json(200, self.device_summary(dev))

    def a_set_desired(self, query: Dict[str, List[str]], target: str) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "invalid", "the body must be a JSON object")
        record = self.server.cp.state.set_desired(target, body, time.time())
        self.send_json(201, _bundle_view(record))

    def a_get_desired(self, query: Dict[str, List[str]], target: str) -> None:
        cp = self.server.cp
        if target != FLEET and cp.state.device(target) is None:
            raise ApiError(404, "not_found", "no device %s" % target)
        knob = cp.knobs.peek_bad_bundle(target)
        if knob:
            self.send_json(200, dict(_bundle_view(knob), source="knob:" + knob["kind"]))
            return
        record = cp.state.desired_record(target)
        source = "device" if target != FLEET else "fleet"
        if record is None and target != FLEET:
            record, source = cp.state.desired_record(FLEET), "fleet"
        if record is None:
            raise ApiError(404, "no_desired_state", "no desired state for %s" % target)
        self.send_json(200, dict(_bundle_view(record), source=source))

    def a_reported(self, query: Dict[str, List[str]], dev: str) -> None:
        self.send_json(200, self.server.cp.state.get_reported(dev))

    def a_events(self, query: Dict[str, List[str]], dev: str) -> None:
        self.send_json(200, self.server.cp.state.get_events(dev))

    def a_diagnostics(self, query: Dict[str, List[str]], dev: str) -> None:
        self.send_json(200, {"diagnostics": self.server.cp.state.list_diagnostics(dev)})

    def a_diagnostics_one(self, query: Dict[str, List[str]], dev: str, name: str) -> None:
        body, content_type = self.server.cp.state.read_diagnostics(dev, name)
        self.send(200, body, content_type)

    def a_requests(self, query: Dict[str, List[str]]) -> None:
        def one(name: str) -> Optional[str]:
            return query[name][0] if name in query else None
        since = one("since")
        try:
            since_t = float(since) if since is not None else None
        except ValueError:
            raise ApiError(400, "invalid", "since must be a Unix time") from None
        self.send_json(200, {"requests": self.server.cp.requests.query(
            one("device"), one("path"), one("method"), since_t)})

    def a_clear_requests(self, query: Dict[str, List[str]]) -> None:
        self.server.cp.requests.clear()
        self.send(204)

    def a_knobs(self, query: Dict[str, List[str]]) -> None:
        self.send_json(200, self.server.cp.knobs.snapshot())

    def a_clear_knobs(self, query: Dict[str, List[str]], which: Optional[str] = None) -> None:
        knobs = self.server.cp.knobs
        with knobs.lock:
            if which in (None, "fail"):
                knobs.fail = None
            if which in (None, "down"):
                knobs.down = None
            if which in (None, "bad-bundle"):
                device = query["device"][0] if "device" in query else None
                if device is None:
                    knobs.bad.clear()
                else:
                    knobs.bad.pop(device, None)
        self.send(204)

    def a_bad_bundle(self, query: Dict[str, List[str]]) -> None:
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("device"), str):
            raise ApiError(400, "invalid", "device (a device id or \"*\") is required")
        count = _opt_int(body, "count", 1, 1 << 30)
        cp = self.server.cp
        record = cp.state.bad_bundle(body["device"], body, time.time())
        record["remaining"] = count
        with cp.knobs.lock:
            cp.knobs.bad[body["device"]] = record
        self.send_json(201, dict(_bundle_view(record), device=body["device"]))

    def a_fail(self, query: Dict[str, List[str]]) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "invalid", "the body must be a JSON object")
        status = _opt_int(body, "status", 400, 599)
        if status is None:
            raise ApiError(400, "invalid", "status (400 to 599) is required")
        endpoints = body.get("endpoints", ["desired"])
        if not isinstance(endpoints, list) or not endpoints or \
                any(e not in DEVICE_ENDPOINTS for e in endpoints):
            raise ApiError(400, "invalid", "endpoints must list some of " +
                           ", ".join(DEVICE_ENDPOINTS))
        device = body.get("device")
        if device is not None and not isinstance(device, str):
            raise ApiError(400, "invalid", "device must be a device id")
        retry_after = _opt_int(body, "retry_after", 0, 86400) if "retry_after" in body else \
            (1 if status in (429, 503) else None)
        fail = {"status": status, "remaining": _opt_int(body, "count", 1, 1 << 30),
                "retry_after": retry_after, "device": device, "endpoints": endpoints}
        knobs = self.server.cp.knobs
        with knobs.lock:
            knobs.fail = fail
        self.send_json(200, knobs.snapshot())

    def a_down(self, query: Dict[str, List[str]]) -> None:
        body = self.json_body()
        if not isinstance(body, dict) or body.get("mode") not in ("503", "refuse"):
            raise ApiError(400, "invalid", "mode must be \"503\" or \"refuse\"")
        cp = self.server.cp
        if body["mode"] == "refuse":
            seconds = _opt_int(body, "for_s", 1, MAX_REFUSE_S)
            if seconds is None:
                raise ApiError(400, "invalid", "refuse needs for_s (1 to %d): the admin API is "
                               "on the same socket and goes down with it" % MAX_REFUSE_S)
            assert cp.listener is not None
            cp.listener.pause(seconds)
            self.close_connection = True
            self.send_json(202, {"down": {"mode": "refuse", "for_s": seconds}})
            return
        seconds = _opt_int(body, "for_s", 1, 7 * 86400)
        retry_after = _opt_int(body, "retry_after", 0, 86400)
        with cp.knobs.lock:
            cp.knobs.down = {"mode": "503", "retry_after": retry_after,
                             "until": time.monotonic() + seconds if seconds else None}
        self.send_json(200, cp.knobs.snapshot())


def _bundle_view(record: Json) -> Json:
    view = {k: record.get(k) for k in ("target", "kind", "generation", "etag", "kid", "jws",
                                       "claims", "remaining") if k in record}
    if view.get("generation") is None and record.get("claims"):
        view["generation"] = record["claims"].get("generation")
    return view


AdminHandler = Callable[..., None]
_A = "^/admin/v1"
ADMIN_ROUTES: List[Tuple[str, "re.Pattern[str]", AdminHandler]] = [
    ("GET", re.compile(_A + "/status$"), Handler.a_status),
    ("GET", re.compile(_A + "/signing-keys$"), Handler.a_keys),
    ("POST", re.compile(_A + "/signing-keys$"), Handler.a_new_key),
    ("GET", re.compile(_A + "/bundle-keys.pem$"), Handler.a_keys_pem),
    ("GET", re.compile(_A + "/enrollment-tokens$"), Handler.a_tokens),
    ("POST", re.compile(_A + "/enrollment-tokens$"), Handler.a_new_token),
    ("GET", re.compile(_A + "/devices$"), Handler.a_devices),
    ("GET", re.compile(_A + "/devices/([^/]+)$"), Handler.a_device),
    ("POST", re.compile(_A + "/devices/([^/]+)/(disable|enable)$"), Handler.a_disable),
    ("GET", re.compile(_A + "/devices/([^/]+)/desired$"), Handler.a_get_desired),
    ("PUT", re.compile(_A + "/devices/([^/]+)/desired$"), Handler.a_set_desired),
    ("GET", re.compile(_A + "/devices/([^/]+)/reported$"), Handler.a_reported),
    ("GET", re.compile(_A + "/devices/([^/]+)/events$"), Handler.a_events),
    ("GET", re.compile(_A + "/devices/([^/]+)/diagnostics$"), Handler.a_diagnostics),
    ("GET", re.compile(_A + "/devices/([^/]+)/diagnostics/([^/]+)$"), Handler.a_diagnostics_one),
    ("GET", re.compile(_A + "/requests$"), Handler.a_requests),
    ("DELETE", re.compile(_A + "/requests$"), Handler.a_clear_requests),
    ("GET", re.compile(_A + "/knobs$"), Handler.a_knobs),
    ("DELETE", re.compile(_A + "/knobs$"), Handler.a_clear_knobs),
    ("DELETE", re.compile(_A + "/knobs/(bad-bundle|fail|down)$"), Handler.a_clear_knobs),
    ("PUT", re.compile(_A + "/knobs/bad-bundle$"), Handler.a_bad_bundle),
    ("PUT", re.compile(_A + "/knobs/fail$"), Handler.a_fail),
    ("PUT", re.compile(_A + "/knobs/down$"), Handler.a_down),
]


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], cp: ControlPlane,
                 tls: Optional[ssl.SSLContext]) -> None:
        self.cp = cp
        self.tls = tls
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake happens here, in the connection's own thread."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(Handler.timeout)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log("%s TLS handshake failed: %s" % (client_address[0], e))
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log("%s connection error: %s" % (client_address[0], sys.exc_info()[1]))


class Listener:
    """The listening socket, which the "refuse" knob closes and opens again."""

    def __init__(self, cp: ControlPlane, host: str, port: int,
                 tls: Optional[ssl.SSLContext]) -> None:
        self.cp = cp
        self.tls = tls
        self.server = Server((host, port), cp, tls)
        self.host = host
        self.port = int(self.server.server_address[1])
        self.lock = threading.Lock()
        cp.listener = self

    @property
    def address(self) -> str:
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()

    def pause(self, seconds: int) -> None:
        threading.Thread(target=self._pause, args=(seconds,), daemon=True).start()

    def _pause(self, seconds: int) -> None:
        with self.lock:
            time.sleep(0.2)  # the admin answer that asked for this goes out first
            self.cp.refusing = True
            self.server.shutdown()
            self.server.socket.close()
            log("down: refusing connections for %d s" % seconds)
            time.sleep(seconds)
            for attempt in range(50):
                try:
                    self.server = Server((self.host, self.port), self.cp, self.tls)
                    break
                except OSError as e:
                    if attempt == 49:
                        log("cannot listen again on %s: %s" % (self.address, e))
                        os._exit(1)
                    time.sleep(0.1)
            self.cp.refusing = False
            self.start()
            log("up again on %s" % self.address)

    def stop(self) -> None:
        with self.lock:
            self.server.shutdown()
            self.server.socket.close()


# --- command line ------------------------------------------------------------------------------

def parse_listen(text: str) -> Tuple[str, int]:
    match = re.match(r"^\[([0-9a-fA-F:.]+)\]:(\d+)$", text) or re.match(r"^([^:]*):(\d+)$", text)
    if not match:
        raise SystemExit("--listen must be HOST:PORT (or [IPv6]:PORT)")
    return match.group(1) or "0.0.0.0", int(match.group(2))


def serve(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="cp.py", description="The reference control plane.")
    p.add_argument("--listen", default="127.0.0.1:8443", help="HOST:PORT (PORT 0: any free)")
    p.add_argument("--state", required=True, help="the state directory (made if missing)")
    p.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS with")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--tls-ca", help="the CA PEM to hand boxes as ca_pem (default: --tls-cert)")
    p.add_argument("--admin-token", help="the admin API's bearer token (default: kept in "
                   "the state directory, made at first start)")
    p.add_argument("--admin-remote", action="store_true",
                   help="answer admin requests from other hosts than loopback too")
    p.add_argument("--base-url", help="the URL boxes use, and the aud of their tokens "
                   "(default: http(s)://HOST:PORT of --listen)")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.base_url:
        parts = urllib.parse.urlsplit(args.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            p.error("--base-url must be an http(s) URL without a query")
    host, port = parse_listen(args.listen)
    tls = None
    ca_pem = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        with open(args.tls_ca or args.tls_cert) as f:
            ca_pem = f.read()
    unspecified = ipaddress.ip_address(host).is_unspecified if re.match(r"^[0-9a-fA-F:.]+$",
                                                                        host) else False
    if unspecified and not args.base_url:
        p.error("--base-url is needed when listening on all addresses: boxes sign it into "
                "every token as aud")
    state = State(args.state)
    cp = ControlPlane(state, "", state.admin_token(args.admin_token), args.admin_remote, ca_pem)
    listener = Listener(cp, host, port, tls)
    base_url = args.base_url or "%s://%s" % ("https" if tls else "http", listener.address)
    cp.set_base_url(base_url)  # known once the port is (--listen HOST:0)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    listener.start()
    print(json.dumps({"listening": listener.address, "base_url": cp.base_url,
                      "admin_token": cp.admin_token,
                      "signing_keys": [{"kid": k["kid"], "public_key_pem": k["public_key_pem"]}
                                       for k in state.signing_keys()],
                      "state": state.dir}), flush=True)
    log("ready on %s, base URL %s, state %s" % (listener.address, cp.base_url, state.dir))
    while not stop.wait(0.5):
        pass
    log("stopping")
    listener.stop()
    return 0


def read_arg(value: str) -> str:
    """A value given inline, as a file path, or as "-" (standard input)."""
    if value == "-":
        return sys.stdin.read()
    if os.path.exists(value):
        with open(value) as f:
            return f.read()
    return value


def sign_bundle_cmd(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="cp.py sign-bundle",
                                description="Sign a desired-state bundle (for air-gapped boxes).")
    p.add_argument("--key", required=True, help="the signing key, PEM (cp.py keygen makes one)")
    p.add_argument("--payload", required=True, help="the payload: JSON, a file, or -")
    p.add_argument("--generation", required=True, type=int)
    p.add_argument("--device-id", default=FLEET, help='a device id, or "*" (default)')
    p.add_argument("--issued-at", help="RFC 3339 (default: now)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--expires-at", help="RFC 3339")
    group.add_argument("--expires-in", type=int, default=30 * 86400, help="seconds (30 days)")
    p.add_argument("--compat", default=jws.BUNDLE_COMPAT)
    p.add_argument("--poll-interval", type=int, default=60)
    args = p.parse_args(argv)
    with open(args.key, "rb") as f:
        key = jws.load_private_key(f.read())
    payload = json.loads(read_arg(args.payload))
    if not isinstance(payload, dict):
        p.error("the payload must be a JSON object")
    if not jws.POLL_INTERVAL_MIN_S <= args.poll_interval <= jws.POLL_INTERVAL_MAX_S:
        p.error("--poll-interval must be from 10 to 86400")
    issued = jws.parse_rfc3339(args.issued_at) if args.issued_at else time.time()
    expires = jws.parse_rfc3339(args.expires_at) if args.expires_at else issued + args.expires_in
    claims = jws.bundle_claims(device=args.device_id, generation=args.generation,
                               payload=payload, issued_at=issued, expires_at=expires,
                               compat=args.compat, poll_interval_s=args.poll_interval)
    print(jws.sign_bundle(key, claims))
    return 0


def verify_cmd(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="cp.py verify", description="Verify a compact JWS (ES256).")
    p.add_argument("jws", help="the JWS, a file holding it, or -")
    p.add_argument("--pubkey", action="append", required=True,
                   help="PEM public (or private) key(s); repeat for several")
    p.add_argument("--device-id", help="also check a bundle as this box would (typ, compat, "
                   "device_id, expiry)")
    args = p.parse_args(argv)
    keys = []
    for path in args.pubkey:
        with open(path, "rb") as f:
            keys += jws.load_public_keys(f.read())
    token = read_arg(args.jws).strip()
    try:
        if args.device_id:
            jws.check_bundle(token, keys, device=args.device_id, now=time.time())
        parsed = jws.verify_compact(token, keys)
    except JwsError as e:
        print(json.dumps({"valid": False, "code": e.code, "message": e.message}))
        return 1
    print(json.dumps({"valid": True, "header": parsed.header, "payload": parsed.payload},
                     indent=1))
    return 0


def keygen_cmd(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="cp.py keygen", description="Make a P-256 signing key.")
    p.add_argument("--out", required=True, help="where to write the private key (PEM, 0600)")
    args = p.parse_args(argv)
    key = jws.generate_key()
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(jws.private_key_pem(key))
    print(json.dumps({"kid": jws.key_id(key.public_key()),
                      "public_key_pem": jws.public_key_pem(key.public_key())}))
    return 0


COMMANDS = {"sign-bundle": sign_bundle_cmd, "verify": verify_cmd, "keygen": keygen_cmd,
            "serve": serve}


def main(argv: List[str]) -> int:
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
