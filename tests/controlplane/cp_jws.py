"""Keys, compact JWS with ES256, and the ottbox identities and documents built on them.

docs/control-plane.md (protocol version 1) is the contract; this module is its crypto half,
shared by the reference control plane (cp.py) and the device stand-in (device.py):

  base64url   RFC 4648 §5 without padding; decoding refuses padding and stray characters
  JWS         RFC 7515 compact serialization, header.payload.signature
  ES256       RFC 7518 §3.4: ECDSA P-256 over SHA-256, the signature is raw r || s (64 bytes),
              not DER; cryptography speaks DER, so we convert both ways
  key id      first 8 bytes, lowercase hex, of SHA-256 of the public key's DER
              SubjectPublicKeyInfo (bundle signing keys)
  device id   "obx-" + first 16 bytes, lowercase hex, of the same hash (device keys)

Nothing here keeps state or reads a clock on its own: every check takes `now` from its caller.
Only the standard library and python3-cryptography (Debian's) are used.
"""

import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

DEVICE_TOKEN_TYP = "ottbox-device+jwt"
ENROLL_TYP = "ottbox-enroll+jwt"
BUNDLE_TYP = "ottbox-bundle+jws"
BUNDLE_COMPAT = "ottbox-bundle/1"
DEVICE_TOKEN_LIFETIME_S = 120   # exp = iat + 120 (the doc); longer lifetimes are refused
CLOCK_SKEW_S = 60               # iat..exp must hold the verifier's clock within this much
POLL_INTERVAL_MIN_S = 10
POLL_INTERVAL_MAX_S = 86400
FLEET = "*"                     # a bundle's device_id for every device of the fleet

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_DEVICE_ID = re.compile(r"^obx-[0-9a-f]{32}$")

PublicKey = ec.EllipticCurvePublicKey
PrivateKey = ec.EllipticCurvePrivateKey
Json = Dict[str, Any]


class JwsError(ValueError):
    """A refused token or document. `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- base64url ---------------------------------------------------------------------------

def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict: the URL-safe alphabet only, no padding, no whitespace."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise JwsError("malformed", "not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise JwsError("malformed", "not base64url: %s" % e) from None


def json_bytes(value: Any) -> bytes:
    """Compact JSON, UTF-8, keys in the order given."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- keys --------------------------------------------------------------------------------

def generate_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 private key")
    return key


def load_public_key(pem: bytes) -> PublicKey:
    """A P-256 public key from PEM: a public key, or a private key's public half."""
    if b"PRIVATE KEY" in pem:
        return load_private_key(pem).public_key()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


def load_public_keys(pem: bytes) -> List[PublicKey]:
    """Every public key in a PEM file that may hold several (concatenated)."""
    keys = [load_public_key(m.group(0) + b"\n")
            for m in re.finditer(rb"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", pem, re.S)]
    if not keys:
        raise ValueError("no PEM block found")
    return keys


def public_key_pem(key: PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def spki_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: PublicKey) -> str:
    """A bundle signing key's kid: first 8 bytes hex of SHA-256 of the DER SPKI."""
    return hashlib.sha256(spki_der(key)).digest()[:8].hex()


def device_id(key: PublicKey) -> str:
    """A device's id: "obx-" + first 16 bytes hex of SHA-256 of the DER SPKI."""
    return "obx-" + hashlib.sha256(spki_der(key)).digest()[:16].hex()


def is_device_id(text: Any) -> bool:
    return isinstance(text, str) and bool(_DEVICE_ID.match(text))


def public_jwk(key: PublicKey) -> Json:
    numbers = key.public_numbers()
    return {"kty": "EC", "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big"))}


def jwk_public_key(jwk: Any) -> PublicKey:
    """The key of an EC P-256 JWK (RFC 7518 §6.2): x and y of exactly 32 bytes each, a point
    on the curve. Anything else (a private "d", another curve) is refused."""
    if not isinstance(jwk, dict):
        raise JwsError("bad_jwk", "jwk is not an object")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise JwsError("bad_jwk", "jwk must be kty EC, crv P-256")
    if "d" in jwk:
        raise JwsError("bad_jwk", "jwk carries a private key")
    try:
        x = b64url_decode(jwk.get("x", ""))
        y = b64url_decode(jwk.get("y", ""))
    except JwsError:
        raise JwsError("bad_jwk", "jwk x or y is not base64url") from None
    if len(x) != 32 or len(y) != 32:
        raise JwsError("bad_jwk", "jwk x and y must be 32 bytes each")
    try:
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                             ec.SECP256R1()).public_key()
    except ValueError:
        raise JwsError("bad_jwk", "jwk is not a point on P-256") from None


# --- ES256 and compact JWS ---------------------------------------------------------------

