#!/usr/bin/python3
"""A stand-in for a box on the device side of docs/control-plane.md, and a checker of what
a real box makes.

As a module (tests):
    dev = Device()                          # a fresh P-256 key; dev.device_id is obx-...
    client = Client(base_url, dev)           # talks to a control plane over HTTP(S)
    client.enroll(enrollment_token)          # -> Response(status, headers, body)
    client.desired(etag)                     # GET .../desired with If-None-Match
    client.report({...}); client.events([...]); client.diagnostics(b"...")
    dev.token("GET", "/v1/devices/<id>/desired", aud)   # one device token, for odd requests

As a command:
    device.py new --out KEY.pem                    make a device key; print id, PEM and jwk
    device.py id --key KEY.pem                     print the device id of a key
    device.py token --key KEY.pem --aud URL --method M --path P     print a device token
    device.py enroll-jws --key KEY.pem --token T   print an enrollment JWS
    device.py check-token TOKEN --pubkey PEM --aud URL --method M --path P
                                                   check a box's device token as the
                                                   control plane does (no replay cache)
    device.py check-enroll JWS                     check a box's enrollment JWS

Python 3 standard library and python3-cryptography only; run it with /usr/bin/python3.
"""

import argparse
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # imported from elsewhere
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))

import cp_jws as jws  # noqa: E402
from cp_jws import Json, JwsError, PrivateKey  # noqa: E402


class Device:
    """A device identity: its key, its id, and the JWSs it signs."""

    def __init__(self, key: Optional[PrivateKey] = None) -> None:
        self.key = key or jws.generate_key()
        self.public_key = self.key.public_key()
        self.device_id = jws.device_id(self.public_key)
        self.jwk = jws.public_jwk(self.public_key)
        self.public_key_pem = jws.public_key_pem(self.public_key)

    @classmethod
    def load(cls, path: str) -> "Device":
        with open(path, "rb") as f:
            return cls(jws.load_private_key(f.read()))

    def save(self, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(jws.private_key_pem(self.key))

    def token(self, method: str, path: str, aud: str, **overrides: Any) -> str:
        """A device token (iat now, exp iat + 120, a random jti) for one request.
        overrides: iat, lifetime_s, jti, now, header={...}, claims={...} (None removes)."""
        return jws.make_device_token(self.key, aud=aud, method=method, path=path, **overrides)

    def enroll_jws(self, enrollment_token: str, iat: Optional[int] = None,
                   box: Optional[Json] = None, device: Optional[str] = None) -> str:
        return jws.make_enroll_jws(self.key, enrollment_token,
                                   iat=int(time.time()) if iat is None else iat,
                                   box=box if box is not None else
                                   {"version": "0.0.0-test", "box_name": "test box",
                                    "hardware": []},
                                   device=device)


@dataclass
class Response:
    status: int
    headers: Dict[str, str]
    body: bytes = b""
    reason: str = ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())

    def error_code(self) -> Optional[str]:
        try:
            code = self.json()["error"]["code"]
            return code if isinstance(code, str) else None
        except (ValueError, TypeError, KeyError):
            return None


