"""Playback access (issue 5, /work/spec/access-api.md): public channels play without a token
under /live/, premium ones only under /premium/live/ and only with a valid EdgeAuth token;
the origin carries the token into the playlists and the MPD it serves (or sets a cookie);
denials say why; the key ring, the policy, revocations, sessions and token issuing through
/api/v1/access/... and /api/v1/playback-tokens.

One ASan ottboxd for the whole file with two running channels on the small ladder (a
320x180 test pattern: two rungs and the audio), one public and one premium, shared by every
test; tests that change the policy or the key ring put them back when they end. Tokens that
the box must judge on their own merits (expired, not yet valid, another channel's ACL) are
made by the independent EdgeAuth implementation, tests/token/edgeauth_ref.py, with the
secret of a key imported into the box. Needs ffmpeg and ffprobe (for the media helpers)."""

import os
import re
import sys
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "token"))

import edgeauth_ref as ref  # noqa: E402
from ottbox import BoxTestCase, assert_error, parse_set_cookie  # noqa: E402
from media import (DASH_NS, SEGMENT_SECONDS, EngineTestCase, missing_media_tools,  # noqa: E402
                   parse_master, parse_media, wait_until)

KEY_A = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
KEY_A_ID = "ka"
PUBLIC = "pub"
PREMIUM = "prem"
IDLE_PREMIUM = "prem-idle"     # premium, in the store, never started
SOURCE = "test://pattern?size=320x180&rate=25"   # the small ladder's two lowest rungs
RUNG_COUNT = 2
READY_DEADLINE_S = 60

REASONS = ("missing", "malformed", "expired", "not_yet_valid", "bad_signature",
           "outside_acl", "address", "revoked", "too_many_sessions")

DEFAULT_POLICY = {
    "risk_classes": {"low": {"ttl_seconds": 14400, "max_ttl_seconds": 43200},
                     "standard": {"ttl_seconds": 3600, "max_ttl_seconds": 14400},
                     "high": {"ttl_seconds": 300, "max_ttl_seconds": 900}},
    "default_risk_class": "standard", "allowed_networks": [], "max_sessions_per_viewer": 0,
    "session_idle_seconds": 60, "clock_skew_seconds": 30, "check_address": True,
    "token_transport": "query",
}


def with_token(path, token):
    """path?__token__=token (or &__token__= when path has a query), the token as it is."""
    return "%s%s__token__=%s" % (path, "&" if "?" in path else "?", token)


def query_tokens(uri):
    """The __token__ values in a URI's query."""
    query = urllib.parse.urlsplit(uri).query
    return [v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
            if k == "__token__"]


