"""The console's ladders and access pages in a real browser (tests/e2e/console_admin.mjs,
headless Chromium, issue 6): a ladder made, refused for a 60 % step (flagged as typed, the
box's message beside the rung's bitrate), edited and deleted with confirmation; a key
generated (secret shown once), imported, made the signing key, the old one retired; a refused
token lifetime with the box's message beside the field; a revocation added and removed; a
test playback URL for a premium channel; a viewer sees no control that changes something.

Screenshots land in output/tests/screenshots/console-admin (failed.png when a step fails).
Needs node, playwright-core from package-lock.json and /usr/bin/chromium; without them this
test is skipped."""

import os
import subprocess
import unittest

from ottbox import NEW_ADMIN_PASSWORD, REPO_ROOT, BoxTestCase
from test_console_browser import CHROMIUM, WWW, missing_tools

SCRIPT = os.path.join(REPO_ROOT, "tests", "e2e", "console_admin.mjs")
SCREENSHOTS = os.path.join(REPO_ROOT, "output", "tests", "screenshots", "console-admin")
STEP_TIMEOUT_S = 10
SCRIPT_TIMEOUT_S = 90
VIEWER = "e2e-viewer-user"
VIEWER_PASSWORD = "a viewer looks only"
PATTERN = "test://pattern?size=320x180&rate=25"


@unittest.skipIf(missing_tools(), missing_tools())
class ConsoleAdminBrowserTest(BoxTestCase, unittest.TestCase):

    def test_ladders_and_access_pages(self):
        self.assertTrue(os.path.isfile(os.path.join(WWW, "vendor", "preact.js")),
                        "the console's libraries are not in %s: run `make`" % WWW)
        self.assertTrue(os.access(CHROMIUM, os.X_OK))
        key = self.box.create_apikey("console-admin-test", "admin")
        api = self.box.client(api_key=key)
        # A premium channel for the test URL tool, and a ladder a channel uses (it cannot be
        # deleted); neither channel runs.
        r = api.post("/api/v1/channels", {"name": "e2e-premium", "access": "premium",
                                          "input": {"url": PATTERN}})
        self.assertEqual(r.status, 201, r)
        r = api.post("/api/v1/ladders", {"id": "busy", "name": "In use", "rungs": [
            {"width": 640, "height": 360, "video_bitrate_kbps": 800}]})
        self.assertEqual(r.status, 201, r)
        r = api.post("/api/v1/channels", {"name": "e2e-busy", "ladder": "busy",
                                          "input": {"url": PATTERN}})
        self.assertEqual(r.status, 201, r)
        self.box.add_user(VIEWER, "viewer", VIEWER_PASSWORD)

        try:
            result = subprocess.run(
                ["node", SCRIPT, "http://127.0.0.1:%d" % self.box.port,
                 "--initial-password", self.box.initial_password(),
                 "--new-password", NEW_ADMIN_PASSWORD, "--api-key", key,
                 "--premium-channel", "e2e-premium", "--busy-ladder", "busy",
                 "--viewer", VIEWER, "--viewer-password", VIEWER_PASSWORD,
                 "--screenshots", SCREENSHOTS, "--timeout", str(STEP_TIMEOUT_S)],
                capture_output=True, text=True, cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail("console_admin.mjs did not finish within %d s; its output:\n%s%s"
                      % (SCRIPT_TIMEOUT_S, e.stdout or "", e.stderr or ""))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0,
                         "the console test failed:\n%s\nthe box's log (end):\n%s"
                         % (output, self.box.stderr()[-4000:]))
        self.assertIn("console_admin: OK", result.stdout, output)

        # What the browser did is what the box holds.
        self.assertEqual(api.get("/api/v1/ladders/e2e-two").status, 404)
        self.assertEqual(api.get("/api/v1/ladders/e2e-steep").status, 404)
        self.assertEqual(api.get("/api/v1/ladders/busy").status, 200)
        keys = api.get("/api/v1/access/keys").json["keys"]
        self.assertEqual([(k["id"], k["signing"], k["source"]) for k in keys],
                         [("e2e-imp", True, "imported")])
        policy = api.get("/api/v1/access/policy").json
        self.assertEqual(policy["risk_classes"]["standard"]["ttl_seconds"], 1800)
        self.assertEqual(api.get("/api/v1/access/revocations").json["revocations"], [])
        for name in ("ladder-form", "ladder-form-phone", "ladders-list", "access"):
            self.assertTrue(any(f.endswith("-%s.png" % name) for f in os.listdir(SCREENSHOTS)),
                            "no %s screenshot in %s" % (name, SCREENSHOTS))


if __name__ == "__main__":
    unittest.main()
