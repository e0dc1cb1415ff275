"""An independent implementation of the Akamai EdgeAuth token 2.0 format, for cross-checking
ottboxd's C implementation (firmware/access/token.c) byte for byte.

Written from the published description of Akamai's EdgeAuth token generators
(EdgeAuth-Token-Python, -Java, -Node: their READMEs and documented behaviour) with nothing
but the standard library. docs/access.md is the description of the format both sides follow:

  token      = [ "ip=" IP "~" ] [ "st=" START "~" ] "exp=" END [ "~acl=" ACL ]
               [ "~id=" ID ] [ "~data=" DATA ] "~hmac=" HEX
  MAC input  = the token without "~hmac=HEX", then "~url=" URL in url mode (the url is
               signed but never written into the token)
  MAC        = HMAC-SHA256 keyed with the hex-decoded secret, as lowercase hex
  escape_early (off by default in every generator): ip, id, data and url are form-encoded
               (quote_plus, '/' included) with lowercase %xx before use; acl never is.

Used as a module by tests/integration/test_token_interop.py: generate() and verify().
"""

import hashlib
import hmac
import ipaddress
import re
import time
import urllib.parse

FIELD_DELIMITER = "~"
ACL_DELIMITER = "!"
FIELD_ORDER = ("ip", "st", "exp", "acl", "id", "data", "hmac")
MAX_TOKEN_CHARS = 2048
MAX_PATH_BYTES = 1024


class TokenError(ValueError):
    """The inputs cannot make a token."""


def escape_early(text):
    """quote_plus with lowercase escapes: what the generators do with escape_early on."""
    quoted = urllib.parse.quote_plus(text, safe="")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted)


def _mac(key_hex, message):
    return hmac.new(bytes.fromhex(key_hex), message.encode("utf-8"), hashlib.sha256).hexdigest()


def generate(key_hex, acl=None, url=None, start=None, window=None, exp=None, ip=None,
             session_id=None, data=None, escape=False, now=None):
    """A token as the EdgeAuth generators write it. acl may be a list (joined with '!').
    start: seconds, or None for no st field. exp wins over window; without a start, the
    window counts from now."""
    if isinstance(acl, (list, tuple)):
        acl = ACL_DELIMITER.join(acl)
    if bool(acl) == bool(url):
        raise TokenError("give exactly one of acl and url")
    if exp is None:
        if not window:
            raise TokenError("give exp or a window")
        base = start if start is not None else int(now if now is not None else time.time())
        exp = base + window
    if start is not None and exp <= start:
        raise TokenError("exp must come after st")
    esc = escape_early if escape else (lambda text: text)
    fields = []
    if ip:
        fields.append("ip=" + esc(ip))
    if start is not None:
        fields.append("st=%d" % start)
    fields.append("exp=%d" % exp)
    if acl:
        fields.append("acl=" + acl)
    if session_id:
        fields.append("id=" + esc(session_id))
    if data:
        fields.append("data=" + esc(data))
    message = FIELD_DELIMITER.join(fields)
    if url:
        message += FIELD_DELIMITER + "url=" + esc(url)
    return FIELD_DELIMITER.join(fields + ["hmac=" + _mac(key_hex, message)])


# ---- verification ----

def normalize_path(raw):
    """The path ACLs are matched against, or None when it is refused (see docs/access.md)."""
    if not raw.startswith("/") or len(raw.encode("utf-8")) > MAX_PATH_BYTES:
        return None
    if any(c in raw for c in "\\?#"):
        return None
    out = bytearray()
    data = raw.encode("utf-8")
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x25:  # '%'
            hexpart = data[i + 1:i + 3]
            if len(hexpart) != 2 or not re.fullmatch(rb"[0-9A-Fa-f]{2}", hexpart):
                return None
            b = int(hexpart, 16)
            if b in (0x2F, 0x5C, 0x25):  # encoded '/', '\', '%'
                return None
            i += 3
        else:
            i += 1
        if b < 0x20 or b == 0x7F:
            return None
        out.append(b)
    segments = out.split(b"/")[1:]
    kept = []
    for seg in segments:
        if seg == b"..":
            return None
        if seg in (b"", b"."):
            continue
        kept.append(seg)
    trailing = segments and segments[-1] in (b"", b".")
    path = b"/" + b"/".join(kept)
    if kept and trailing:
        path += b"/"
    return path


def acl_entry_regex(entry):
    """An ACL entry as a regular expression over bytes: '*' any run, '?' one byte, %XX that
    byte literally."""
    parts = []
    i = 0
    raw = entry.encode("utf-8")
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b"*":
            parts.append(b".*")
            i += 1
        elif c == b"?":
            parts.append(b".")
            i += 1
        elif c == b"%":
            parts.append(re.escape(bytes([int(raw[i + 1:i + 3], 16)])))
            i += 3
        else:
            parts.append(re.escape(c))
            i += 1
    return re.compile(b"".join(parts), re.DOTALL)


def parse(token):
    """The fields of a token as a dict, or None when it is malformed."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
        return None
    fields = {}
    last = -1
    for part in token.split(FIELD_DELIMITER):
        name, eq, value = part.partition("=")
        if not eq or name not in FIELD_ORDER or FIELD_ORDER.index(name) <= last:
            return None
        last = FIELD_ORDER.index(name)
        fields[name] = value
    if "exp" not in fields or "hmac" not in fields:
        return None
    for name in ("st", "exp"):
        if name in fields and not re.fullmatch(r"[0-9]{1,12}", fields[name]):
            return None
    if not re.fullmatch(r"[0-9a-f]{64}", fields["hmac"]):
        return None
    if "acl" in fields:
        entries = fields["acl"].split(ACL_DELIMITER)
        if any(not e for e in entries) or re.search(r"%(?![0-9A-Fa-f]{2})", fields["acl"]):
            return None
    if "ip" in fields and _address(fields["ip"]) is None:
        return None
    return fields


def _address(text):
    try:
        addr = ipaddress.ip_address(urllib.parse.unquote(text))
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def verify(token, keys_hex, path, now, client_ip=None, skew=0, escape_url=False):
    """The decision for a request, as ottboxd names it: "ok", "missing", "malformed",
    "bad_signature", "not_yet_valid", "expired", "address" or "outside_acl"."""
    if not token:
        return "missing"
    fields = parse(token)
    if fields is None:
        return "malformed"
    signed = token[:token.rindex(FIELD_DELIMITER + "hmac=")]
    normalized = normalize_path(path)
    if "acl" not in fields:
        if normalized is None:
            return "outside_acl"
        url = normalized.decode("utf-8", "surrogateescape")
        signed += FIELD_DELIMITER + "url=" + (escape_early(url) if escape_url else url)
    if not any(hmac.compare_digest(_mac(k, signed), fields["hmac"]) for k in keys_hex):
        return "bad_signature"
    if "st" in fields and now < int(fields["st"]) - skew:
        return "not_yet_valid"
    if now > int(fields["exp"]) + skew:
        return "expired"
    if "ip" in fields and (client_ip is None or _address(fields["ip"]) != _address(client_ip)):
        return "address"
    if "acl" in fields:
        if normalized is None or not any(acl_entry_regex(e).fullmatch(normalized)
                                         for e in fields["acl"].split(ACL_DELIMITER)):
            return "outside_acl"
    return "ok"
