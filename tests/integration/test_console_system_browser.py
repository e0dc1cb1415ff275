"""The console's system and events pages in a real browser (tests/e2e/console_system.mjs,
headless Chromium), as the admin: the overview with the version, build options, hardware
backends and storage; a setting saved, an out-of-range one refused with the server's message
next to its field; a user created, changed and deleted, an API key created (shown once) and
revoked, each after a confirmation; the audit log listing them; the event log with a live
event, the pause toggle and the level and channel filters (issue 6).

Screenshots land in output/tests/screenshots/console-system (failed.png when a step fails).
Needs node, playwright-core from package-lock.json and /usr/bin/chromium; without them this
test is skipped."""

import os
import subprocess
import time
import unittest

from ottbox import NEW_ADMIN_PASSWORD, REPO_ROOT, BoxTestCase
from test_console_browser import STEP_TIMEOUT_S, WWW, missing_tools

SCRIPT = os.path.join(REPO_ROOT, "tests", "e2e", "console_system.mjs")
SCREENSHOTS = os.path.join(REPO_ROOT, "output", "tests", "screenshots", "console-system")
SCRIPT_TIMEOUT_S = 90


@unittest.skipIf(missing_tools(), missing_tools())
class ConsoleSystemBrowserTest(BoxTestCase, unittest.TestCase):

    # HTTPS on, so the system page has a certificate to show (the browser uses plain HTTP).
    box_args = {"tls": True}

    def test_system_and_events_pages_as_admin(self):
        self.assertTrue(os.path.isfile(os.path.join(WWW, "console", "pages", "system.js")),
                        "the console is not in %s: run `make`" % WWW)
        # The browser logs in with the one-time password; the script makes channels (events
        # for the live log) and checks keys with this key, as another client of the box.
        key = self.box.create_apikey("console-system-test", "admin")
        api = self.box.client(api_key=key)
        # A channel whose input is not media fails (an error event), then is stopped: the
        # event log's level filter has something to keep.
        os.makedirs(self.box.path("media"), exist_ok=True)
        with open(self.box.path("media", "junk.ts"), "wb") as f:
            f.write(b"not a transport stream " * 200)
        r = api.post("/api/v1/channels", {"name": "junk", "input": {"url": "file:junk.ts"}})
        self.assertEqual(r.status, 201, r)
        self.assertIn(api.post("/api/v1/channels/junk/start", {}).status, (200, 202))
        deadline = time.monotonic() + 10
        while not api.get("/api/v1/events?level=error&channel=junk").json["events"]:
            self.assertLess(time.monotonic(), deadline, "the junk channel did not fail")
            time.sleep(0.2)
        self.assertIn(api.post("/api/v1/channels/junk/stop", {}).status, (200, 202))
        initial = self.box.initial_password()
        try:
            result = subprocess.run(
                ["node", SCRIPT, "http://127.0.0.1:%d" % self.box.port,
                 "--initial-password", initial, "--new-password", NEW_ADMIN_PASSWORD,
                 "--api-key", key, "--failed-channel", "junk", "--screenshots", SCREENSHOTS,
                 "--timeout", str(STEP_TIMEOUT_S)],
                capture_output=True, text=True, cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail("console_system.mjs did not finish within %d s; its output:\n%s%s"
                      % (SCRIPT_TIMEOUT_S, e.stdout or "", e.stderr or ""))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0,
                         "the console system test failed:\n%s\nthe box's log (end):\n%s"
                         % (output, self.box.stderr()[-4000:]))
        self.assertIn("console_system: OK", result.stdout, output)

        # What the browser did, as the API sees it.
        settings = api.get("/api/v1/settings").json
        self.assertEqual(settings["box_name"], "studio-test")
        self.assertEqual(settings["session_idle_timeout_s"], 1800)
        self.assertEqual(api.get("/api/v1/users/op-test").status, 404)
        names = [k["name"] for k in api.get("/api/v1/apikeys").json["apikeys"]]
        self.assertNotIn("ci-test", names)
        actions = [r["action"] for r in api.get("/api/v1/audit?limit=100").json["records"]
                   if r["actor"] == "user:admin"]
        for action in ("settings.update", "user.create", "user.update", "user.delete",
                       "apikey.create", "apikey.delete"):
            self.assertIn(action, actions)


if __name__ == "__main__":
    unittest.main()