def path_of(url):
    """The path and query of a URL (absolute or not), as a request line carries them."""
    parts = urllib.parse.urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def hls_uris(text):
    """Every URI a playlist names: the URI lines and every URI="..." attribute."""
    uris = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            uris += re.findall(r'URI="([^"]*)"', line)
        else:
            uris.append(line)
    return uris


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class AccessTest(EngineTestCase, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = cls.admin
        r = admin.post("/api/v1/access/keys", {"id": KEY_A_ID, "secret_hex": KEY_A})
        if r.status != 201:
            raise AssertionError("importing key %s was refused: %r" % (KEY_A_ID, r))
        for cid, access in ((PUBLIC, "public"), (PREMIUM, "premium"),
                            (IDLE_PREMIUM, "premium")):
            r = admin.post("/api/v1/channels", {
                "id": cid, "name": cid, "ladder": "small", "access": access,
                "segment_seconds": SEGMENT_SECONDS, "live_window_segments": 10,
                "input": {"url": SOURCE}})
            if r.status != 201:
                raise AssertionError("channel %s was refused: %r" % (cid, r))
        for cid in (PUBLIC, PREMIUM):
            r = admin.post("/api/v1/channels/%s/start" % cid)
            if r.status != 200:
                raise AssertionError("channel %s did not start: %r" % (cid, r))
            cls.addClassCleanup(cls._stop_channel, cid)
        cls.token = cls._issue_for_class(PREMIUM)
        cls._wait_playable(PUBLIC, "/live/%s/" % PUBLIC, None)
        cls._wait_playable(PREMIUM, "/premium/live/%s/" % PREMIUM, cls.token)

    @classmethod
    def _stop_channel(cls, cid):
        if cls.box.running:
            cls.admin.post("/api/v1/channels/%s/stop" % cid)

    @classmethod
    def _issue_for_class(cls, cid, **fields):
        body = {"path": "/premium/live/%s/master.m3u8" % cid}
        body.update(fields)
        r = cls.admin.post("/api/v1/playback-tokens", body)
        if r.status != 201:
            raise AssertionError("POST /api/v1/playback-tokens %r answered %r" % (body, r))
        return r.json["token"]

    @classmethod
    def _wait_playable(cls, cid, prefix, token):
        """Waits until the channel's master playlist and every child playlist answer 200
        and each child lists at least two segments."""
        client = cls.box.client()

        def get(name):
            path = prefix + name
            r = client.get(with_token(path, token) if token else path, auth=False)
            return r.raw.decode("utf-8", "replace") if r.status == 200 else None

        def ready():
            master = get("master.m3u8")
            if master is None:
                return None
            try:
                parsed = parse_master(master)
            except ValueError:
                return None
            names = [v["uri"] for v in parsed["variants"]] + \
                [m["URI"] for m in parsed["media"] if "URI" in m]
            for name in names:
                text = get(path_of(name).split("?")[0])
                if text is None or len(parse_media(text)["segments"]) < 2:
                    return None
            return master

        def details():
            st = cls.admin.get("/api/v1/channels/%s" % cid).json
            return "channel: %r\nlog:\n%s" % (st, cls.box.stderr()[-4000:])

        wait_until(ready, READY_DEADLINE_S, interval=0.5,
                   what="channel %s playable under %s" % (cid, prefix), details=details)

    # ---- helpers ----

    def get(self, path, headers=None):
        """A player's request: no API key, no session cookie."""
        return self.box.client().get(path, headers=headers, auth=False)

    def prem(self, name, token=None, headers=None):
        path = "/premium/live/%s/%s" % (PREMIUM, name)
        return self.get(with_token(path, token) if token is not None else path, headers)

    def issue(self, client=None, status=201, **fields):
        body = {"path": "/premium/live/%s/master.m3u8" % PREMIUM}
        body.update(fields)
        r = (client or self.admin).post("/api/v1/playback-tokens", body)
        self.assertEqual(r.status, status, "POST /api/v1/playback-tokens %r: %r" % (body, r))
        return r.json

    def ref_token(self, key=KEY_A, acl=None, **fields):
        fields.setdefault("window", 600)
        fields.setdefault("now", int(time.time()))
        return ref.generate(key, acl=acl or "/premium/live/%s/*" % PREMIUM, **fields)

    def assert_denied(self, r, reason):
        status = 401 if reason == "missing" else 403
        assert_error(self, r, status, "access_denied")
        self.assertEqual(r.header("X-Access-Denied"), reason, "%r %s" % (r, r.headers))
        self.assertEqual(r.header("Cache-Control"), "no-store", r.headers)

    def assert_never_500(self, r, what):
        self.assertLess(r.status, 500, "%s answered %r" % (what, r))

    def put_policy(self, **changes):
        """PUTs the default policy with changes; puts the default back when the test ends."""
        body = dict(DEFAULT_POLICY)
        body.update(changes)
        r = self.admin.put("/api/v1/access/policy", body)
        self.assertEqual(r.status, 200, r)
        self.addCleanup(self.restore_policy)
        return r.json

    def restore_policy(self):
        r = self.admin.put("/api/v1/access/policy", DEFAULT_POLICY)
        self.assertEqual(r.status, 200, r)

    def stats(self):
        r = self.admin.get("/api/v1/access/stats")
        self.assertEqual(r.status, 200, r)
        return r.json

    def media_playlist_names(self, master_text):
        parsed = parse_master(master_text)
        return [v["uri"] for v in parsed["variants"]] + \
            [m["URI"] for m in parsed["media"] if "URI" in m]

    def play_hls(self, base_url, master_body, token):
        """Follows a tokenized master playlist as a player does: every URI it names (and
        every URI of those playlists: init and the newest media segment) is resolved against
        the playlist's URL, must carry the token and answer 200. Returns the number of
        child playlists."""
        children = hls_uris(master_body)
        self.assertEqual(len(children), RUNG_COUNT + 1, master_body)   # rungs and audio
        for child in children:
            self.assertEqual(query_tokens(child), [token], "master playlist URI %r" % child)
            child_url = urllib.parse.urljoin(base_url, child)
            r = self.get(path_of(child_url))
            self.assertEqual(r.status, 200, "%s: %r" % (child_url, r))
            self.assertTrue(r.header("Cache-Control").startswith("private"), r.headers)
            text = r.raw.decode("utf-8")
            media = parse_media(text)
            uris = hls_uris(text)
            self.assertTrue(media["maps"] and media["segments"], text)
            for uri in uris:
                self.assertEqual(query_tokens(uri), [token], "%s names %r" % (child, uri))
            for uri in (media["maps"][-1], media["segments"][-1]["uri"]):
                url = urllib.parse.urljoin(child_url, uri)
                r = self.get(path_of(url))
                self.assertEqual(r.status, 200, "%s (named in %s): %r" % (url, child, r))
                self.assertIn(r.header("Content-Type"), ("video/mp4", "audio/mp4"), r.headers)
                self.assertTrue(r.raw, url)
                self.assertTrue(r.header("Cache-Control").startswith("private"), r.headers)
        return len(children)

    def mpd_segment_urls(self, mpd_text):
        """(initialization, last media segment) URIs of every Representation of an MPD,
        with $RepresentationID$ and $Number$ filled in, and the raw template attributes."""
        root = ET.fromstring(mpd_text)
        period = root.findall(DASH_NS + "Period")[-1]
        urls, templates = [], []
        for aset in period.findall(DASH_NS + "AdaptationSet"):
            tmpl = aset.find(DASH_NS + "SegmentTemplate")
            self.assertIsNotNone(tmpl, mpd_text)
            templates += [tmpl.get("initialization"), tmpl.get("media")]
            count = sum(int(s.get("r", "0")) + 1 for s in tmpl.iter(DASH_NS + "S"))
            last = int(tmpl.get("startNumber", "1")) + count - 1
            for rep in aset.findall(DASH_NS + "Representation"):
                for attr in ("initialization", "media"):
                    urls.append(tmpl.get(attr).replace("$RepresentationID$", rep.get("id"))
                                .replace("$Number$", str(last)))
        return urls, templates

    # ---- channel documents ----

    def test_channel_documents_carry_their_playback_paths(self):
        r = self.admin.get("/api/v1/channels/%s" % PREMIUM)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["access"], "premium")
        self.assertEqual(r.json["risk_class"], "standard")
        self.assertEqual(r.json["playback"]["hls"], "/premium/live/%s/master.m3u8" % PREMIUM)
        self.assertEqual(r.json["playback"]["dash"], "/premium/live/%s/manifest.mpd" % PREMIUM)
        r = self.admin.get("/api/v1/channels/%s" % PUBLIC)
        self.assertEqual(r.json["access"], "public")
        self.assertEqual(r.json["playback"]["hls"], "/live/%s/master.m3u8" % PUBLIC)
        self.assertEqual(r.json["playback"]["dash"], "/live/%s/manifest.mpd" % PUBLIC)

    # ---- public ----

    def test_public_channel_plays_without_a_token(self):
        base = "/live/%s/" % PUBLIC
        r = self.get(base + "master.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Cache-Control"), "public, max-age=1")
        master = r.raw.decode("utf-8")
        self.assertNotIn("__token__", master)
        names = self.media_playlist_names(master)
        self.assertEqual(len(names), RUNG_COUNT + 1, master)
        for name in names:
            r = self.get(base + name)
            self.assertEqual(r.status, 200, "%s: %r" % (name, r))
            media = parse_media(r.raw.decode("utf-8"))
            self.assertNotIn(b"__token__", r.raw)
            child_dir = os.path.dirname(base + name) + "/"
            for uri in (media["maps"][-1], media["segments"][-1]["uri"]):
                r = self.get(child_dir + uri)
                self.assertEqual(r.status, 200, "%s: %r" % (uri, r))
                self.assertEqual(r.header("Cache-Control"), "public, max-age=31536000, immutable")
        r = self.get(base + "manifest.mpd")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(b"__token__", r.raw)
        for uri in self.mpd_segment_urls(r.raw.decode("utf-8"))[0]:
            r = self.get(base + uri)
            self.assertEqual(r.status, 200, "%s: %r" % (uri, r))

    def test_public_channel_is_404_under_the_premium_prefix(self):
        token = self.ref_token(acl="/premium/live/%s/*" % PUBLIC)
        for name in ("master.m3u8", "v0.m3u8", "manifest.mpd"):
            with self.subTest(name=name):
                for path in ("/premium/live/%s/%s" % (PUBLIC, name),
                             with_token("/premium/live/%s/%s" % (PUBLIC, name), token)):
                    r = self.get(path)
                    assert_error(self, r, 404, "not_found")
                    self.assertNotIn(b"#EXTM3U", r.raw)

    # ---- premium: the prefix and the missing token ----

    def test_premium_channel_without_a_token_is_401_missing(self):
        for name in ("master.m3u8", "v0.m3u8", "a0.m3u8", "manifest.mpd"):
            with self.subTest(name=name):
                r = self.prem(name)
                self.assert_denied(r, "missing")
                self.assertNotIn(b"#EXT", r.raw)
        # Segments too, by the names the playlists give.
        media = parse_media(self.prem("v0.m3u8", self.token).raw.decode("utf-8"))
        for uri in (media["maps"][-1], media["segments"][-1]["uri"]):
            with self.subTest(uri=uri):
                self.assert_denied(self.prem(path_of(uri).split("?")[0]), "missing")

    def test_premium_channel_is_404_under_the_public_prefix(self):
        for name in ("master.m3u8", "v0.m3u8", "manifest.mpd"):
            with self.subTest(name=name):
                for path in ("/live/%s/%s" % (PREMIUM, name),
                             with_token("/live/%s/%s" % (PREMIUM, name), self.token)):
                    r = self.get(path)
                    assert_error(self, r, 404, "not_found")
                    self.assertNotIn(b"#EXT", r.raw)

    def test_unknown_channel_is_404_under_the_premium_prefix(self):
        token = self.ref_token(acl="/premium/live/*")
        r = self.get(with_token("/premium/live/nochannel/master.m3u8", token))
        assert_error(self, r, 404, "not_found")
        r = self.get("/premium/live/nochannel/master.m3u8")
        assert_error(self, r, 404, "not_found")

    # ---- premium: playing with a token ----

    def test_issued_token_plays_every_rung_the_audio_and_the_mpd(self):
        issued = self.issue()
        self.assertEqual(urllib.parse.urlsplit(issued["url"]).path,
                         "/premium/live/%s/master.m3u8" % PREMIUM)
        self.assertEqual(query_tokens(issued["url"]), [issued["token"]])
        url = issued["url"]
        r = self.get(path_of(url))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Cache-Control").startswith("private"), r.headers)
        base = "http://127.0.0.1:%d/premium/live/%s/master.m3u8" % (self.box.port, PREMIUM)
        self.assertEqual(self.play_hls(base, r.raw.decode("utf-8"), issued["token"]),
                         RUNG_COUNT + 1)

        r = self.prem("manifest.mpd", issued["token"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Cache-Control").startswith("private"), r.headers)
        mpd = r.raw.decode("utf-8")
        urls, templates = self.mpd_segment_urls(mpd)
        for attr in templates:
            self.assertEqual(query_tokens(attr), [issued["token"]],
                             "SegmentTemplate attribute %r" % attr)
        self.assertEqual(len(urls), 2 * (RUNG_COUNT + 1), mpd)
        mpd_url = "http://127.0.0.1:%d/premium/live/%s/manifest.mpd" % (self.box.port, PREMIUM)
        for uri in urls:
            with self.subTest(uri=uri):
                r = self.get(path_of(urllib.parse.urljoin(mpd_url, uri)))
                self.assertEqual(r.status, 200, "%s: %r" % (uri, r))
                self.assertTrue(r.raw)

    def test_issued_token_fields(self):
        before = int(time.time())
        issued = self.issue(viewer_id="viewer-7", session_id="sess-7")
        self.assertEqual(issued["acl"], "/premium/live/%s/*" % PREMIUM)
        self.assertEqual(issued["risk_class"], "standard")
        self.assertEqual(issued["ttl_seconds"], 3600)
        self.assertEqual(issued["key_id"], KEY_A_ID)
        self.assertEqual(issued["token_id"], "sess-7")
        self.assertIn("expires_at", issued)
        # The URL is absolute (the request had a Host header) and names the master playlist.
        parts = urllib.parse.urlsplit(issued["url"])
        self.assertEqual((parts.scheme, parts.netloc), ("http", "127.0.0.1:%d" % self.box.port))
        fields = ref.parse(issued["token"])
        self.assertIsNotNone(fields, issued["token"])
        self.assertEqual(fields["acl"], "/premium/live/%s/*" % PREMIUM)
        self.assertEqual(fields["id"], "sess-7")
        self.assertEqual(fields["data"], "viewer=viewer-7")
        self.assertNotIn("ip", fields)
        self.assertAlmostEqual(int(fields["exp"]), before + 3600, delta=5)
        # The independent implementation accepts it with the imported key.
        self.assertEqual(ref.verify(issued["token"], [KEY_A],
                                    "/premium/live/%s/v0.m3u8" % PREMIUM, int(time.time())),
                         "ok")
        # A generated token id when no session id is given.
        other = self.issue()
        self.assertTrue(other["token_id"])
        self.assertEqual(ref.parse(other["token"])["id"], other["token_id"])
        self.assertNotEqual(other["token_id"], self.issue()["token_id"])

    def test_issued_token_follows_the_risk_class(self):
        issued = self.issue(risk_class="high")
        self.assertEqual((issued["risk_class"], issued["ttl_seconds"]), ("high", 300))
        issued = self.issue(risk_class="low", ttl_seconds=20000)
        self.assertEqual((issued["risk_class"], issued["ttl_seconds"]), ("low", 20000))
        self.assertEqual(self.prem("master.m3u8", issued["token"]).status, 200)
        r = self.admin.post("/api/v1/playback-tokens",
                            {"path": "/premium/live/%s/master.m3u8" % PREMIUM,
                             "risk_class": "high", "ttl_seconds": 901})
        assert_error(self, r, 400, mentions=["ttl_seconds"])
        r = self.admin.post("/api/v1/playback-tokens",
                            {"path": "/premium/live/%s/master.m3u8" % PREMIUM,
                             "risk_class": "extreme"})
        assert_error(self, r, 400, mentions=["risk_class"])

    def test_token_in_a_header_or_a_cookie_plays(self):
        r = self.prem("v0.m3u8", headers={"__token__": self.token})
        self.assertEqual(r.status, 200, r)
        r = self.prem("v1.m3u8", headers={"Cookie": "__token__=" + self.token})
        self.assertEqual(r.status, 200, r)
        r = self.prem("manifest.mpd", headers={"Cookie": "other=1; __token__=%s; x=y"
                                               % self.token})
        self.assertEqual(r.status, 200, r)

    def test_extra_query_parameters_do_not_matter(self):
        r = self.get("/premium/live/%s/master.m3u8?foo=bar&__token__=%s&x=1"
                     % (PREMIUM, self.token))
        self.assertEqual(r.status, 200, r)

    # ---- premium: denials ----

    def test_expired_token_is_403_expired(self):
        now = int(time.time())
        token = self.ref_token(start=now - 3600, exp=now - 120, window=None)
        self.assert_denied(self.prem("master.m3u8", token), "expired")
        self.assert_denied(self.prem("v0.m3u8", token), "expired")

    def test_token_within_the_skew_is_still_accepted(self):
        now = int(time.time())
        token = self.ref_token(start=now - 600, exp=now - 5, window=None)
        self.assertEqual(self.prem("master.m3u8", token).status, 200)

    def test_token_not_yet_valid_is_403(self):
        now = int(time.time())
        token = self.ref_token(start=now + 600, exp=now + 1200, window=None)
        self.assert_denied(self.prem("master.m3u8", token), "not_yet_valid")

    def test_tampered_token_is_403_bad_signature(self):
        issued = self.issue(viewer_id="tamper", session_id="tamper-1")
        token = issued["token"]
        self.assertEqual(self.prem("master.m3u8", token).status, 200)
        cases = {
            "id": token.replace("id=tamper-1", "id=tamper-2"),
            "data": token.replace("data=viewer=tamper", "data=viewer=tampes"),
            "exp": re.sub(r"exp=(\d+)", lambda m: "exp=%d" % (int(m.group(1)) + 3600), token),
            "hmac": token[:-1] + ("0" if token[-1] != "0" else "1"),
        }
        for field, bad in cases.items():
            with self.subTest(field=field):
                self.assertNotEqual(bad, token)
                self.assert_denied(self.prem("master.m3u8", bad), "bad_signature")

    def test_token_of_an_unknown_key_is_403_bad_signature(self):
        token = self.ref_token(key="ff" * 32)
        self.assert_denied(self.prem("master.m3u8", token), "bad_signature")

    def test_token_for_another_channel_is_403_outside_acl(self):
        other = self.issue(path="/premium/live/%s/master.m3u8" % IDLE_PREMIUM)
        self.assertEqual(other["acl"], "/premium/live/%s/*" % IDLE_PREMIUM)
        self.assert_denied(self.prem("master.m3u8", other["token"]), "outside_acl")
        token = self.ref_token(acl="/premium/live/elsewhere/*")
        self.assert_denied(self.prem("v0.m3u8", token), "outside_acl")
        # A prefix of the channel id is not the channel.
        token = self.ref_token(acl="/premium/live/pre/*")
        self.assert_denied(self.prem("master.m3u8", token), "outside_acl")

    def test_revoked_token_id_is_403_and_plays_again_once_unrevoked(self):
        issued = self.issue(viewer_id="rev-tok")
        token = issued["token"]
        self.assertEqual(self.prem("master.m3u8", token).status, 200)   # now in the cache
        r = self.admin.post("/api/v1/access/revocations",
                            {"token_id": issued["token_id"], "reason": "test"})
        self.assertEqual(r.status, 201, r)
        rid = r.json["id"]
        listed = self.admin.get("/api/v1/access/revocations").json["revocations"]
        self.assertIn(issued["token_id"], [x.get("token_id") for x in listed])
        self.assert_denied(self.prem("master.m3u8", token), "revoked")
        self.assert_denied(self.prem("v0.m3u8", token), "revoked")
        r = self.admin.delete("/api/v1/access/revocations/%s" % rid)
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(self.prem("master.m3u8", token).status, 200)
        # Another token of the same viewer was never revoked.
        self.assertEqual(self.prem("master.m3u8", self.issue(viewer_id="rev-tok")["token"])
                         .status, 200)

    def test_revoked_viewer_id_is_403(self):
        first = self.issue(viewer_id="rev-viewer")["token"]
        self.assertEqual(self.prem("master.m3u8", first).status, 200)
        r = self.admin.post("/api/v1/access/revocations", {"viewer_id": "rev-viewer"})
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.admin.delete, "/api/v1/access/revocations/%s" % r.json["id"])
        self.assert_denied(self.prem("master.m3u8", first), "revoked")
        # Every token of that viewer, also one issued after the revocation.
        later = self.issue(viewer_id="rev-viewer")["token"]
        self.assert_denied(self.prem("v0.m3u8", later), "revoked")
        # Other viewers play on.
        self.assertEqual(self.prem("master.m3u8", self.issue(viewer_id="rev-other")["token"])
                         .status, 200)

    def test_address_outside_the_allowed_networks_is_403_address(self):
        token = self.issue()["token"]
        self.assertEqual(self.prem("master.m3u8", token).status, 200)   # now in the cache
        self.put_policy(allowed_networks=["10.0.0.0/8", "2001:db8::/32"])
        self.assert_denied(self.prem("master.m3u8", token), "address")
        self.put_policy(allowed_networks=["10.0.0.0/8", "127.0.0.0/8"])
        self.assertEqual(self.prem("master.m3u8", token).status, 200)

    def test_token_bound_to_another_address_is_403_address(self):
        token = self.issue(ip="192.0.2.1")["token"]
        self.assertEqual(ref.parse(token)["ip"], "192.0.2.1")
        self.assert_denied(self.prem("master.m3u8", token), "address")
        token = self.issue(ip="127.0.0.1")["token"]
        self.assertEqual(self.prem("master.m3u8", token).status, 200)

    def test_second_session_of_a_viewer_is_403_too_many_sessions(self):
        self.put_policy(max_sessions_per_viewer=1)
        first = self.issue(viewer_id="one-screen")["token"]
        second = self.issue(viewer_id="one-screen")["token"]
        self.assertEqual(self.prem("master.m3u8", first).status, 200)
        self.assert_denied(self.prem("master.m3u8", second), "too_many_sessions")
        # The first session plays on, and other viewers are not affected.
        self.assertEqual(self.prem("v0.m3u8", first).status, 200)
        self.assertEqual(self.prem("master.m3u8", self.issue(viewer_id="two-screen")["token"])
                         .status, 200)

    def test_odd_tokens_and_query_strings_are_never_a_500(self):
        base = "/premium/live/%s/master.m3u8" % PREMIUM
        # (path, statuses allowed, denial reason when it must be that one)
        cases = [
            (base + "?__token__=", (401, 403), None),
            (base + "?__token__", (401, 403), None),
            (base + "?&&&=&", (401,), "missing"),
            (base + "?__token__=garbage", (403,), "malformed"),
            (base + "?__token__=%zz%", (400, 401, 403), None),
            (base + "?__token__=a%00b", (400, 401, 403), None),
            (base + "?__token__=" + "x" * 5000, (400, 403), None),
            (base + "?__token__=exp=1~hmac=" + "0" * 64, (403,), None),
            (base + "?__token__=" + self.token + "~" + "id=x" * 1000, (400, 403), None),
            (base + "?__token__=%s&__token__=%s" % (self.token, self.token), (200, 400, 403),
             None),
            (base + "?__token__=garbage&__token__=" + self.token, (200, 400, 403), None),
            (base + "?__token__=%s&__token__=garbage" % self.token, (200, 400, 403), None),
            (base + "?__token__=" + urllib.parse.quote("exp=9999999999~acl=/*~hmac=" + "a" * 64,
                                                       safe=""), (403,), None),
        ]
        for path, statuses, reason in cases:
            with self.subTest(path=path[:120]):
                r = self.get(path)
                self.assert_never_500(r, path[:200])
                self.assertIn(r.status, statuses, "%s: %r" % (path[:200], r))
                if r.status in (401, 403):
                    self.assertIn(r.header("X-Access-Denied"), REASONS, r.headers)
                if reason:
                    self.assert_denied(r, reason)
        r = self.prem("master.m3u8", "y" * 9000)
        self.assert_never_500(r, "a 9000-character token")
        self.assertIn(r.status, (400, 403, 414, 431), r)
        r = self.prem("master.m3u8", headers={"__token__": "z" * 6000})
        self.assert_never_500(r, "a 6000-character token header")
        self.assertIn(r.status, (400, 403, 431), r)
        if r.status == 403:
            self.assertEqual(r.header("X-Access-Denied"), "malformed")
        self.assertTrue(self.box.running)

    def test_percent_encoded_token_in_the_query_plays(self):
        # The whole token percent-encoded ("~" too) is decoded once (docs/access.md).
        encoded = urllib.parse.quote(self.token, safe="").replace("~", "%7E")
        self.assertNotIn("~", encoded)
        r = self.get("/premium/live/%s/master.m3u8?__token__=%s" % (PREMIUM, encoded))
        self.assertEqual(r.status, 200, r)
        body = r.raw.decode("utf-8")
        for uri in hls_uris(body):
            self.assertEqual(query_tokens(uri), [self.token], uri)

    def test_token_encoded_by_url_libraries_plays(self):
        # encodeURIComponent and urllib's urlencode encode "=" and "/" but leave "~" (and
        # urlencode "*" too): such a value has no literal "=" and is decoded once.
        for encoded in (urllib.parse.quote(self.token, safe="~*"),
                        urllib.parse.urlencode({"__token__": self.token}).split("=", 1)[1]):
            with self.subTest(encoded=encoded[:40]):
                self.assertNotIn("=", encoded)
                r = self.get("/premium/live/%s/master.m3u8?__token__=%s" % (PREMIUM, encoded))
                self.assertEqual(r.status, 200, r)
                for uri in hls_uris(r.raw.decode("utf-8")):
                    self.assertEqual(query_tokens(uri), [self.token], uri)

    def test_head_and_byte_ranges_of_premium_files(self):
        media = parse_media(self.prem("v0.m3u8", self.token).raw.decode("utf-8"))
        seg = path_of(media["segments"][-1]["uri"]).split("?")[0]
        whole = self.prem(seg, self.token)
        self.assertEqual(whole.status, 200, whole)
        self.assertEqual(whole.header("Content-Type"), "video/mp4")
        r = self.prem(seg, self.token, headers={"Range": "bytes=0-99"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.raw, whole.raw[:100])
        r = self.box.client().request("HEAD", with_token("/premium/live/%s/%s" % (PREMIUM, seg),
                                                         self.token), auth=False)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Length"), str(len(whole.raw)))
        r = self.box.client().request("HEAD", "/premium/live/%s/%s" % (PREMIUM, seg),
                                      auth=False)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.header("X-Access-Denied"), "missing")

    def test_preflight_for_the_token_header_needs_no_token(self):
        r = self.box.client().request(
            "OPTIONS", "/premium/live/%s/v0.m3u8" % PREMIUM, auth=False,
            headers={"Origin": "https://player.example", "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "__token__"})
        self.assertEqual(r.status, 204, r)
        allowed = [h.strip().lower() for h in
                   (r.header("Access-Control-Allow-Headers") or "").split(",")]
        self.assertIn("__token__", allowed, r.headers)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")

    def test_a_playlist_made_for_one_token_is_not_revalidated_with_another(self):
        other = self.issue()["token"]
        first = self.prem("v0.m3u8", self.token)
        etag = first.header("ETag")
        self.assertTrue(etag, first.headers)
        self.assertEqual(self.prem("v0.m3u8", self.token,
                                   headers={"If-None-Match": etag}).status, 304)
        r = self.prem("v0.m3u8", other, headers={"If-None-Match": etag})
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.header("ETag"), etag)
        for uri in hls_uris(r.raw.decode("utf-8")):
            self.assertEqual(query_tokens(uri), [other], uri)

    def follow_child(self, master_text, token):
        """GETs the first child playlist a master names, as a player resolves it, and then
        its newest segment; both must answer 200."""
        base = "http://127.0.0.1:%d/premium/live/%s/master.m3u8" % (self.box.port, PREMIUM)
        child_url = urllib.parse.urljoin(base, hls_uris(master_text)[0])
        r = self.get(path_of(child_url))
        self.assertEqual(r.status, 200, "%s: %r" % (child_url, r))
        media = parse_media(r.raw.decode("utf-8"))
        seg_url = urllib.parse.urljoin(child_url, media["segments"][-1]["uri"])
        r = self.get(path_of(seg_url))
        self.assertEqual(r.status, 200, "%s: %r" % (seg_url, r))
        for uri in hls_uris(master_text):
            self.assertEqual(query_tokens(uri), [token], uri)

    def test_tokens_with_odd_characters_travel_on(self):
        now = int(time.time())
        acl = "/premium/live/%s/*" % PREMIUM
        # escape_early on (what Akamai's generators do when asked): %xx and '+' inside.
        escaped = ref.generate(KEY_A, acl=acl, window=600, now=now, session_id="a b/c+d",
                               data="plan=gold&tier=1", escape=True)
        self.assertIn("%", escaped)
        r = self.prem("master.m3u8", escaped)
        self.assertEqual(r.status, 200, r)
        self.follow_child(r.raw.decode("utf-8"), escaped)
        # escape_early off: characters a URI cannot carry as they are; in a header.
        raw = ref.generate(KEY_A, acl=acl, window=600, now=now, session_id="s 1",
                           data='plan="gold" & <more>')
        r = self.prem("master.m3u8", headers={"__token__": raw})
        self.assertEqual(r.status, 200, r)
        self.follow_child(r.raw.decode("utf-8"), raw)
        r = self.prem("manifest.mpd", headers={"__token__": raw})
        self.assertEqual(r.status, 200, r)
        urls, templates = self.mpd_segment_urls(r.raw.decode("utf-8"))
        for attr in templates:
            self.assertEqual(query_tokens(attr), [raw], attr)
        r = self.get(path_of(urllib.parse.urljoin(
            "http://127.0.0.1:%d/premium/live/%s/manifest.mpd" % (self.box.port, PREMIUM),
            urls[0])))
        self.assertEqual(r.status, 200, r)

    def test_url_token_opens_only_its_path(self):
        path = "/premium/live/%s/master.m3u8" % PREMIUM
        token = ref.generate(KEY_A, url=path, window=600, now=int(time.time()))
        self.assertEqual(self.get(with_token(path, token)).status, 200)
        self.assert_denied(self.prem("v0.m3u8", token), "bad_signature")

    def test_acl_list_opens_each_of_its_entries(self):
        token = self.ref_token(acl=["/premium/live/elsewhere/*", "/premium/live/%s/*" % PREMIUM])
        self.assertEqual(self.prem("master.m3u8", token).status, 200)
        self.assertEqual(self.prem("v1.m3u8", token).status, 200)

    def test_check_address_off_ignores_the_tokens_address(self):
        token = self.issue(ip="192.0.2.1")["token"]
        self.assert_denied(self.prem("master.m3u8", token), "address")
        self.put_policy(check_address=False)
        self.assertEqual(self.prem("master.m3u8", token).status, 200)

    def test_clock_skew_comes_from_the_policy(self):
        now = int(time.time())
        late = self.ref_token(start=now - 600, exp=now - 120, window=None)
        self.assert_denied(self.prem("master.m3u8", late), "expired")
        self.put_policy(clock_skew_seconds=300)
        self.assertEqual(self.prem("master.m3u8", late).status, 200)
        self.put_policy(clock_skew_seconds=0)
        just = self.ref_token(start=now - 600, exp=now - 5, window=None)
        self.assert_denied(self.prem("master.m3u8", just), "expired")

    def test_a_session_ends_after_its_idle_time(self):
        self.put_policy(max_sessions_per_viewer=1, session_idle_seconds=10)
        first = self.issue(viewer_id="idle-screen")["token"]
        second = self.issue(viewer_id="idle-screen")["token"]
        self.assertEqual(self.prem("master.m3u8", first).status, 200)
        self.assert_denied(self.prem("master.m3u8", second), "too_many_sessions")
        time.sleep(11.5)
        self.assertEqual(self.prem("master.m3u8", second).status, 200)
        self.assert_denied(self.prem("master.m3u8", first), "too_many_sessions")

    def test_denials_are_logged_without_flooding_and_tokens_never(self):
        def denial_lines():
            return [line for line in self.box.stderr().splitlines()
                    if "denied" in line and "bad_signature" in line]

        before = len(denial_lines())
        token = self.ref_token(key="ee" * 32)
        for _ in range(60):
            self.assert_denied(self.prem("master.m3u8", token), "bad_signature")
        added = len(denial_lines()) - before
        self.assertGreaterEqual(added, 0)
        self.assertLessEqual(added, 3, "60 denials in a burst wrote %d log lines:\n%s"
                             % (added, "\n".join(denial_lines()[before:])))
        log = self.box.stderr()
        for tok in (token, self.token):
            self.assertNotIn(ref.parse(tok)["hmac"], log, "a token's MAC is in the log")

    # ---- keys ----

    def test_keys_are_never_readable(self):
        r = self.admin.get("/api/v1/access/keys")
        self.assertEqual(r.status, 200, r)
        keys = {k["id"]: k for k in r.json["keys"]}
        self.assertIn(KEY_A_ID, keys)
        key = keys[KEY_A_ID]
        self.assertEqual(key["source"], "imported")
        self.assertTrue(key["fingerprint"])
        for name in ("signing", "created_at", "created_by"):
            self.assertIn(name, key)
        for k in keys.values():
            self.assertFalse({"secret", "secret_hex", "key"} & set(k), k)
        self.assertNotIn(KEY_A.encode(), r.raw)
        self.assertNotIn(KEY_A.upper().encode(), r.raw)

    def test_generated_key_shows_its_secret_once_and_opens_the_box(self):
        r = self.admin.post("/api/v1/access/keys", {"id": "gen1"})
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.admin.delete, "/api/v1/access/keys/gen1")
        secret = r.json["secret_hex"]
        self.assertRegex(secret, r"^[0-9a-fA-F]{64}$")
        listed = self.admin.get("/api/v1/access/keys")
        self.assertNotIn(secret.lower().encode(), listed.raw.lower())
        gen = [k for k in listed.json["keys"] if k["id"] == "gen1"]
        self.assertEqual(len(gen), 1, listed.json)
        self.assertEqual(gen[0]["source"], "generated")
        self.assertIs(gen[0]["signing"], False)
        token = self.ref_token(key=secret.lower())
        self.assertEqual(self.prem("master.m3u8", token).status, 200)
        self.assertEqual(self.prem("v0.m3u8", token).status, 200)

    def test_key_rotation(self):
        key_b_hex = "b0" * 24
        old_a = "a0" * 20
        admin = self.admin
        self.addCleanup(self._rotation_cleanup)
        r = admin.post("/api/v1/access/keys", {"id": "rot-a", "secret_hex": old_a,
                                               "signing": True})
        self.assertEqual(r.status, 201, r)
        issued_a = self.issue()
        self.assertEqual(issued_a["key_id"], "rot-a")
        token_a = issued_a["token"]
        self.assertEqual(ref.verify(token_a, [old_a], "/premium/live/%s/v0.m3u8" % PREMIUM,
                                    int(time.time())), "ok")
        self.assertEqual(self.prem("master.m3u8", token_a).status, 200)

        # Key B comes and signs; A's tokens keep working.
        r = admin.post("/api/v1/access/keys", {"id": "rot-b", "secret_hex": key_b_hex})
        self.assertEqual(r.status, 201, r)
        r = admin.patch("/api/v1/access/keys/rot-b", {"signing": True})
        self.assertIn(r.status, (200, 204), r)
        signing = [k["id"] for k in admin.get("/api/v1/access/keys").json["keys"]
                   if k["signing"]]
        self.assertEqual(signing, ["rot-b"])
        issued_b = self.issue()
        self.assertEqual(issued_b["key_id"], "rot-b")
        token_b = issued_b["token"]
        self.assertEqual(ref.verify(token_b, [key_b_hex], "/premium/live/%s/v0.m3u8" % PREMIUM,
                                    int(time.time())), "ok")
        self.assertEqual(self.prem("master.m3u8", token_a).status, 200)
        self.assertEqual(self.prem("master.m3u8", token_b).status, 200)

        # The signing key cannot go while others remain.
        r = admin.delete("/api/v1/access/keys/rot-b")
        assert_error(self, r, 409)

        # A retired: its tokens stop at once (one was just cached), B's play on.
        r = admin.delete("/api/v1/access/keys/rot-a")
        self.assertIn(r.status, (200, 204), r)
        self.assert_denied(self.prem("master.m3u8", token_a), "bad_signature")
        self.assert_denied(self.prem("v0.m3u8", token_a), "bad_signature")
        self.assertEqual(self.prem("master.m3u8", token_b).status, 200)
        self.assertEqual(self.prem("v0.m3u8", token_b).status, 200)
        self.assertNotIn("rot-a", [k["id"] for k in admin.get("/api/v1/access/keys")
                                   .json["keys"]])

    def _rotation_cleanup(self):
        self.admin.patch("/api/v1/access/keys/%s" % KEY_A_ID, {"signing": True})
        for kid in ("rot-a", "rot-b"):
            self.admin.delete("/api/v1/access/keys/%s" % kid)

    def test_at_most_eight_keys(self):
        have = len(self.admin.get("/api/v1/access/keys").json["keys"])
        added = []
        self.addCleanup(lambda: [self.admin.delete("/api/v1/access/keys/" + k) for k in added])
        for i in range(8 - have):
            kid = "many%d" % i
            r = self.admin.post("/api/v1/access/keys", {"id": kid, "secret_hex": "%02x" % i * 16})
            self.assertEqual(r.status, 201, r)
            added.append(kid)
        r = self.admin.post("/api/v1/access/keys", {"id": "ninth", "secret_hex": "99" * 16})
        assert_error(self, r, 409)
        r = self.admin.post("/api/v1/access/keys", {"id": "ninth-gen"})
        assert_error(self, r, 409)

    def test_unknown_keys_and_revocations_are_404(self):
        assert_error(self, self.admin.patch("/api/v1/access/keys/nokey", {"signing": True}),
                     404)
        assert_error(self, self.admin.delete("/api/v1/access/keys/nokey"), 404)
        assert_error(self, self.admin.delete("/api/v1/access/revocations/999999"), 404)

    def test_revocations_are_listed_and_checked(self):
        r = self.admin.post("/api/v1/access/revocations",
                            {"viewer_id": "listed-viewer", "reason": "chargeback",
                             "expires_at": "2099-01-01T00:00:00Z"})
        self.assertEqual(r.status, 201, r)
        rid = r.json["id"]
        self.addCleanup(self.admin.delete, "/api/v1/access/revocations/%s" % rid)
        listed = {str(x["id"]): x for x in
                  self.admin.get("/api/v1/access/revocations").json["revocations"]}
        entry = listed[str(rid)]
        self.assertEqual(entry["viewer_id"], "listed-viewer")
        self.assertEqual(entry["reason"], "chargeback")
        self.assertTrue(entry["created_at"])
        self.assertTrue(entry["expires_at"].startswith("2099-01-01"), entry)
        self.assertNotIn("token_id", entry)
        for body in ({}, {"reason": "x"}, {"token_id": ""}, {"viewer_id": 5},
                     {"token_id": "a", "viewer_id": "b"},
                     {"viewer_id": "x", "expires_at": "tomorrow"}):
            with self.subTest(body=body):
                assert_error(self, self.admin.post("/api/v1/access/revocations", body), 400)

    def test_bad_keys_are_400_and_duplicates_409(self):
        cases = [
            ({"id": "bad1", "secret_hex": "zz" * 16}, ["secret_hex"]),
            ({"id": "bad2", "secret_hex": "abcd"}, ["secret_hex"]),              # too short
            ({"id": "bad3", "secret_hex": "ab" * 65}, ["secret_hex"]),           # too long
            ({"id": "bad4", "secret_hex": "abc" + "d" * 30}, ["secret_hex"]),    # odd length
            ({"id": "bad5", "secret_hex": 1234}, ["secret_hex"]),
            ({"id": "", "secret_hex": "ab" * 16}, ["id"]),
            ({"secret_hex": "ab" * 16}, ["id"]),
        ]
        for body, mentions in cases:
            with self.subTest(body=body):
                r = self.admin.post("/api/v1/access/keys", body)
                assert_error(self, r, 400, mentions=mentions)
        r = self.admin.post("/api/v1/access/keys", raw=b"{not json")
        assert_error(self, r, 400)
        r = self.admin.post("/api/v1/access/keys", {"id": KEY_A_ID, "secret_hex": "cd" * 16})
        assert_error(self, r, 409, mentions=[KEY_A_ID])
        ids = [k["id"] for k in self.admin.get("/api/v1/access/keys").json["keys"]]
        for kid in ("bad1", "bad2", "bad3", "bad4", "bad5"):
            self.assertNotIn(kid, ids)

    # ---- policy ----

    def test_fields_left_out_of_a_policy_take_defaults(self):
        self.put_policy()
        r = self.admin.put("/api/v1/access/policy", {"max_sessions_per_viewer": 3})
        self.assertEqual(r.status, 200, r)
        expected = dict(DEFAULT_POLICY, max_sessions_per_viewer=3)
        self.assertEqual(self.admin.get("/api/v1/access/policy").json, expected)

    def test_channel_risk_class_sets_the_token_lifetime(self):
        r = self.admin.post("/api/v1/channels", {
            "id": "prem-high", "name": "prem-high", "ladder": "small", "access": "premium",
            "risk_class": "high", "input": {"url": SOURCE}})
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.admin.delete, "/api/v1/channels/prem-high")
        self.assertEqual(r.json["risk_class"], "high")
        issued = self.issue(path="/premium/live/prem-high/master.m3u8")
        self.assertEqual((issued["risk_class"], issued["ttl_seconds"]), ("high", 300))
        r = self.admin.post("/api/v1/channels", {
            "id": "prem-odd", "name": "prem-odd", "access": "premium",
            "risk_class": "nonesuch", "input": {"url": SOURCE}})
        assert_error(self, r, 400, mentions=["risk_class"])

    def test_policy_defaults(self):
        r = self.admin.get("/api/v1/access/policy")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, DEFAULT_POLICY)

    def test_bad_policies_are_refused_naming_the_field(self):
        cases = [
            ({"allowed_networks": ["10.0.0.0/33"]}, 400, "allowed_networks"),
            ({"allowed_networks": ["not-a-cidr"]}, 400, "allowed_networks"),
            ({"allowed_networks": "10.0.0.0/8"}, 400, "allowed_networks"),
            ({"max_sessions_per_viewer": -1}, 400, "max_sessions_per_viewer"),
            ({"token_transport": "carrier-pigeon"}, 400, "token_transport"),
            ({"default_risk_class": "nope"}, 400, "default_risk_class"),
            ({"risk_classes": {"standard": {"ttl_seconds": 500, "max_ttl_seconds": 100}}},
             400, "ttl"),
        ]
        for changes, status, field in cases:
            with self.subTest(changes=changes):
                body = dict(DEFAULT_POLICY)
                body.update(changes)
                r = self.admin.put("/api/v1/access/policy", body)
                assert_error(self, r, status, mentions=[field])
        # A risk class a channel uses cannot go.
        body = dict(DEFAULT_POLICY)
        body["risk_classes"] = {"low": DEFAULT_POLICY["risk_classes"]["low"]}
        body["default_risk_class"] = "low"
        r = self.admin.put("/api/v1/access/policy", body)
        assert_error(self, r, 409, mentions=["standard"])
        # Nothing of them was applied.
        self.assertEqual(self.admin.get("/api/v1/access/policy").json, DEFAULT_POLICY)

    def test_playback_tokens_for_public_or_unknown_paths_are_400(self):
        for path in ("/live/%s/master.m3u8" % PUBLIC, "/premium/live/%s/master.m3u8" % PUBLIC,
                     "/premium/live/nochannel/master.m3u8", "/etc/passwd", "", "relative"):
            with self.subTest(path=path):
                r = self.admin.post("/api/v1/playback-tokens", {"path": path})
                assert_error(self, r, 400, mentions=["path"])
        r = self.admin.post("/api/v1/playback-tokens", {})
        assert_error(self, r, 400, mentions=["path"])
        for field, value in (("ip", "not-an-address"), ("ttl_seconds", -5),
                             ("ttl_seconds", "60"), ("viewer_id", 7)):
            with self.subTest(field=field, value=value):
                r = self.admin.post("/api/v1/playback-tokens",
                                    {"path": "/premium/live/%s/master.m3u8" % PREMIUM,
                                     field: value})
                assert_error(self, r, 400, mentions=[field])
        r = self.admin.post("/api/v1/playback-tokens", raw=b"[1,2")
        assert_error(self, r, 400)

    # ---- cookie transport ----

    def test_cookie_transport_sets_a_path_scoped_cookie_that_plays(self):
        self.put_policy(token_transport="cookie")
        issued = self.issue()
        r = self.get(path_of(issued["url"]))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(b"__token__", r.raw)          # the playlist is not rewritten
        cookies = [c for c in r.set_cookies() if c.startswith("__token__=")]
        self.assertEqual(len(cookies), 1, r.set_cookies())
        name, value, attrs = parse_set_cookie(cookies[0])
        self.assertEqual(value, issued["token"])
        self.assertEqual(attrs.get("path"), "/premium/live/%s/" % PREMIUM)
        self.assertIs(attrs.get("httponly"), True)
        self.assertAlmostEqual(int(attrs.get("max-age")), issued["ttl_seconds"], delta=5)
        master = r.raw.decode("utf-8")
        child = self.media_playlist_names(master)[0]
        r = self.prem(child, headers={"Cookie": "__token__=" + value})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(b"__token__", r.raw)
        media = parse_media(r.raw.decode("utf-8"))
        child_dir = os.path.dirname(child)
        seg = media["segments"][-1]["uri"]
        r = self.prem("%s/%s" % (child_dir, seg) if child_dir else seg,
                      headers={"Cookie": "__token__=" + value})
        self.assertEqual(r.status, 200, r)
        self.assert_denied(self.prem(child), "missing")

    # ---- stats ----

    def test_stats_count_denials_per_reason(self):
        before = self.stats()
        for reason in REASONS:
            self.assertIn(reason, before["denied"], before)
        for name in ("entries", "capacity", "hits", "misses"):
            self.assertIn(name, before["cache"], before)
        self.assertIn("sessions", before)
        now = int(time.time())
        expired = self.ref_token(start=now - 3600, exp=now - 300, window=None)
        self.assert_denied(self.prem("master.m3u8", expired), "expired")
        self.assert_denied(self.prem("master.m3u8", expired), "expired")
        self.assert_denied(self.prem("master.m3u8"), "missing")
        token = self.issue()["token"]
        for _ in range(3):
            self.assertEqual(self.prem("master.m3u8", token).status, 200)
        after = self.stats()
        self.assertGreaterEqual(after["denied"]["expired"], before["denied"]["expired"] + 2)
        self.assertGreaterEqual(after["denied"]["missing"], before["denied"]["missing"] + 1)
        self.assertGreaterEqual(after["allowed"], before["allowed"] + 3)
        # The second and third requests with one token are answered from the cache.
        self.assertGreaterEqual(after["cache"]["hits"], before["cache"]["hits"] + 2)

    # ---- roles ----

    def test_viewer_key_cannot_change_keys_policy_or_revocations(self):
        viewer = self.box.client(api_key=self.box.create_apikey("acc-viewer", "viewer"))
        self.assertEqual(viewer.get("/api/v1/access/policy").status, 200)
        self.assertEqual(viewer.get("/api/v1/access/revocations").status, 200)
        self.assertEqual(viewer.get("/api/v1/access/stats").status, 200)
        assert_error(self, viewer.get("/api/v1/access/keys"), 403, "forbidden")
        assert_error(self, viewer.post("/api/v1/access/keys",
                                       {"id": "v1", "secret_hex": "ab" * 16}), 403, "forbidden")
        assert_error(self, viewer.put("/api/v1/access/policy", DEFAULT_POLICY), 403,
                     "forbidden")
        assert_error(self, viewer.post("/api/v1/access/revocations", {"viewer_id": "x"}),
                     403, "forbidden")
        assert_error(self, viewer.post("/api/v1/playback-tokens",
                                       {"path": "/premium/live/%s/master.m3u8" % PREMIUM}),
                     403, "forbidden")
        self.assertNotIn("v1", [k["id"] for k in self.admin.get("/api/v1/access/keys")
                                .json["keys"]])

    def test_operator_key_revokes_and_issues_but_cannot_touch_keys(self):
        operator = self.box.client(api_key=self.box.create_apikey("acc-operator", "operator"))
        r = operator.post("/api/v1/access/revocations", {"viewer_id": "op-revoked"})
        self.assertEqual(r.status, 201, r)
        r = operator.delete("/api/v1/access/revocations/%s" % r.json["id"])
        self.assertIn(r.status, (200, 204), r)
        self.issue(client=operator)
        assert_error(self, operator.post("/api/v1/access/keys",
                                         {"id": "op1", "secret_hex": "ab" * 16}), 403,
                     "forbidden")
        assert_error(self, operator.put("/api/v1/access/policy", DEFAULT_POLICY), 403,
                     "forbidden")

    def test_issuer_user_logs_in_and_issues(self):
        r = self.admin.post("/api/v1/users", {"name": "paywall", "role": "issuer",
                                              "password": "paywall passphrase one"})
        self.assertEqual(r.status, 201, r)
        self.box.add_user("paywall-cli", "issuer", "paywall passphrase two")
        user = self.box.client()
        self.assertEqual(user.login("paywall-cli", "paywall passphrase two").status, 200)
        issued = self.issue(client=user)
        self.assertEqual(self.prem("master.m3u8", issued["token"]).status, 200)
        assert_error(self, user.get("/api/v1/access/keys"), 403, "forbidden")

    def test_issuer_key_only_issues_tokens(self):
        issuer = self.box.client(api_key=self.box.create_apikey("acc-issuer", "issuer"))
        issued = self.issue(client=issuer, viewer_id="paywall-1")
        self.assertEqual(self.prem("master.m3u8", issued["token"]).status, 200)
        for method, path, body in (
                ("GET", "/api/v1/access/keys", None),
                ("POST", "/api/v1/access/keys", {"id": "iss1", "secret_hex": "ab" * 16}),
                ("DELETE", "/api/v1/access/keys/nokey", None),
                ("PUT", "/api/v1/access/policy", DEFAULT_POLICY),
                ("POST", "/api/v1/access/revocations", {"viewer_id": "x"}),
                ("GET", "/api/v1/channels", None),
                ("GET", "/api/v1/channels/%s" % PREMIUM, None),
                ("POST", "/api/v1/channels", {"id": "iss", "name": "iss",
                                              "input": {"url": SOURCE}}),
                ("POST", "/api/v1/channels/%s/stop" % IDLE_PREMIUM, None)):
            with self.subTest(method=method, path=path):
                r = issuer.request(method, path, body=body)
                assert_error(self, r, 403, "forbidden")
        self.assertIn(KEY_A_ID, [k["id"] for k in self.admin.get("/api/v1/access/keys")
                                 .json["keys"]])
        self.assertEqual(self.admin.get("/api/v1/channels/%s" % PREMIUM).json["status"]
                         ["state"], "live")


