"""The reference control plane's state and fleet logic, without HTTP.

Everything lives in one directory, as JSON files written atomically (a temporary file,
fsync, rename, fsync of the directory), so a restart finds what the last run left:

  keys/<kid>.pem      bundle signing keys (PKCS#8 PEM, 0600); keys.json names the active one
  keys/unpinned.pem   a key no box pins: the "unpinned_key" test knob signs with it
  admin-token         the admin API's bearer token when none is given on the command line
  tokens.json         enrollment tokens: {token: {token, created_at, expires_at, note,
                      used_by, used_at}}
  devices.json        enrolled devices: {device_id: {device_id, jwk, public_key_pem,
                      enrolled_at, enrollment_token, box, disabled}}
  bundles.json        {"generation": the last one handed out (one counter for the whole
                      fleet, so a device's generations grow whichever target it reads),
                      "fleet_poll_interval_s", "desired": {target: bundle record}}
                      with target a device id or "*" (the fleet)
  reported.json       {device_id: {"latest": {...}, "history": [the last 100]}}
  events.json         {device_id: {"events": [...], "received", "duplicates", "dropped"}}
  diagnostics/<device_id>/<n>-<time>.bin (+ .json: content type, size, time)

Every public method takes the state lock, so the HTTP server's threads can share one State.
"""

import hashlib
import hmac
import json
import os
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import cp_jws as jws
from cp_jws import FLEET, Json, JwsError, PrivateKey, PublicKey

DEFAULT_POLL_INTERVAL_S = 60
DEFAULT_BUNDLE_LIFETIME_S = 30 * 86400
DEFAULT_TOKEN_LIFETIME_S = 24 * 3600
REPORTED_HISTORY = 100
EVENTS_KEPT_PER_DEVICE = 100000
MAX_EVENTS_PER_POST = 500
OTHER_DEVICE = "obx-" + "0" * 32      # the "wrong_device" knob's bundle names this one
REPORTED_STATUSES = ("applied", "rolled_back", "refused", "none")
BAD_BUNDLE_KINDS = ("tampered", "old_generation", "expired", "incompatible", "wrong_device",
                    "unpinned_key", "alg_none", "raw")