class Client:
    """A device's HTTP(S) client for the control plane at base_url (the URL the box was
    enrolled with; it is also the aud of every token)."""

    def __init__(self, base_url: str, device: Device, ca_file: Optional[str] = None,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.device = device
        self.timeout = timeout
        parts = urllib.parse.urlsplit(self.base_url)
        self.https = parts.scheme == "https"
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.context: Optional[ssl.SSLContext] = None
        if self.https:
            self.context = ssl.create_default_context(cafile=ca_file)

    def path(self, route: str) -> str:
        return self.base_path + route

    def raw(self, method: str, path: str, body: bytes = b"",
            headers: Optional[Dict[str, str]] = None) -> Response:
        """One request to an exact path (base path included), nothing added."""
        conn: http.client.HTTPConnection
        if self.https:
            conn = http.client.HTTPSConnection(self.netloc, timeout=self.timeout,
                                               context=self.context)
        else:
            conn = http.client.HTTPConnection(self.netloc, timeout=self.timeout)
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data,
                            resp.reason)
        finally:
            conn.close()

    def call(self, method: str, route: str, body: bytes = b"", content_type: Optional[str] = None,
             headers: Optional[Dict[str, str]] = None, token: Optional[str] = None,
             **token_overrides: Any) -> Response:
        """A device request: route under the base path, a fresh device token (or `token`)."""
        path = self.path(route)
        all_headers = dict(headers or {})
        if token is None:
            token = self.device.token(method, path, self.base_url, **token_overrides)
        if token:
            all_headers["Authorization"] = "Device " + token
        if content_type:
            all_headers["Content-Type"] = content_type
        return self.raw(method, path, body, all_headers)

    def devpath(self, what: str, device_id: Optional[str] = None) -> str:
        return "/v1/devices/%s/%s" % (device_id or self.device.device_id, what)

    def enroll(self, enrollment_token: str, jws_text: Optional[str] = None) -> Response:
        body = jws_text or self.device.enroll_jws(enrollment_token)
        return self.raw("POST", self.path("/v1/enroll"), body.encode(),
                        {"Content-Type": "application/jose"})

    def desired(self, etag: Optional[str] = None, **kw: Any) -> Response:
        headers = {"If-None-Match": etag} if etag else {}
        return self.call("GET", self.devpath("desired"), headers=headers, **kw)

    def report(self, reported: Json, **kw: Any) -> Response:
        return self.call("PUT", self.devpath("reported"), json.dumps(reported).encode(),
                         "application/json", **kw)

    def events(self, events: List[Json], **kw: Any) -> Response:
        return self.call("POST", self.devpath("events"), json.dumps({"events": events}).encode(),
                         "application/json", **kw)

    def diagnostics(self, data: bytes, content_type: str = "application/gzip",
                    **kw: Any) -> Response:
        return self.call("POST", self.devpath("diagnostics"), data, content_type, **kw)


# --- command line ------------------------------------------------------------------------------

def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="device.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("new", help="make a device key")
    s.add_argument("--out", required=True)
    s = sub.add_parser("id", help="the device id of a key")
    s.add_argument("--key", required=True)
    s = sub.add_parser("token", help="make a device token")
    s.add_argument("--key", required=True)
    s.add_argument("--aud", required=True)
    s.add_argument("--method", required=True)
    s.add_argument("--path", required=True)
    s = sub.add_parser("enroll-jws", help="make an enrollment JWS")
    s.add_argument("--key", required=True)
    s.add_argument("--token", required=True)
    s = sub.add_parser("check-token", help="check a device token as the control plane does")
    s.add_argument("token")
    s.add_argument("--pubkey", required=True, help="the device's public key, PEM")
    s.add_argument("--aud", required=True)
    s.add_argument("--method", required=True)
    s.add_argument("--path", required=True)
    s.add_argument("--now", type=float, help="Unix time to check at (default: now)")
    s = sub.add_parser("check-enroll", help="check an enrollment JWS")
    s.add_argument("jws")
    args = p.parse_args(argv)

    if args.cmd == "new":
        dev = Device()
        dev.save(args.out)
        print(json.dumps({"device_id": dev.device_id, "public_key_pem": dev.public_key_pem,
                          "jwk": dev.jwk}))
    elif args.cmd == "id":
        print(Device.load(args.key).device_id)
    elif args.cmd == "token":
        print(Device.load(args.key).token(args.method, args.path, args.aud))
    elif args.cmd == "enroll-jws":
        print(Device.load(args.key).enroll_jws(args.token))
    elif args.cmd == "check-token":
        with open(args.pubkey, "rb") as f:
            key = jws.load_public_key(f.read())
        try:
            claims = jws.check_device_token(
                args.token.strip(), key, device=jws.device_id(key), aud=args.aud,
                method=args.method, path=args.path,
                now=args.now if args.now is not None else time.time())
        except JwsError as e:
            print(json.dumps({"valid": False, "code": e.code, "message": e.message}))
            return 1
        print(json.dumps({"valid": True, "claims": claims}))
    elif args.cmd == "check-enroll":
        try:
            key, claims = jws.check_enroll_jws(args.jws.strip())
        except JwsError as e:
            print(json.dumps({"valid": False, "code": e.code, "message": e.message}))
            return 1
        print(json.dumps({"valid": True, "device_id": jws.device_id(key), "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
