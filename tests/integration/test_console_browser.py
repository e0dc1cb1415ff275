"""The admin console in a real browser (tests/e2e/console.mjs, headless Chromium): first login
with the one-time password, the forced change, the overview with the box's channels, logout,
login again; a session that ends under the console returns it to the login form and, after
logging in again, to the view it was on (issue 6).

Screenshots of each step land in output/tests/screenshots/console (failed.png when a step
fails). Needs node, playwright-core from package-lock.json and /usr/bin/chromium; `make test`
installs them all, and without them this test is skipped."""

import os
import shutil
import subprocess
import tempfile
import unittest

from ottbox import NEW_ADMIN_PASSWORD, REPO_ROOT, BoxTestCase, free_port

CONSOLE_SCRIPT = os.path.join(REPO_ROOT, "tests", "e2e", "console.mjs")
SCREENSHOTS = os.path.join(REPO_ROOT, "output", "tests", "screenshots", "console")
WWW = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    os.environ.get("OTTBOXD") or os.path.join(REPO_ROOT, "output", "bin", "ottboxd")))),
    "share", "ottbox", "www")
CHROMIUM = "/usr/bin/chromium"
STEP_TIMEOUT_S = 10
SCRIPT_TIMEOUT_S = 90


def missing_tools():
    """Why the browser test cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (Debian's nodejs; `make test` installs it)"
    if not os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "playwright-core")):
        return "node_modules/playwright-core is missing (`npm ci`; `make test` runs it)"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is missing (Debian's chromium; `make test` installs it)" % CHROMIUM
    return None


@unittest.skipIf(missing_tools(), missing_tools())
class ConsoleBrowserTest(BoxTestCase, unittest.TestCase):

    def test_first_login_password_change_logout_and_session_expiry(self):
        self.assertTrue(os.path.isfile(os.path.join(WWW, "vendor", "preact.js")),
                        "the console's libraries are not in %s: run `make`" % WWW)
        # A channel for the overview to list, made with an API key: the admin's one-time
        # password stays for the browser to use.
        key = self.box.create_apikey("console-test", "admin")
        api = self.box.client(api_key=key)
        r = api.post("/api/v1/channels", {"name": "console-demo",
                                          "input": {"url": "test://pattern?size=320x180&rate=25"}})
        self.assertEqual(r.status, 201, r)

        initial = self.box.initial_password()
        try:
            result = subprocess.run(
                ["node", CONSOLE_SCRIPT, "http://127.0.0.1:%d" % self.box.port,
                 "--initial-password", initial,
                 "--new-password", NEW_ADMIN_PASSWORD, "--channel", "console-demo",
                 "--screenshots", SCREENSHOTS, "--timeout", str(STEP_TIMEOUT_S)],
                capture_output=True, text=True, cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail("console.mjs did not finish within %d s; its output:\n%s%s"
                      % (SCRIPT_TIMEOUT_S, e.stdout or "", e.stderr or ""))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0,
                         "the console test failed:\n%s\nthe box's log (end):\n%s"
                         % (output, self.box.stderr()[-4000:]))
        self.assertIn("console: OK", result.stdout, output)

        # The browser changed the one-time password: the API agrees.
        c = self.box.client()
        self.assertEqual(c.login("admin", initial).status, 401)
        self.assertEqual(c.login("admin", NEW_ADMIN_PASSWORD).status, 200)


@unittest.skipIf(missing_tools(), missing_tools())
class FailingRunTest(unittest.TestCase):
    """A browser test that fails says where and leaves failed.png (tests/e2e/harness.mjs)."""

    def test_a_failing_step_leaves_its_screenshot(self):
        shots = tempfile.mkdtemp(prefix="ottbox-e2e-")
        self.addCleanup(shutil.rmtree, shots, True)
        # No box listens on a port this test just freed.
        result = subprocess.run(
            ["node", CONSOLE_SCRIPT, "http://127.0.0.1:%d" % free_port(),
             "--initial-password", "x", "--new-password", "y", "--screenshots", shots,
             "--timeout", "5"],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn('console: FAIL at "the console loads', result.stderr)
        self.assertIn("failed.png", result.stderr)
        self.assertTrue(os.path.getsize(os.path.join(shots, "failed.png")) > 0)

    def test_a_bad_command_line_is_refused(self):
        result = subprocess.run(["node", CONSOLE_SCRIPT, "http://127.0.0.1:1"],
                                capture_output=True, text=True, cwd=REPO_ROOT, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--initial-password is needed", result.stderr)


if __name__ == "__main__":
    unittest.main()