class NoKeyTest(BoxTestCase, unittest.TestCase):
    """A box with no playback key yet: nothing to issue with, nothing verifies."""
    login_admin = True

    def test_issuing_without_a_key_is_409_and_tokens_do_not_verify(self):
        r = self.admin.post("/api/v1/channels", {"id": "locked", "name": "locked",
                                                 "access": "premium", "input": {"url": SOURCE}})
        self.assertEqual(r.status, 201, r)
        r = self.admin.post("/api/v1/playback-tokens",
                            {"path": "/premium/live/locked/master.m3u8"})
        assert_error(self, r, 409)
        self.assertEqual(self.admin.get("/api/v1/access/keys").json, {"keys": []})
        token = ref.generate(KEY_A, acl="/premium/live/locked/*", window=600)
        r = self.box.client().get(with_token("/premium/live/locked/master.m3u8", token),
                                  auth=False)
        self.assertIn(r.status, (403, 404), r)
        if r.status == 403:
            self.assertEqual(r.header("X-Access-Denied"), "bad_signature")
        # The first key imported signs.
        r = self.admin.post("/api/v1/access/keys", {"id": "first", "secret_hex": KEY_A})
        self.assertEqual(r.status, 201, r)
        self.assertIs(r.json["signing"], True)
        issued = self.admin.post("/api/v1/playback-tokens",
                                 {"path": "/premium/live/locked/master.m3u8"})
        self.assertEqual(issued.status, 201, issued)
        self.assertEqual(issued.json["key_id"], "first")
        # The last key may go, signing or not; then nothing is issued again.
        r = self.admin.delete("/api/v1/access/keys/first")
        self.assertIn(r.status, (200, 204), r)
        r = self.admin.post("/api/v1/playback-tokens",
                            {"path": "/premium/live/locked/master.m3u8"})
        assert_error(self, r, 409)


if __name__ == "__main__":
    unittest.main()