def es256_sign(key: PrivateKey, data: bytes) -> bytes:
    """Raw r || s, 32 bytes each (RFC 7518 §3.4)."""
    r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def es256_verify(key: PublicKey, data: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                     int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def sign_compact(key: PrivateKey, header: Json, payload: Union[Json, bytes]) -> str:
    """A compact JWS. `header` is used as given (alg, typ, kid are the caller's)."""
    body = payload if isinstance(payload, bytes) else json_bytes(payload)
    signing_input = b64url_encode(json_bytes(header)) + "." + b64url_encode(body)
    return signing_input + "." + b64url_encode(es256_sign(key, signing_input.encode("ascii")))


@dataclass
class Compact:
    """A parsed compact JWS, not yet verified."""
    header: Json
    payload: Json
    signing_input: bytes
    signature: bytes

    def verifies_with(self, key: PublicKey) -> bool:
        return self.header.get("alg") == "ES256" and es256_verify(key, self.signing_input,
                                                                  self.signature)


def parse_compact(token: str) -> Compact:
    """Splits and decodes a compact JWS whose header and payload are JSON objects."""
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsError("malformed", "a compact JWS has three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, JwsError):
            raise
        raise JwsError("malformed", "header or payload is not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise JwsError("malformed", "header and payload must be JSON objects")
    return Compact(header, payload, (parts[0] + "." + parts[1]).encode("ascii"),
                   b64url_decode(parts[2]))


def verify_compact(token: str, keys: Iterable[PublicKey], typ: Optional[str] = None) -> Compact:
    """Parses and verifies with one of `keys`: the one the header's kid names (a key id, or
    a device id for a device's own JWS), each in turn when there is no kid. Raises JwsError:
    malformed, bad_alg, bad_typ, unknown_key (a kid that names none of `keys`),
    bad_signature."""
    jws = parse_compact(token)
    if jws.header.get("alg") != "ES256":
        raise JwsError("bad_alg", "alg must be ES256, not %r" % jws.header.get("alg"))
    if typ is not None and jws.header.get("typ") != typ:
        raise JwsError("bad_typ", "typ must be %s" % typ)
    keys = list(keys)
    kid = jws.header.get("kid")
    by_kid = [k for k in keys if kid in (key_id(k), device_id(k))]
    if kid is not None and not by_kid:
        raise JwsError("unknown_key", "kid %r names no known key" % kid)
    for key in by_kid or keys:
        if es256_verify(key, jws.signing_input, jws.signature):
            return jws
    raise JwsError("bad_signature", "the signature does not verify")


# --- time ----------------------------------------------------------------------------------

def rfc3339(t: float) -> str:
    """UTC, whole seconds, "Z": 2026-11-25T10:00:00Z."""
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    if not isinstance(text, str):
        raise ValueError("not a time string")
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("time has no offset")
    return value.timestamp()


def _int_claim(claims: Json, name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise JwsError("bad_token", "%s must be an integer" % name)
    return value


# --- device tokens (every device request) --------------------------------------------------

def make_device_token(key: PrivateKey, *, aud: str, method: str, path: str,
                      iat: Optional[int] = None, now: Optional[float] = None,
                      lifetime_s: int = DEVICE_TOKEN_LIFETIME_S, jti: Optional[str] = None,
                      header: Optional[Json] = None, claims: Optional[Json] = None) -> str:
    """A device token as the doc shows it. `header` and `claims` override fields (tests
    use them to make bad tokens); a None value there removes the field."""
    dev = device_id(key.public_key())
    if iat is None:
        iat = int(now if now is not None else time.time())
    h: Json = {"alg": "ES256", "typ": DEVICE_TOKEN_TYP, "kid": dev}
    c: Json = {"iss": dev, "aud": aud, "iat": iat, "exp": iat + lifetime_s,
               "jti": jti or b64url_encode(os.urandom(16)), "htm": method, "htu": path}
    for base, extra in ((h, header), (c, claims)):
        for name, value in (extra or {}).items():
            if value is None:
                base.pop(name, None)
            else:
                base[name] = value
    return sign_compact(key, h, c)


def same_url(a: Any, b: str) -> bool:
    """Base URLs compare as strings, a trailing "/" aside."""
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def check_device_token(token: str, key: PublicKey, *, device: str, aud: str, method: str,
                       path: str, now: float) -> Json:
    """Every check of the doc but the jti replay cache (the caller keeps that): signature
    with the device's key, typ, kid and iss = the device, aud = the base URL, iat..exp holds
    `now` within CLOCK_SKEW_S, a lifetime of at most DEVICE_TOKEN_LIFETIME_S, htm and htu the
    request's. Returns the claims; raises JwsError with the reason's code."""
    jws = parse_compact(token)
    if jws.header.get("alg") != "ES256":
        raise JwsError("bad_alg", "alg must be ES256")
    if jws.header.get("typ") != DEVICE_TOKEN_TYP:
        raise JwsError("bad_typ", "typ must be %s" % DEVICE_TOKEN_TYP)
    if not es256_verify(key, jws.signing_input, jws.signature):
        raise JwsError("bad_signature", "the signature does not verify with the device key")
    claims = jws.payload
    if claims.get("iss") != device or jws.header.get("kid") != device:
        raise JwsError("wrong_issuer", "iss and kid must be the device id in the path")
    if not same_url(claims.get("aud"), aud):
        raise JwsError("wrong_audience", "aud must be %s" % aud)
    iat, exp = _int_claim(claims, "iat"), _int_claim(claims, "exp")
    if exp <= iat or exp - iat > DEVICE_TOKEN_LIFETIME_S:
        raise JwsError("bad_token", "exp must be after iat by at most %d s"
                       % DEVICE_TOKEN_LIFETIME_S)
    if now < iat - CLOCK_SKEW_S:
        raise JwsError("token_not_yet_valid", "iat is in the future")
    if now > exp + CLOCK_SKEW_S:
        raise JwsError("token_expired", "the token has expired")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 128:
        raise JwsError("bad_token", "jti must be a string of 1 to 128 characters")
    if claims.get("htm") != method:
        raise JwsError("wrong_method", "htm must be %s" % method)
    if claims.get("htu") != path:
        raise JwsError("wrong_path", "htu must be %s" % path)
    return claims


# --- enrollment ----------------------------------------------------------------------------

def make_enroll_jws(key: PrivateKey, enrollment_token: str, *, iat: int,
                    box: Optional[Json] = None, device: Optional[str] = None) -> str:
    """The body of POST {url}/v1/enroll. `device` overrides the derived id (for tests)."""
    pub = key.public_key()
    header = {"alg": "ES256", "typ": ENROLL_TYP, "jwk": public_jwk(pub)}
    payload = {"device_id": device or device_id(pub), "enrollment_token": enrollment_token,
               "iat": iat, "box": box if box is not None else {}}
    return sign_compact(key, header, payload)


def check_enroll_jws(token: str) -> Tuple[PublicKey, Json]:
    """Verifies an enrollment JWS with the key its jwk header carries, and that device_id
    derives from that key. Returns (key, claims). Raises JwsError: malformed, bad_alg,
    bad_typ, bad_jwk, bad_signature, device_id_mismatch, bad_request."""
    jws = parse_compact(token)
    if jws.header.get("alg") != "ES256":
        raise JwsError("bad_alg", "alg must be ES256")
    if jws.header.get("typ") != ENROLL_TYP:
        raise JwsError("bad_typ", "typ must be %s" % ENROLL_TYP)
    key = jwk_public_key(jws.header.get("jwk"))
    if not es256_verify(key, jws.signing_input, jws.signature):
        raise JwsError("bad_signature", "the signature does not verify with the jwk")
    claims = jws.payload
    if claims.get("device_id") != device_id(key):
        raise JwsError("device_id_mismatch", "device_id does not derive from the jwk: "
                       "expected %s" % device_id(key))
    if not isinstance(claims.get("enrollment_token"), str):
        raise JwsError("bad_request", "enrollment_token must be a string")
    _int_claim(claims, "iat")
    if "box" in claims and not isinstance(claims["box"], dict):
        raise JwsError("bad_request", "box must be an object")
    return key, claims


# --- desired-state bundles -------------------------------------------------------------------

def bundle_claims(*, device: str, generation: int, payload: Json, issued_at: float,
                  expires_at: float, compat: str = BUNDLE_COMPAT,
                  poll_interval_s: int = 60) -> Json:
    return {"device_id": device, "generation": generation, "issued_at": rfc3339(issued_at),
            "expires_at": rfc3339(expires_at), "compat": compat,
            "poll_interval_s": poll_interval_s, "payload": payload}


def sign_bundle(key: PrivateKey, claims: Json) -> str:
    header = {"alg": "ES256", "typ": BUNDLE_TYP, "kid": key_id(key.public_key())}
    return sign_compact(key, header, claims)


def check_bundle(token: str, keys: Iterable[PublicKey], *, device: str, now: float,
                 compat: str = BUNDLE_COMPAT) -> Json:
    """What a box checks before it applies, in the doc's order and with its reason codes
    (bad_signature, unknown_key, incompatible, wrong_device, expired); the generation and
    payload checks need the box's state and are left to the caller. Returns the claims."""
    try:
        jws = verify_compact(token, keys, typ=BUNDLE_TYP)
    except JwsError as e:
        if e.code in ("bad_alg", "bad_typ", "malformed"):
            raise JwsError("bad_signature", e.message) from None
        raise
    claims = jws.payload
    if claims.get("compat") != compat:
        raise JwsError("incompatible", "compat %r is not %s" % (claims.get("compat"), compat))
    if claims.get("device_id") not in (device, FLEET):
        raise JwsError("wrong_device", "the bundle is for %r" % claims.get("device_id"))
    try:
        expires = parse_rfc3339(claims.get("expires_at", ""))
    except ValueError:
        raise JwsError("invalid", "expires_at is not an RFC 3339 time") from None
    if expires <= now:
        raise JwsError("expired", "the bundle expired at %s" % claims.get("expires_at"))
    return claims
