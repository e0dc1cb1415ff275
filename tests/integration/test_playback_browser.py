"""A real browser plays a channel: hls.js in Debian's headless Chromium (tests/e2e/playback.mjs)
loads /live/{channel}/master.m3u8 from another origin, sees the ladder's levels and plays on;
and a premium channel from the tokenized URL that POST /api/v1/playback-tokens answers with,
every request of the player carrying the token (issue 5).

Needs node, the npm packages of package-lock.json (playwright-core, hls.js) and
/usr/bin/chromium; `make test` installs them all, and without them this test is skipped."""

import os
import shutil
import subprocess
import time
import unittest
import urllib.parse

from ottbox import REPO_ROOT, BoxTestCase
from media import SMALL_LADDER

PLAYBACK_SCRIPT = os.path.join(REPO_ROOT, "tests", "e2e", "playback.mjs")
CHROMIUM = "/usr/bin/chromium"
PLAYLIST_DEADLINE_S = 40
PLAYBACK_DEADLINE_S = 40
# Time for the script beyond its own deadline: starting and closing Chromium.
SCRIPT_SLACK_S = 60


def missing_tools():
    """Why the browser test cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (Debian's nodejs; `make test` installs it)"
    if not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "playwright-core")):
        return "node_modules/playwright-core is missing (`npm ci`; `make test` runs it)"
    if not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "hls.js")):
        return "node_modules/hls.js is missing (`npm ci`; `make test` runs it)"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is missing (Debian's chromium; `make test` installs it)" % CHROMIUM
    return None


@unittest.skipIf(missing_tools(), missing_tools())
class BrowserPlaybackTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    def start_channel(self, body):
        r = self.admin.post("/api/v1/channels", body)
        self.assertEqual(r.status, 201, r)
        cid = r.json["id"]
        r = self.admin.post("/api/v1/channels/%s/start" % cid)
        self.assertIn(r.status, (200, 202, 204), r)
        # Stopped when the test ends: the next test's channel gets the cores to itself.
        self.addCleanup(self.admin.post, "/api/v1/channels/%s/stop" % cid)
        return cid

    def play(self, url, *extra):
        """Runs playback.mjs on url; fails the test unless the browser played it."""
        try:
            result = subprocess.run(
                ["node", PLAYBACK_SCRIPT, url, "--levels", "2",
                 "--timeout", str(PLAYBACK_DEADLINE_S)] + list(extra),
                capture_output=True, text=True, cwd=REPO_ROOT,
                timeout=PLAYBACK_DEADLINE_S + SCRIPT_SLACK_S)
        except subprocess.TimeoutExpired as e:
            self.fail("playback.mjs did not finish within %d s; its output:\n%s%s"
                      % (PLAYBACK_DEADLINE_S + SCRIPT_SLACK_S, e.stdout or "", e.stderr or ""))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0,
                         "the browser did not play %s:\n%s\nthe box's log (end):\n%s"
                         % (url, output, self.box.stderr()[-4000:]))
        self.assertIn("playback: OK", result.stdout, output)
        return result.stdout

    def wait_for_playlist(self, path):
        client = self.box.client()
        deadline = time.monotonic() + PLAYLIST_DEADLINE_S
        last = None
        while time.monotonic() < deadline:
            try:
                r = client.get(path, auth=False)
                if r.status == 200:
                    return r
                last = r
            except OSError as e:
                last = e
            time.sleep(0.5)
        self.fail("GET %s did not answer 200 within %d s (last: %r); the box's log:\n%s"
                  % (path, PLAYLIST_DEADLINE_S, last, self.box.stderr()[-4000:]))

    def test_hls_js_in_chromium_plays_the_test_pattern(self):
        cid = self.start_channel({"name": "demo",
                                  "input": {"url": "test://pattern?size=1280x720&rate=30"}})
        self.assertEqual(cid, "demo")

        self.wait_for_playlist("/live/demo/master.m3u8")

        self.play("http://127.0.0.1:%d/live/demo/master.m3u8" % self.box.port)

    def test_hls_js_in_chromium_plays_a_premium_channel_from_a_tokenized_url(self):
        # A small ladder and source (two rungs of at most 320x180) keep this one cheap.
        r = self.admin.post("/api/v1/ladders", SMALL_LADDER)
        self.assertEqual(r.status, 201, r)
        r = self.admin.post("/api/v1/access/keys", {"id": "browser"})
        self.assertEqual(r.status, 201, r)
        cid = self.start_channel({"id": "paid", "name": "paid", "access": "premium",
                                  "ladder": SMALL_LADDER["id"],
                                  "input": {"url": "test://pattern?size=320x180&rate=25"}})
        r = self.admin.post("/api/v1/playback-tokens",
                            {"path": "/premium/live/%s/master.m3u8" % cid,
                             "viewer_id": "browser-viewer"})
        self.assertEqual(r.status, 201, r)
        url = r.json["url"]
        if url.startswith("/"):
            url = "http://127.0.0.1:%d%s" % (self.box.port, url)
        parts = urllib.parse.urlsplit(url)
        self.assertEqual(parts.path, "/premium/live/%s/master.m3u8" % cid)

        # Without the token the player gets nothing.
        self.assertEqual(self.box.client().get(parts.path, auth=False).status, 401)
        self.wait_for_playlist(parts.path + "?" + parts.query)

        self.play(url, "--require-param", "__token__")


if __name__ == "__main__":
    unittest.main()
