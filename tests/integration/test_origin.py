"""The playback origin: /live/CHANNEL/FILE serves what the packager publishes under
DATA_DIR/live, publicly, with the right types, caching, CORS and byte ranges, and nothing
else: any other path is a 404 that never reads outside the channel's directory.

The origin serves only channels that are in the store, so each test creates (and never
starts) the public channel whose files it plants under DATA_DIR/live."""

import http.client
import os
import unittest

from ottbox import BoxTestCase, assert_error

PLAYLIST_CACHE = "public, max-age=1"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
M3U8 = "application/vnd.apple.mpegurl"
# X-Access-Denied: a player on another origin may read why a premium request was refused.
EXPOSED = "Content-Length, Content-Range, Date, X-Access-Denied"
SECRET = b"SECRET-BYTES-OUTSIDE-LIVE"


def pattern_bytes(n, seed=0):
    """n bytes that differ at every offset, so a wrong range shows."""
    return bytes((i * 7 + seed + i // 251) % 256 for i in range(n))


class OriginTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channels = set()
        cls.live = cls.box.path("live")
        with open(cls.box.path("secret.txt"), "wb") as f:
            f.write(SECRET)
        options = cls.box.cli_ok("version").stdout
        cls.has_ts = " PKG_HLS_TS" in options

    # ---- helpers ----

    def create_channel(self, channel):
        """Creates the public channel (not started) once: the origin serves only channels
        that are in the store."""
        if channel in self.channels:
            return
        r = self.admin.post("/api/v1/channels", {
            "id": channel, "name": channel, "access": "public",
            "input": {"url": "test://pattern?size=256x144&rate=25"}})
        self.assertEqual(r.status, 201, r)
        self.channels.add(channel)

    def publish(self, channel, name, data, create=True):
        """Writes DATA_DIR/live/CHANNEL/NAME the way the packager does: a .NAME.tmp file
        renamed into place; first creates the channel unless create is False."""
        if create:
            self.create_channel(channel)
        path = os.path.join(self.live, channel, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
        return path

    def fetch(self, method, path, headers=None):
        """One request with the raw path as given (no normalization); returns
        (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.box.port, timeout=30)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return resp, resp.read()
        finally:
            conn.close()

    def assert_cors(self, resp):
        self.assertEqual(resp.headers.get("Access-Control-Allow-Origin"), "*", resp.headers)
        self.assertEqual(resp.headers.get("Access-Control-Expose-Headers"), EXPOSED,
                         resp.headers)

    # ---- tests ----

    def test_playlist_is_404_with_a_json_error_until_published(self):
        self.create_channel("before")
        client = self.box.client()
        r = client.get("/live/before/master.m3u8")
        assert_error(self, r, 404, "not_found",
                     mentions=['no channel "before" is live here', "first segment"])
        self.assert_cors(r)
        r = client.get("/live/before/v0/1.m4s")
        assert_error(self, r, 404, "not_found", mentions=["before", "v0/1.m4s"])
        self.publish("before", "master.m3u8", b"#EXTM3U\n")
        r = client.get("/live/before/master.m3u8")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, b"#EXTM3U\n")

    def test_channel_not_in_the_store_is_404_even_with_files_on_disk(self):
        self.publish("ghost", "master.m3u8", b"#EXTM3U\n", create=False)
        self.publish("ghost", "v0/1.m4s", b"segment", create=False)
        for name in ("master.m3u8", "v0/1.m4s"):
            with self.subTest(name=name):
                r = self.box.client().get("/live/ghost/" + name)
                assert_error(self, r, 404, "not_found", mentions=["ghost"])
                self.assertNotIn(b"#EXTM3U", r.raw)
                self.assertNotIn(b"segment", r.raw)
        self.create_channel("ghost")
        self.assertEqual(self.box.client().get("/live/ghost/master.m3u8").status, 200)

    def test_each_file_form_has_its_type_and_cache_control(self):
        files = [
            ("master.m3u8", M3U8, PLAYLIST_CACHE),
            ("manifest.mpd", "application/dash+xml", PLAYLIST_CACHE),
            ("v0.m3u8", M3U8, PLAYLIST_CACHE),
            ("v1.m3u8", M3U8, PLAYLIST_CACHE),
            ("a0.m3u8", M3U8, PLAYLIST_CACHE),
            ("v0/init-1.mp4", "video/mp4", SEGMENT_CACHE),
            ("v0/100.m4s", "video/mp4", SEGMENT_CACHE),
            ("v1/100.m4s", "video/mp4", SEGMENT_CACHE),
            ("a0/init-1.mp4", "audio/mp4", SEGMENT_CACHE),
            ("a0/100.m4s", "audio/mp4", SEGMENT_CACHE),
        ]
        if self.has_ts:
            files.append(("v0/100.ts", "video/mp2t", SEGMENT_CACHE))
        for i, (name, mime, cache) in enumerate(files):
            data = pattern_bytes(300 + i, seed=i)
            self.publish("forms", name, data)
            with self.subTest(file=name):
                r = self.box.client().get("/live/forms/" + name)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.raw, data)
                self.assertEqual(r.header("Content-Type"), mime)
                self.assertEqual(r.header("Cache-Control"), cache)
                self.assertEqual(r.header("Content-Length"), str(len(data)))
                self.assertEqual(r.header("Accept-Ranges"), "bytes")
                self.assertTrue(r.header("ETag"), r.headers)
                self.assertTrue(r.header("Last-Modified"), r.headers)
                self.assertTrue(r.header("Date"), r.headers)
                self.assert_cors(r)

    def test_ts_segments_follow_the_build_option(self):
        self.publish("ts", "v0/5.ts", b"\x47" * 188)
        r = self.box.client().get("/live/ts/v0/5.ts")
        if self.has_ts:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Content-Type"), "video/mp2t")
        else:
            assert_error(self, r, 404, "not_found", mentions=["v0/5.ts"])

    def test_head_has_the_get_headers_and_no_body(self):
        data = pattern_bytes(1234)
        self.publish("head", "v0/7.m4s", data)
        client = self.box.client(keep_alive=True)
        try:
            r = client.request("HEAD", "/live/head/v0/7.m4s")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.raw, b"")
            self.assertEqual(r.header("Content-Length"), "1234")
            self.assertEqual(r.header("Content-Type"), "video/mp4")
            self.assert_cors(r)
            r = client.request("HEAD", "/live/head/v0/8.m4s")
            self.assertEqual(r.status, 404, r)
            self.assertEqual(r.raw, b"")
            # The connection is still in step: the next answer is whole and right.
            r = client.get("/live/head/v0/7.m4s")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.raw, data)
        finally:
            client.close()

    def test_byte_ranges(self):
        data = pattern_bytes(1000)
        self.publish("range", "v0/42.m4s", data)
        cases = [
            ("bytes=0-9", 0, 9),
            ("bytes=10-19", 10, 19),
            ("bytes=990-", 990, 999),
            ("bytes=-5", 995, 999),
            ("bytes=995-5000", 995, 999),
            ("bytes=-5000", 0, 999),
            ("bytes=999-999", 999, 999),
        ]
        for header, first, last in cases:
            with self.subTest(range=header):
                r = self.box.client().get("/live/range/v0/42.m4s", headers={"Range": header})
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.header("Content-Range"),
                                 "bytes %d-%d/1000" % (first, last))
                self.assertEqual(r.header("Content-Length"), str(last - first + 1))
                self.assertEqual(r.raw, data[first:last + 1])
                self.assertEqual(r.header("Content-Type"), "video/mp4")
                self.assert_cors(r)

    def test_unsatisfiable_range_is_416(self):
        self.publish("range416", "v0/1.m4s", pattern_bytes(100))
        for header in ("bytes=100-", "bytes=100-200", "bytes=5000-6000", "bytes=-0"):
            with self.subTest(range=header):
                r = self.box.client().get("/live/range416/v0/1.m4s", headers={"Range": header})
                assert_error(self, r, 416, "range_not_satisfiable", mentions=["100 bytes"])
                self.assertEqual(r.header("Content-Range"), "bytes */100")
                self.assert_cors(r)

    def test_ranges_it_does_not_serve_get_the_whole_file(self):
        data = pattern_bytes(100)
        self.publish("range200", "v0/1.m4s", data)
        for header in ("bytes=0-1,5-6", "bytes=9-0", "items=0-9", "bytes=abc"):
            with self.subTest(range=header):
                r = self.box.client().get("/live/range200/v0/1.m4s", headers={"Range": header})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.raw, data)
                self.assertIsNone(r.header("Content-Range"))

    def test_large_file_whole_and_in_the_middle(self):
        data = pattern_bytes(3 * 1024 * 1024 + 17)
        self.publish("large", "v0/9.m4s", data)
        r = self.box.client().get("/live/large/v0/9.m4s")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.raw), len(data))
        self.assertEqual(r.raw, data)
        r = self.box.client().get("/live/large/v0/9.m4s",
                                  headers={"Range": "bytes=1000000-2000000"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.raw, data[1000000:2000001])

    def test_validators_answer_304_and_change_with_a_new_version(self):
        self.publish("etag", "v0.m3u8", b"#EXTM3U\n#one\n")
        r = self.box.client().get("/live/etag/v0.m3u8")
        etag = r.header("ETag")
        self.assertTrue(etag and etag.startswith('"'), r.headers)
        r = self.box.client().get("/live/etag/v0.m3u8", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 304, r)
        self.assertEqual(r.raw, b"")
        self.assertEqual(r.header("ETag"), etag)
        self.assertEqual(r.header("Cache-Control"), PLAYLIST_CACHE)
        self.assert_cors(r)
        self.publish("etag", "v0.m3u8", b"#EXTM3U\n#two\n")
        r = self.box.client().get("/live/etag/v0.m3u8", headers={"If-None-Match": etag})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, b"#EXTM3U\n#two\n")
        self.assertNotEqual(r.header("ETag"), etag)
        # A range of the old version is no use: If-Range with the old tag gets it all.
        r = self.box.client().get("/live/etag/v0.m3u8",
                                  headers={"Range": "bytes=0-1", "If-Range": etag})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, b"#EXTM3U\n#two\n")

    def test_options_is_a_cors_preflight(self):
        r = self.box.client().request("OPTIONS", "/live/any/master.m3u8",
                                      headers={"Origin": "https://player.example",
                                               "Access-Control-Request-Method": "GET",
                                               "Access-Control-Request-Headers": "range"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.raw, b"")
        self.assert_cors(r)
        self.assertEqual(r.header("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS")
        # __token__: the playback token may come in a header of that name.
        self.assertEqual(r.header("Access-Control-Allow-Headers"), "Range, __token__")
        self.assertTrue(int(r.header("Access-Control-Max-Age")) > 0, r.headers)

    def test_preflight_is_answered_by_the_origin_and_not_for_the_api(self):
        preflight = {"Origin": "https://player.example",
                     "Access-Control-Request-Method": "DELETE",
                     "Access-Control-Request-Headers": "authorization"}
        r = self.box.client().request("OPTIONS", "/live/any/v0.m3u8", headers=preflight)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS")
        # The API is for the console on the box's own origin: no site may call it.
        r = self.box.client().request("OPTIONS", "/api/v1/users/admin", headers=preflight)
        self.assertEqual(r.status, 405, r)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        self.assertIsNone(r.header("Access-Control-Allow-Methods"))

    def test_other_methods_are_405(self):
        self.publish("methods", "master.m3u8", b"#EXTM3U\n")
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                r = self.box.client().request(method, "/live/methods/master.m3u8", raw=b"x")
                assert_error(self, r, 405, "method_not_allowed")
                self.assertEqual(r.header("Allow"), "GET, HEAD, OPTIONS")
                self.assert_cors(r)
        self.assertTrue(os.path.exists(os.path.join(self.live, "methods", "master.m3u8")))

    def test_needs_no_login_and_ignores_credentials(self):
        self.publish("public", "master.m3u8", b"#EXTM3U\n")
        r = self.box.client().get("/live/public/master.m3u8")
        self.assertEqual(r.status, 200, r)
        r = self.box.client(api_key="obk_not-a-key").get("/live/public/master.m3u8")
        self.assertEqual(r.status, 200, r)
        r = self.box.client().get("/live/public/master.m3u8",
                                  headers={"Cookie": "ob_session=forged"})
        self.assertEqual(r.status, 200, r)

    def test_bad_channel_id_is_404(self):
        for channel in ("News", "-news", "ne.ws", "a" * 33, "n%20s", "%C3%A9t%C3%A9"):
            with self.subTest(channel=channel):
                r = self.box.client().get("/live/%s/master.m3u8" % channel)
                assert_error(self, r, 404, "not_found", mentions=["channel id"])
                self.assert_cors(r)

    def test_other_file_names_are_404(self):
        self.publish("names", "master.m3u8", b"#EXTM3U\n")
        self.publish("names", "v0/100.m4s", b"segment")
        for name in ("master.m3u8.bak", "Master.m3u8", "v01.m3u8", "x0.m3u8", "v0/0100.m4s",
                     "v0/100.mp4", "v0/init-1.m4s", "v0/", "v0", "", "notes.txt",
                     "master.m3u8/", "v0/100.m4s/x"):
            with self.subTest(name=name):
                r = self.box.client().get("/live/names/" + name)
                assert_error(self, r, 404, "not_found", mentions=["master.m3u8"])

    def test_traversal_and_hidden_files_are_404_and_read_nothing(self):
        channel_dir = os.path.dirname(self.publish("trav", "master.m3u8", b"#EXTM3U\n"))
        # What a traversal would reach: a temp file, a file beside the live tree, the store.
        with open(os.path.join(channel_dir, ".master.m3u8.tmp"), "wb") as f:
            f.write(SECRET)
        with open(os.path.join(self.live, "secret.m3u8"), "wb") as f:
            f.write(SECRET)
        with open(self.box.db_path, "rb") as f:
            store_head = f.read(16)
        reaches_origin = [
            "/live/trav/../store.db",
            "/live/trav/.master.m3u8.tmp",
            "/live/trav/v0/../../y",
            "/live/trav/%2e%2e/secret.m3u8",
            "/live/trav/%2E%2E/trav/master.m3u8",
            "/live/trav/.%2e/secret.m3u8",
            "/live/trav/..%2fsecret.m3u8",
            "/live/trav//master.m3u8",
            "/live/trav/./master.m3u8",
        ]
        # CivetWeb resolves these to paths outside /live/ before any handler sees them;
        # whatever answers, it must be a 404 with nothing of those files.
        anywhere = [
            "/live/trav/v0/..%2F..%2F..%2Fsecret.txt",
            "/live/..%2f..%2fsecret.txt/master.m3u8",
            "/live/trav/../../secret.txt",
            "/live/trav/../../ottbox.db",
            "/live/%2e%2e/%2e%2e/secret.txt",
            "/live/trav/%2e%2e/%2e%2e/ottbox.db",
            "/live/../secret.txt",
        ]
        for path in reaches_origin + anywhere:
            with self.subTest(path=path):
                resp, body = self.fetch("GET", path)
                self.assertEqual(resp.status, 404, "%s answered %d: %r" % (path, resp.status,
                                                                          body[:200]))
                self.assertNotIn(SECRET, body)
                self.assertNotIn(store_head, body)
                self.assertNotIn(b"#EXTM3U", body)
        for path in reaches_origin:
            with self.subTest(path=path, check="json"):
                r = self.box.client().get(path)
                assert_error(self, r, 404, "not_found")
                self.assert_cors(r)

    def test_links_and_directories_in_the_live_tree_are_not_served(self):
        self.publish("links", "master.m3u8", b"#EXTM3U\n")
        os.makedirs(os.path.join(self.live, "links", "v0"), exist_ok=True)
        os.symlink(self.box.path("secret.txt"), os.path.join(self.live, "links", "v0", "5.m4s"))
        os.makedirs(os.path.join(self.live, "links", "v1.m3u8"))
        for path in ("/live/links/v0/5.m4s", "/live/links/v1.m3u8"):
            with self.subTest(path=path):
                r = self.box.client().get(path)
                assert_error(self, r, 404, "not_found")
                self.assertNotIn(SECRET, r.raw)

    def test_deleted_segment_is_404(self):
        path = self.publish("gone", "v0/1.m4s", b"old segment")
        self.assertEqual(self.box.client().get("/live/gone/v0/1.m4s").status, 200)
        os.unlink(path)
        r = self.box.client().get("/live/gone/v0/1.m4s")
        assert_error(self, r, 404, "not_found", mentions=["v0/1.m4s", "reload the playlist"])

    def test_segment_deleted_during_its_answer_is_sent_whole(self):
        data = pattern_bytes(8 * 1024 * 1024)
        path = self.publish("midway", "v0/1.m4s", data)
        conn = http.client.HTTPConnection("127.0.0.1", self.box.port, timeout=30)
        try:
            conn.request("GET", "/live/midway/v0/1.m4s")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            first = resp.read(1024)
            os.unlink(path)
            body = first + resp.read()
        finally:
            conn.close()
        self.assertEqual(len(body), len(data))
        self.assertEqual(body, data)
        self.assertEqual(self.box.client().get("/live/midway/v0/1.m4s").status, 404)

    def test_origin_is_not_an_api_route(self):
        routes = self.box.cli_ok("routes").stdout
        self.assertNotIn("/live", routes)


if __name__ == "__main__":
    unittest.main()
