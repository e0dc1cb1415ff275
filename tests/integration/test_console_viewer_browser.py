"""A viewer in the console (tests/e2e/console_viewer.mjs, headless Chromium): every page
shows no control that changes something and logs no error, and a start or a settings change
forced from the viewer's own session (with its CSRF token) is refused and changes nothing
(issue 6: "a viewer-role user sees no edit controls, and a forced API call from that session
is refused").

Screenshots of each page as the viewer land in output/tests/screenshots/console-viewer
(failed.png when a step fails). Needs node, playwright-core from package-lock.json and
/usr/bin/chromium; without them this test is skipped."""

import os
import subprocess
import unittest

from ottbox import REPO_ROOT, BoxTestCase
from test_console_browser import STEP_TIMEOUT_S, WWW, missing_tools

SCRIPT = os.path.join(REPO_ROOT, "tests", "e2e", "console_viewer.mjs")
SCREENSHOTS = os.path.join(REPO_ROOT, "output", "tests", "screenshots", "console-viewer")
SCRIPT_TIMEOUT_S = 90
VIEWER = "watcher"
VIEWER_PASSWORD = "lantern pebble 77"
VIEWER_NEW_PASSWORD = "quiet harbour lights"
CHANNEL = {"name": "viewer-demo", "input": {"url": "test://pattern?size=320x180&rate=25"}}
LADDER = {"id": "viewer-ladder", "name": "Viewer test ladder", "rungs": [
    {"width": 1280, "height": 720, "video_bitrate_kbps": 3000},
    {"width": 960, "height": 540, "video_bitrate_kbps": 1800},
    {"width": 640, "height": 360, "video_bitrate_kbps": 1000}]}


@unittest.skipIf(missing_tools(), missing_tools())
class ConsoleViewerBrowserTest(BoxTestCase, unittest.TestCase):

    def test_viewer_sees_no_edit_controls_and_forced_calls_are_refused(self):
        self.assertTrue(os.path.isfile(os.path.join(WWW, "console", "pages", "system.js")),
                        "the console is not in %s: run `make`" % WWW)
        api = self.box.client(api_key=self.box.create_apikey("console-viewer-test", "admin"))
        r = api.post("/api/v1/users", {"name": VIEWER, "role": "viewer",
                                       "password": VIEWER_PASSWORD})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.json["must_change_password"], r)
        r = api.post("/api/v1/channels", CHANNEL)
        self.assertEqual(r.status, 201, r)
        channel = r.json["id"]
        r = api.post("/api/v1/ladders", LADDER)
        self.assertEqual(r.status, 201, r)
        box_name = api.get("/api/v1/settings").json["box_name"]

        try:
            result = subprocess.run(
                ["node", SCRIPT, "http://127.0.0.1:%d" % self.box.port,
                 "--user", VIEWER, "--password", VIEWER_PASSWORD,
                 "--new-password", VIEWER_NEW_PASSWORD, "--channel", channel,
                 "--ladder", LADDER["id"], "--screenshots", SCREENSHOTS,
                 "--timeout", str(STEP_TIMEOUT_S)],
                capture_output=True, text=True, cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail("console_viewer.mjs did not finish within %d s; its output:\n%s%s"
                      % (SCRIPT_TIMEOUT_S, e.stdout or "", e.stderr or ""))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0,
                         "the console viewer test failed:\n%s\nthe box's log (end):\n%s"
                         % (output, self.box.stderr()[-4000:]))
        self.assertIn("console_viewer: OK", result.stdout, output)

        # The refused calls changed nothing, as the admin sees it.
        status = api.get("/api/v1/channels/%s" % channel).json["status"]
        self.assertNotIn(status["state"], ("starting", "live"), status)
        self.assertEqual(api.get("/api/v1/settings").json["box_name"], box_name)
        # The browser chose the viewer's password.
        self.assertEqual(self.box.client().login(VIEWER, VIEWER_NEW_PASSWORD).status, 200)


if __name__ == "__main__":
    unittest.main()
