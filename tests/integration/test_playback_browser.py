"""A real browser plays a channel: hls.js in Debian's headless Chromium (tests/e2e/playback.mjs)
loads /live/{channel}/master.m3u8 from another origin, sees the ladder's levels and plays on.

Needs node, the npm packages of package-lock.json (playwright-core, hls.js) and
/usr/bin/chromium; `make test` installs them all, and without them this test is skipped."""

import os
import shutil
import subprocess
import time
import unittest

from ottbox import REPO_ROOT, BoxTestCase

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
        r = self.admin.post("/api/v1/channels", {
            "name": "demo", "input": {"url": "test://pattern?size=1280x720&rate=30"}})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["id"], "demo")
        r = self.admin.post("/api/v1/channels/demo/start")
        self.assertIn(r.status, (200, 202, 204), r)

        self.wait_for_playlist("/live/demo/master.m3u8")

        url = "http://127.0.0.1:%d/live/demo/master.m3u8" % self.box.port
        try:
            result = subprocess.run(
                ["node", PLAYBACK_SCRIPT, url, "--levels", "2",
                 "--timeout", str(PLAYBACK_DEADLINE_S)],
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


if __name__ == "__main__":
    unittest.main()
