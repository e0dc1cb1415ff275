"""The console's dashboard and channel pages in a real browser (tests/e2e/console_channels.mjs,
headless Chromium), against a real ottboxd (issue 6): the admin's first login and forced
password change; a channel from the test pattern made through the form, after the box
refused a segment duration of 10 s with its message next to the segment field; started, its
preview playing in hls.js with every rendition in the picker; the dashboard's figures
changing while it runs with one request for the channels (the rest is pushed over the live
feed); a premium channel's preview with an issued playback token and with one handed in by
the #/channels/ID/token/TOKEN route; a viewer sees no control that changes something and
is told the premium preview needs the issue permission; stop and delete, each confirmed in
the page.

Screenshots land in output/tests/screenshots/console-channels (failed.png when a step
fails). Needs node, playwright-core from package-lock.json and /usr/bin/chromium; `make test`
installs them all, and without them this test is skipped."""

import os
import subprocess
import unittest

from ottbox import NEW_ADMIN_PASSWORD, REPO_ROOT, BoxTestCase
from test_console_browser import WWW, missing_tools

SCRIPT = os.path.join(REPO_ROOT, "tests", "e2e", "console_channels.mjs")
SCREENSHOTS = os.path.join(REPO_ROOT, "output", "tests", "screenshots", "console-channels")
STEP_TIMEOUT_S = 15
VIEWER_PASSWORD = "a viewer only looks"
SCRIPT_TIMEOUT_S = 240

# Two small rungs (the second 40 % below the first), cheap enough to encode in real time on
# a small machine while the browser plays them.
LADDER = {"id": "console-small", "name": "Console test, two small rungs",
          "rungs": [{"width": 320, "height": 180, "video_bitrate_kbps": 400,
                     "preset": "ultrafast"},
                    {"width": 192, "height": 108, "video_bitrate_kbps": 240,
                     "preset": "ultrafast"}],
          "audio": {"mode": "aac", "bitrate_kbps": 64}}


@unittest.skipIf(missing_tools(), missing_tools())
class ConsoleChannelsBrowserTest(BoxTestCase, unittest.TestCase):

    def test_dashboard_and_channel_pages(self):
        self.assertTrue(os.path.isfile(os.path.join(WWW, "vendor", "hls.esm.js")),
                        "the console's libraries are not in %s: run `make`" % WWW)
        # The ladder with an operator's key, the token key (for the premium preview) with an
        # admin's: the admin's one-time password stays for the browser to use.
        operator = self.box.client(api_key=self.box.create_apikey("console-ladder", "operator"))
        r = operator.post("/api/v1/ladders", LADDER)
        self.assertEqual(r.status, 201, r)
        admin = self.box.client(api_key=self.box.create_apikey("console-keys", "admin"))
        r = admin.post("/api/v1/access/keys", {"id": "console"})
        self.assertEqual(r.status, 201, r)
        self.box.add_user("watcher", "viewer", VIEWER_PASSWORD)

        initial = self.box.initial_password()
        try:
            result = subprocess.run(
                ["node", SCRIPT, "http://127.0.0.1:%d" % self.box.port,
                 "--initial-password", initial, "--new-password", NEW_ADMIN_PASSWORD,
                 "--ladder", LADDER["id"], "--viewer", "watcher:" + VIEWER_PASSWORD,
                 "--screenshots", SCREENSHOTS,
                 "--timeout", str(STEP_TIMEOUT_S)],
                capture_output=True, text=True, cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail("console_channels.mjs did not finish within %d s; its output:\n%s%s"
                      % (SCRIPT_TIMEOUT_S, e.stdout or "", e.stderr or ""))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0,
                         "the channel pages test failed:\n%s\nthe box's log (end):\n%s"
                         % (output, self.box.stderr()[-4000:]))
        self.assertIn("console_channels: OK", result.stdout, output)

        # What the browser did, as the API sees it: both channels made through the form are
        # gone again, and the audit log has each step by the admin's session.
        r = operator.get("/api/v1/channels")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["channels"], [])
        r = admin.get("/api/v1/audit?limit=200")
        self.assertEqual(r.status, 200, r)
        done = {(e["action"], e["target"]) for e in r.json["records"]
                if e["actor"] == "user:admin" and e["result"] == "ok"}
        for channel in ("form-test", "premium-test"):
            for action in ("channel.create", "channel.start", "channel.stop", "channel.delete"):
                self.assertIn((action, channel), done, sorted(done))


if __name__ == "__main__":
    unittest.main()