class ApiError(Exception):
    """An answer other than success: HTTP status, error code, message, extra headers."""

    def __init__(self, status: int, code: str, message: str,
                 headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """The file has either its old or its new content, whatever happens."""
    directory = os.path.dirname(path) or "."
    tmp = "%s.tmp-%d-%d" % (path, os.getpid(), threading.get_ident())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def etag_for(token: str) -> str:
    """A strong ETag for a bundle: its generation and a hash of its exact bytes."""
    claims = jws.parse_compact(token).payload
    digest = hashlib.sha256(token.encode("ascii")).hexdigest()[:16]
    return '"g%s-%s"' % (claims.get("generation"), digest)


def _int_field(body: Json, name: str, default: Optional[int], low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ApiError(400, "invalid", "%s must be an integer from %d to %d" % (name, low, high))
    return value


class State:
    """The control plane's state directory and what it does with it."""

    def __init__(self, directory: str) -> None:
        self.dir = os.path.abspath(directory)
        self.lock = threading.RLock()
        os.makedirs(os.path.join(self.dir, "keys"), mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "diagnostics"), mode=0o700, exist_ok=True)
        self.keys: Dict[str, PrivateKey] = {}
        self.active_kid = ""
        self.unpinned_key: PrivateKey = self._load_keys()
        self.tokens: Dict[str, Json] = self._load("tokens.json", {})
        self.devices: Dict[str, Json] = self._load("devices.json", {})
        self.bundles: Json = self._load("bundles.json", {
            "generation": 0, "fleet_poll_interval_s": DEFAULT_POLL_INTERVAL_S, "desired": {}})
        self.reported: Dict[str, Json] = self._load("reported.json", {})
        self.events: Dict[str, Json] = self._load("events.json", {})
        self._seqs = {dev: {e["seq"] for e in rec["events"]} for dev, rec in self.events.items()}

    # --- files ------------------------------------------------------------------------------

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _load(self, name: str, default: Any) -> Any:
        try:
            with open(self._path(name), "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            return default

    def _save(self, name: str, value: Any) -> None:
        write_atomic(self._path(name), json.dumps(value, indent=1, sort_keys=True).encode())

    # --- keys -------------------------------------------------------------------------------

    def _load_keys(self) -> PrivateKey:
        keydir = self._path("keys")
        for name in sorted(os.listdir(keydir)):
            if name.endswith(".pem") and name != "unpinned.pem":
                with open(os.path.join(keydir, name), "rb") as f:
                    key = jws.load_private_key(f.read())
                self.keys[jws.key_id(key.public_key())] = key
        self.active_kid = self._load("keys.json", {}).get("active", "")
        if not self.keys:
            self.add_signing_key()
        elif self.active_kid not in self.keys:
            self.active_kid = sorted(self.keys)[0]
        unpinned = os.path.join(keydir, "unpinned.pem")
        if not os.path.exists(unpinned):
            write_atomic(unpinned, jws.private_key_pem(jws.generate_key()))
        with open(unpinned, "rb") as f:
            return jws.load_private_key(f.read())

    def add_signing_key(self) -> str:
        """A new bundle signing key, made the active one (bundles signed from now on use it;
        boxes must pin it first: hand them every key listed by signing_keys())."""
        with self.lock:
            key = jws.generate_key()
            kid = jws.key_id(key.public_key())
            write_atomic(self._path(os.path.join("keys", kid + ".pem")), jws.private_key_pem(key))
            self.keys[kid] = key
            self.active_kid = kid
            self._save("keys.json", {"active": kid})
            return kid

    def signing_keys(self) -> List[Json]:
        with self.lock:
            return [{"kid": kid, "public_key_pem": jws.public_key_pem(key.public_key()),
                     "active": kid == self.active_kid} for kid, key in sorted(self.keys.items())]

    def public_keys(self) -> List[PublicKey]:
        with self.lock:
            return [key.public_key() for key in self.keys.values()]

    def admin_token(self, given: Optional[str]) -> str:
        if given:
            return given
        path = self._path("admin-token")
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip()
        token = jws.b64url_encode(os.urandom(24))
        write_atomic(path, (token + "\n").encode())
        return token

    # --- enrollment ---------------------------------------------------------------------------

    def create_token(self, now: float, expires_in_s: int = DEFAULT_TOKEN_LIFETIME_S,
                     token: Optional[str] = None, note: str = "") -> Json:
        with self.lock:
            token = token or "et-" + jws.b64url_encode(os.urandom(18))
            if token in self.tokens:
                raise ApiError(409, "exists", "that enrollment token exists already")
            record = {"token": token, "created_at": jws.rfc3339(now),
                      "expires_at": jws.rfc3339(now + expires_in_s), "note": note,
                      "used_by": None, "used_at": None}
            self.tokens[token] = record
            self._save("tokens.json", self.tokens)
            return dict(record)

    def enroll(self, body: bytes, now: float) -> Json:
        """POST /v1/enroll: the answer's body, or ApiError (400 for a malformed request, a
        bad signature or a device_id that does not derive from the jwk; 401 for a token that
        is unknown or expired; 409 for a token another device used)."""
        try:
            key, claims = jws.check_enroll_jws(body.decode("ascii", "replace"))
        except JwsError as e:
            raise ApiError(400, e.code, e.message) from None
        dev = claims["device_id"]
        with self.lock:
            record = self.tokens.get(claims["enrollment_token"])
            if record is None:
                raise ApiError(401, "bad_enrollment_token", "unknown enrollment token")
            if jws.parse_rfc3339(record["expires_at"]) <= now:
                raise ApiError(401, "enrollment_token_expired", "the enrollment token expired")
            if record["used_by"] not in (None, dev):
                raise ApiError(409, "enrollment_token_used",
                               "the enrollment token was used by another device")
            if record["used_by"] is None:
                record["used_by"] = dev
                record["used_at"] = jws.rfc3339(now)
                self._save("tokens.json", self.tokens)
            device = self.devices.get(dev, {})
            device.update({"device_id": dev, "jwk": jws.public_jwk(key),
                           "public_key_pem": jws.public_key_pem(key),
                           "enrollment_token": record["token"],
                           "box": claims.get("box", {}), "disabled": device.get("disabled", False)})
            device.setdefault("enrolled_at", jws.rfc3339(now))
            self.devices[dev] = device
            self._save("devices.json", self.devices)
            return {"device_id": dev, "poll_interval_s": self.poll_interval(dev)}

    def device(self, dev: str) -> Optional[Json]:
        with self.lock:
            record = self.devices.get(dev)
            return dict(record) if record else None

    def device_key(self, dev: str) -> Optional[PublicKey]:
        with self.lock:
            record = self.devices.get(dev)
        return jws.jwk_public_key(record["jwk"]) if record else None

    def set_disabled(self, dev: str, disabled: bool) -> None:
        with self.lock:
            if dev not in self.devices:
                raise ApiError(404, "not_found", "no device %s" % dev)
            self.devices[dev]["disabled"] = disabled
            self._save("devices.json", self.devices)

    # --- desired state -------------------------------------------------------------------------

    def next_generation(self) -> int:
        with self.lock:
            self.bundles["generation"] += 1
            self._save("bundles.json", self.bundles)
            return int(self.bundles["generation"])

    def poll_interval(self, dev: str) -> int:
        with self.lock:
            record = self.bundles["desired"].get(dev) or self.bundles["desired"].get(FLEET)
            if record:
                return int(record["poll_interval_s"])
            return int(self.bundles["fleet_poll_interval_s"])

    def sign(self, claims: Json, key: Optional[PrivateKey] = None) -> Json:
        """A bundle record: the JWS, its ETag, its claims and kid."""
        with self.lock:
            key = key or self.keys[self.active_kid]
        token = jws.sign_bundle(key, claims)
        return {"jws": token, "etag": etag_for(token), "kid": jws.key_id(key.public_key()),
                "claims": claims}

    def set_desired(self, target: str, body: Json, now: float) -> Json:
        """A new desired state for a device (or "*", the fleet): signed at once with the next
        generation. body: {"payload": {...}, "poll_interval_s", "expires_in_s", "compat"}."""
        payload = body.get("payload")
        if not isinstance(payload, dict):
            raise ApiError(400, "invalid", "payload must be an object")
        with self.lock:
            if target != FLEET and target not in self.devices:
                raise ApiError(404, "not_found", "no device %s" % target)
            previous = self.bundles["desired"].get(target, {})
            interval = _int_field(body, "poll_interval_s",
                                  previous.get("poll_interval_s", self.poll_interval(target)),
                                  jws.POLL_INTERVAL_MIN_S, jws.POLL_INTERVAL_MAX_S)
            lifetime = _int_field(body, "expires_in_s", DEFAULT_BUNDLE_LIFETIME_S, 1, 10 * 365 * 86400)
            compat = body.get("compat", jws.BUNDLE_COMPAT)
            if not isinstance(compat, str):
                raise ApiError(400, "invalid", "compat must be a string")
            record = self._sign_desired(target, payload, interval, lifetime, compat, now)
            if target == FLEET:
                self.bundles["fleet_poll_interval_s"] = interval
            self._save("bundles.json", self.bundles)
            return record

    def _sign_desired(self, target: str, payload: Json, interval: int, lifetime: int,
                      compat: str, now: float) -> Json:
        claims = jws.bundle_claims(device=target, generation=self.next_generation(),
                                   payload=payload, issued_at=now, expires_at=now + lifetime,
                                   compat=compat, poll_interval_s=interval)
        record = self.sign(claims)
        record.update({"target": target, "generation": claims["generation"],
                       "poll_interval_s": interval, "expires_in_s": lifetime})
        self.bundles["desired"][target] = record
        return record

    def desired(self, dev: str, now: float) -> Optional[Json]:
        """The bundle a device gets: its own desired state, else the fleet's, else None.
        A bundle found expired is signed again, same payload, next generation."""
        with self.lock:
            target = dev if dev in self.bundles["desired"] else FLEET
            record: Optional[Json] = self.bundles["desired"].get(target)
            if record is None:
                return None
            if jws.parse_rfc3339(record["claims"]["expires_at"]) <= now:
                record = self._sign_desired(target, record["claims"]["payload"],
                                            record["poll_interval_s"], record["expires_in_s"],
                                            record["claims"]["compat"], now)
                self._save("bundles.json", self.bundles)
            return dict(record)

    def desired_record(self, target: str) -> Optional[Json]:
        with self.lock:
            record = self.bundles["desired"].get(target)
            return dict(record) if record else None

    def bad_bundle(self, target: str, body: Json, now: float) -> Json:
        """A deliberately bad bundle built from the target's current desired state (an empty
        payload when it has none). Every kind but old_generation takes a new generation, so
        the bundle looks new to a box that applied the current one:

          tampered        the payload is changed after signing (the signature breaks)
          old_generation  validly signed, generation body["generation"] or current - 1
          expired         validly signed, expired a day ago
          incompatible    validly signed, compat body["compat"] or "ottbox-bundle/999"
          wrong_device    validly signed, device_id body["device_id"] or obx-000...0
          unpinned_key    validly signed with keys/unpinned.pem, a key no box pins
          alg_none        header alg "none", no signature
          raw             body["jws"] served as it is
        """
        kind = body.get("kind")
        if kind not in BAD_BUNDLE_KINDS:
            raise ApiError(400, "invalid", "kind must be one of " + ", ".join(BAD_BUNDLE_KINDS))
        with self.lock:
            if target != FLEET and target not in self.devices:
                raise ApiError(404, "not_found", "no device %s" % target)
            if kind == "raw":
                token = body.get("jws")
                if not isinstance(token, str) or not token:
                    raise ApiError(400, "invalid", "raw needs jws, a string")
                digest = hashlib.sha256(token.encode()).hexdigest()[:16]
                return {"kind": kind, "jws": token, "etag": '"raw-%s"' % digest, "claims": None}
            current = self.desired(target, now) if target != FLEET else \
                self.bundles["desired"].get(FLEET)
            base = dict(current["claims"]) if current else jws.bundle_claims(
                device=target, generation=0, payload={}, issued_at=now,
                expires_at=now + DEFAULT_BUNDLE_LIFETIME_S,
                poll_interval_s=self.poll_interval(target))
            base["device_id"] = target
            if kind == "old_generation":
                generation = body.get("generation", int(base["generation"]) - 1)
                if not isinstance(generation, int) or isinstance(generation, bool):
                    raise ApiError(400, "invalid", "generation must be an integer")
                base["generation"] = generation
            else:
                base["generation"] = self.next_generation()
            base["issued_at"] = jws.rfc3339(now)
            key = None
            if kind == "expired":
                base["issued_at"] = jws.rfc3339(now - 2 * 86400)
                base["expires_at"] = jws.rfc3339(now - 86400)
            elif kind == "incompatible":
                base["compat"] = str(body.get("compat", "ottbox-bundle/999"))
            elif kind == "wrong_device":
                base["device_id"] = str(body.get("device_id", OTHER_DEVICE))
            elif kind == "unpinned_key":
                key = self.unpinned_key
            if kind == "alg_none":
                header = {"alg": "none", "typ": jws.BUNDLE_TYP, "kid": self.active_kid}
                token = "%s.%s." % (jws.b64url_encode(jws.json_bytes(header)),
                                    jws.b64url_encode(jws.json_bytes(base)))
                record = {"jws": token, "etag": etag_for(token), "kid": self.active_kid,
                          "claims": base}
            else:
                record = self.sign(base, key)
            if kind == "tampered":
                head, _, sig = str(record["jws"]).split(".")
                changed = dict(base, payload=dict(base["payload"], tampered=True))
                token = "%s.%s.%s" % (head, jws.b64url_encode(jws.json_bytes(changed)), sig)
                record = dict(record, jws=token, etag=etag_for(token), claims=changed)
            record["kind"] = kind
            return record

    # --- reported state, events, diagnostics ---------------------------------------------------

    def put_reported(self, dev: str, body: Any, now: float) -> None:
        if not isinstance(body, dict):
            raise ApiError(400, "invalid", "reported state must be a JSON object")
        generation = body.get("generation")
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise ApiError(400, "invalid", "generation must be an integer >= 0")
        if body.get("status") not in REPORTED_STATUSES:
            raise ApiError(400, "invalid", "status must be one of " + ", ".join(REPORTED_STATUSES))
        for name in ("errors", "channels", "hardware", "commands"):
            if name in body and not isinstance(body[name], list):
                raise ApiError(400, "invalid", "%s must be an array" % name)
        with self.lock:
            entry = self.reported.setdefault(dev, {"latest": None, "history": []})
            stored = dict(body, received_at=jws.rfc3339(now))
            entry["latest"] = stored
            entry["history"] = (entry["history"] + [stored])[-REPORTED_HISTORY:]
            self._save("reported.json", self.reported)

    def get_reported(self, dev: str) -> Json:
        with self.lock:
            return self.reported.get(dev, {"latest": None, "history": []})

    def add_events(self, dev: str, body: Any, now: float) -> int:
        """Stores the events not seen before (by (device, seq)); returns acked_through: the
        highest seq of the batch (of everything received, for an empty batch; 0 if none)."""
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise ApiError(400, "invalid", "events must be an array")
        if len(events) > MAX_EVENTS_PER_POST:
            raise ApiError(400, "too_many_events",
                           "at most %d events in one request" % MAX_EVENTS_PER_POST)
        for i, event in enumerate(events):
            seq = event.get("seq") if isinstance(event, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise ApiError(400, "invalid", "events[%d].seq must be an integer >= 0" % i)
        with self.lock:
            entry = self.events.setdefault(dev, {"events": [], "received": 0, "duplicates": 0,
                                                 "dropped": 0})
            seen = self._seqs.setdefault(dev, set())
            for event in events:
                entry["received"] += 1
                if event["seq"] in seen:
                    entry["duplicates"] += 1
                    continue
                seen.add(event["seq"])
                entry["events"].append(dict(event, received_at=jws.rfc3339(now)))
            entry["events"].sort(key=lambda e: e["seq"])
            extra = len(entry["events"]) - EVENTS_KEPT_PER_DEVICE
            if extra > 0:
                for event in entry["events"][:extra]:
                    seen.discard(event["seq"])
                entry["events"] = entry["events"][extra:]
                entry["dropped"] += extra
            if events:
                self._save("events.json", self.events)
                return int(max(e["seq"] for e in events))
            return int(max(seen)) if seen else 0

    def get_events(self, dev: str) -> Json:
        with self.lock:
            entry = self.events.get(dev, {"events": [], "received": 0, "duplicates": 0,
                                          "dropped": 0})
            return dict(entry, events=list(entry["events"]))

    def add_diagnostics(self, dev: str, body: bytes, content_type: str, now: float) -> Json:
        with self.lock:
            directory = self._path(os.path.join("diagnostics", dev))
            os.makedirs(directory, mode=0o700, exist_ok=True)
            n = len([f for f in os.listdir(directory) if f.endswith(".bin")]) + 1
            name = "%04d-%s" % (n, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)))
            write_atomic(os.path.join(directory, name + ".bin"), body)
            meta = {"id": name, "size": len(body), "content_type": content_type,
                    "received_at": jws.rfc3339(now)}
            write_atomic(os.path.join(directory, name + ".json"), json.dumps(meta).encode())
            return meta

    def list_diagnostics(self, dev: str) -> List[Json]:
        directory = self._path(os.path.join("diagnostics", dev))
        if not os.path.isdir(directory):
            return []
        out = []
        for name in sorted(os.listdir(directory)):
            if name.endswith(".json"):
                with open(os.path.join(directory, name)) as f:
                    out.append(json.load(f))
        return out

    def read_diagnostics(self, dev: str, name: str) -> Tuple[bytes, str]:
        for meta in self.list_diagnostics(dev):
            if meta["id"] == name:
                with open(self._path(os.path.join("diagnostics", dev, name + ".bin")), "rb") as f:
                    return f.read(), meta["content_type"]
        raise ApiError(404, "not_found", "no diagnostics %s for %s" % (name, dev))


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
