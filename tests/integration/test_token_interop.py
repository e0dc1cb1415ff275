"""Playback tokens (issue 5): ottboxd's EdgeAuth 2.0 core and the independent Python
reference (tests/token/edgeauth_ref.py) agree byte for byte, both ways.

Tokens made by the reference (ACLs, ACL lists with '!', url mode, ip, id, data, odd
characters, escape_early) open the paths they name through `ottboxd token-verify`; the same
inputs given to `ottboxd token-issue` give the identical string, which the reference accepts;
denials carry the same reason on both sides. No daemon runs: the commands work offline.
"""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "token"))

import edgeauth_ref as ref  # noqa: E402
from ottbox import REPO_ROOT, daemon_binary, daemon_env, sanitizer_report  # noqa: E402

KEY1 = "5f0c1e3d9a7b2c4e6f8a0b1c2d3e4f50"        # the signing key
KEY2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"  # another key of the ring, tried first
NOW = 1735689600                                 # 2025-01-01T00:00:00Z

# name: (generator inputs, request path, client address)
CASES = {
    "acl": (dict(acl="/live/premium/*", start=NOW - 60, window=3600),
            "/live/premium/720p/seg_00042.m4s", None),
    "acl list": (dict(acl=["/live/premium/news/*", "/vod/premium/abc/*"], start=NOW,
                      window=600),
                 "/vod/premium/abc/1080p/init.mp4", None),
    "acl one-character wildcard": (dict(acl="/live/sport/seg_?.m4s", exp=NOW + 30),
                                   "/live/sport/seg_7.m4s", None),
    "acl whole site, no st": (dict(acl="/*", window=300, now=NOW), "/any/thing.m3u8", None),
    "url": (dict(url="/live/demo/master.m3u8", start=NOW, window=60),
            "/live/demo/master.m3u8", None),
    "url, escape_early": (dict(url="/vod/a b/c(1).mp4", exp=NOW + 60, escape=True),
                          "/vod/a%20b/c(1).mp4", None),
    "ip, id, data": (dict(acl="/live/premium/*", start=NOW, exp=NOW + 120, ip="198.51.100.7",
                          session_id="viewer-42", data="plan=gold"),
                     "/live/premium/master.m3u8", "198.51.100.7"),
    "ipv6, escape_early": (dict(acl="/live/*", exp=NOW + 120, ip="2001:db8::7",
                                session_id="s/1 2", escape=True),
                           "/live/x.m3u8", "2001:db8:0:0::7"),
    "odd characters": (dict(acl="/vod/premium/*!/vod/trailers/*", exp=NOW + 99,
                            session_id="viewer@example.com",
                            data="plan=gold&tier=1 /x!y*z'\"(){}[]<>|^`$#;,:@+"),
                       "/vod/trailers/a.m4s", None),
    "odd characters, escape_early": (dict(acl="/live/*", start=NOW - 5, exp=NOW + 99,
                                          session_id="a+b c", data="\u00e4 \u00f6/\u00fc?&=",
                                          escape=True),
                                     "/live/caf%C3%A9/seg.m4s", None),
}


def cli_args(inputs):
    """The token-issue options for the reference generator's inputs."""
    args = []
    acl = inputs.get("acl")
    for entry in ([acl] if isinstance(acl, str) else acl or []):
        args += ["--acl", entry]
    for name, option in (("url", "--url"), ("start", "--start"), ("window", "--window"),
                         ("exp", "--exp"), ("ip", "--ip"), ("session_id", "--id"),
                         ("data", "--data"), ("now", "--now")):
        if inputs.get(name) is not None:
            args += [option, str(inputs[name])]
    if inputs.get("escape"):
        args.append("--escape-early")
    return args


class TokenInteropTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.binary = daemon_binary()
        cls.dir = tempfile.TemporaryDirectory(prefix="ottbox-token-")
        cls.key1 = os.path.join(cls.dir.name, "key1.hex")
        cls.key2 = os.path.join(cls.dir.name, "key2.hex")
        for path, key in ((cls.key1, KEY1), (cls.key2, KEY2)):
            with open(path, "w", encoding="ascii") as f:
                f.write(key + "\n")
            os.chmod(path, 0o600)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def run_cli(self, *args, input=None):
        result = subprocess.run([self.binary] + list(args), input=input, capture_output=True,
                                text=True, env=daemon_env(), cwd=REPO_ROOT, timeout=60)
        self.assertEqual(sanitizer_report(result.stderr), "", result.stderr)
        return result

    def c_issue(self, inputs):
        result = self.run_cli("token-issue", "--key-file", self.key1, *cli_args(inputs))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.endswith("\n"))
        return result.stdout[:-1]

    def c_verify(self, token, path, ip=None, escape=False, now=NOW, skew=0, keys=None):
        args = ["token-verify", token, "--path", path, "--now", str(now), "--skew", str(skew)]
        for key in keys or (self.key2, self.key1):
            args += ["--key-file", key]
        if ip:
            args += ["--ip", ip]
        if escape:
            args.append("--escape-early")
        result = self.run_cli(*args)
        reason = result.stdout.strip()
        self.assertEqual(result.returncode, 0 if reason == "ok" else 1,
                         "%s: %s" % (reason, result.stderr))
        return reason

    def test_reference_tokens_open_their_paths_in_ottboxd(self):
        for name, (inputs, path, ip) in CASES.items():
            with self.subTest(name):
                token = ref.generate(KEY1, **inputs)
                self.assertEqual(ref.verify(token, [KEY1], path, NOW, ip,
                                            escape_url=inputs.get("escape", False)), "ok")
                self.assertEqual(self.c_verify(token, path, ip, inputs.get("escape", False)),
                                 "ok", token)

    def test_ottboxd_issues_the_reference_tokens_byte_for_byte(self):
        for name, (inputs, path, ip) in CASES.items():
            with self.subTest(name):
                expected = ref.generate(KEY1, **inputs)
                token = self.c_issue(inputs)
                self.assertEqual(token, expected)
                self.assertEqual(ref.verify(token, [KEY2, KEY1], path, NOW, ip,
                                            escape_url=inputs.get("escape", False)), "ok")

    def test_the_key_can_come_on_stdin(self):
        inputs, path, _ = CASES["acl list"]
        result = self.run_cli("token-issue", "--key-file", "-", *cli_args(inputs),
                              input=KEY1 + "\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), ref.generate(KEY1, **inputs))

    def test_denials_agree_with_the_reference(self):
        acl_token = ref.generate(KEY1, acl=["/live/premium/*", "/vod/x/*"], start=NOW,
                                 exp=NOW + 60, ip="192.0.2.1", session_id="v1")
        url_token = ref.generate(KEY1, url="/live/demo/master.m3u8", exp=NOW + 60)
        tampered = acl_token.replace("id=v1", "id=v2")
        duplicated = acl_token.replace("~acl=", "~exp=%d~acl=" % (NOW + 60))
        # (token, path, client, now, expected reason)
        cases = [
            (acl_token, "/live/premium/a.m4s", "192.0.2.1", NOW, "ok"),
            (acl_token, "/live/premium/a.m4s", "192.0.2.1", NOW + 61, "expired"),
            (acl_token, "/live/premium/a.m4s", "192.0.2.1", NOW - 1, "not_yet_valid"),
            (acl_token, "/live/premium/a.m4s", "192.0.2.2", NOW, "address"),
            (acl_token, "/live/public/a.m4s", "192.0.2.1", NOW, "outside_acl"),
            (acl_token, "/live/premium/../public/a.m4s", "192.0.2.1", NOW, "outside_acl"),
            (acl_token, "/live/premium/%2e%2e/x", "192.0.2.1", NOW, "outside_acl"),
            (acl_token, "/live/premium%2f..%2fx", "192.0.2.1", NOW, "outside_acl"),
            (tampered, "/live/premium/a.m4s", "192.0.2.1", NOW, "bad_signature"),
            (duplicated, "/live/premium/a.m4s", "192.0.2.1", NOW, "malformed"),
            (acl_token + "~x=1", "/live/premium/a.m4s", "192.0.2.1", NOW, "malformed"),
            (url_token, "/live/demo/master.m3u8", None, NOW, "ok"),
            (url_token, "/live/demo/720p.m3u8", None, NOW, "bad_signature"),
        ]
        for token, path, ip, now, expected in cases:
            with self.subTest(path=path, now=now - NOW, expected=expected):
                self.assertEqual(ref.verify(token, [KEY2, KEY1], path, now, ip), expected)
                self.assertEqual(self.c_verify(token, path, ip, now=now), expected)

    def test_the_skew_allowance(self):
        token = ref.generate(KEY1, acl="/*", start=NOW, exp=NOW + 60)
        self.assertEqual(self.c_verify(token, "/a", now=NOW - 30, skew=30), "ok")
        self.assertEqual(self.c_verify(token, "/a", now=NOW - 31, skew=30), "not_yet_valid")
        self.assertEqual(self.c_verify(token, "/a", now=NOW + 90, skew=30), "ok")
        self.assertEqual(self.c_verify(token, "/a", now=NOW + 91, skew=30), "expired")

    def test_a_ring_without_the_signing_key_refuses(self):
        token = ref.generate(KEY1, acl="/*", exp=NOW + 60)
        self.assertEqual(self.c_verify(token, "/a", keys=[self.key2]), "bad_signature")

    def test_usage_errors_exit_2(self):
        bad_key = os.path.join(self.dir.name, "bad.hex")
        with open(bad_key, "w", encoding="ascii") as f:
            f.write("not hex at all\n")
        token = ref.generate(KEY1, acl="/*", exp=NOW + 60)
        for args in (
                ["token-issue", "--acl", "/*", "--window", "60"],                 # no key
                ["token-issue", "--key-file", bad_key, "--acl", "/*", "--window", "60"],
                ["token-issue", "--key-file", "/nonexistent", "--acl", "/*", "--window", "60"],
                ["token-issue", "--key-file", self.key1, "--acl", "/*", "--url", "/a",
                 "--window", "60"],
                ["token-issue", "--key-file", self.key1, "--acl", "/*"],          # no lifetime
                ["token-issue", "--key-file", self.key1, "--acl", "/*", "--window", "ten"],
                ["token-issue", "--key-file", self.key1, "--acl", "/*", "--window", "60",
                 "--id", "a~b"],
                ["token-verify", token, "--key-file", self.key1],                 # no path
                ["token-verify", "--key-file", self.key1, "--path", "/a"],        # no token
                ["token-verify", token, "--path", "/a"],                          # no key
                ["token-verify", token, "--key-file", self.key1, "--path", "/a", "--skew",
                 "99999"]):
            with self.subTest(args=args):
                result = self.run_cli(*args)
                self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
                self.assertEqual(result.stdout, "")


if __name__ == "__main__":
    unittest.main()
