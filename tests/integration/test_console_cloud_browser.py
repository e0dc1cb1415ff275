"""The console's cloud page in a real browser (tests/e2e/console_cloud.mjs, headless
Chromium), with the reference control plane (tests/controlplane/cp.py) next to the box: an
enrollment with a token another device used is refused with the control plane's words next to
the token; the enrollment through the form turns the status to enrolled with the device id; a
desired state set on the control plane shows up as the applied generation after "Sync now";
an uploaded tampered bundle is refused with bad_signature; a webhook is created (its secret
shown once), tested (the delivery in its history, and at the local receiver this test runs),
tested while the receiver fails and retried from its history once the delivery failed, and
deleted; a viewer sees the status with no control that changes something, and a sync
forced from the viewer's session is refused with 403; the box leaves the control plane, is
enrolled with one that does not answer (202, stored), then air-gapped, and takes a newer
bundle by upload (issue 7).

Screenshots land in $O/tests/screenshots/console-cloud (O defaults to output; failed.png when
a step fails). Needs node, playwright-core from package-lock.json, /usr/bin/chromium and
Debian's python3-cryptography (for the control plane); without them this test is skipped."""

import http.server
import json
import os
import subprocess
import sys
import threading
import unittest

from ottbox import NEW_ADMIN_PASSWORD, REPO_ROOT, BoxTestCase, free_port
from test_console_browser import STEP_TIMEOUT_S, WWW, missing_tools

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "controlplane"))
try:
    from cp_harness import ControlPlane
    from device import Client as DeviceClient, Device
    CP_MISSING = None
except ImportError as e:  # python3-cryptography is not installed
    CP_MISSING = "the reference control plane cannot run: %s" % e

SCRIPT = os.path.join(REPO_ROOT, "tests", "e2e", "console_cloud.mjs")
SCREENSHOTS = os.path.join(REPO_ROOT, os.environ.get("O") or "output", "tests", "screenshots",
                           "console-cloud")
SCRIPT_TIMEOUT_S = 90
VIEWER = "cloud-watcher"
VIEWER_PASSWORD = "drifting cirrus 12"


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1: answers 204 to every POST and keeps what came, or
    500 while failing; POST /control {"fail": bool} (from the browser test) switches."""

    daemon_threads = True

    def __init__(self):
        self.received = []
        self.failing = False
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/ottbox-hook" % self.server_address[1]

    @property
    def control_url(self):
        return "http://127.0.0.1:%d/control" % self.server_address[1]

    def close(self):
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class ReceiverHandler(http.server.BaseHTTPRequestHandler):

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with self.server.lock:
            if self.path == "/control":
                self.server.failing = bool(json.loads(body)["fail"])
                status = 204
            else:
                self.server.received.append((self.path, dict(self.headers), body,
                                             self.server.failing))
                status = 500 if self.server.failing else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@unittest.skipIf(missing_tools() or CP_MISSING, missing_tools() or CP_MISSING)
class ConsoleCloudBrowserTest(BoxTestCase, unittest.TestCase):

    # A failed delivery within a second (the tests' build only), for the page's "Retry".
    box_args = {"env": {"OTTBOX_TEST_WEBHOOK_TIMING": "100,200,800"}}

    def test_cloud_page_enrolls_syncs_uploads_and_manages_webhooks(self):
        self.assertTrue(os.path.isfile(os.path.join(WWW, "console", "pages", "cloud.js")),
                        "the console is not in %s: run `make`" % WWW)
        cp = ControlPlane().start()
        self.addCleanup(cp.cleanup)
        receiver = Receiver()
        self.addCleanup(receiver.close)
        # A token another device enrolled with: the box's enrollment with it is refused.
        used = cp.new_token()
        r = DeviceClient(cp.base_url, Device()).enroll(used)
        self.assertEqual(r.status, 201, r)
        self.box.add_user(VIEWER, "viewer", VIEWER_PASSWORD)

        initial = self.box.initial_password()
        try:
            result = subprocess.run(
                ["node", SCRIPT, "http://127.0.0.1:%d" % self.box.port,
                 "--initial-password", initial, "--new-password", NEW_ADMIN_PASSWORD,
                 "--cp-url", cp.base_url, "--cp-admin-token", cp.admin_token,
                 "--used-token", used, "--webhook-url", receiver.url,
                 "--receiver-control", receiver.control_url,
                 "--viewer", VIEWER, "--viewer-password", VIEWER_PASSWORD,
                 "--closed-port", str(free_port()),
                 "--screenshots", SCREENSHOTS, "--timeout", str(STEP_TIMEOUT_S)],
                capture_output=True, text=True, cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail("console_cloud.mjs did not finish within %d s; its output:\n%s%s"
                      % (SCRIPT_TIMEOUT_S, e.stdout or "", e.stderr or ""))
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0,
                         "the console cloud test failed:\n%s\nthe box's log (end):\n%s\n"
                         "the control plane's log (end):\n%s"
                         % (output, self.box.stderr()[-4000:], cp.log_text()[-2000:]))
        self.assertIn("console_cloud: OK", result.stdout, output)

        # What the browser did, as the box and the control plane see it.
        api = self.box.client(api_key=self.box.create_apikey("console-cloud-check", "admin"))
        status = api.get("/api/v1/cloud").json
        self.assertEqual(status["state"], "airgapped", status)  # the last enrollment
        self.assertIsNone(status["url"], status)
        self.assertEqual(status["pinned_keys"], 2, status)
        self.assertEqual(status["applied_generation"], 2, status)
        sources = {b["generation"]: (b["source"], b["status"]) for b in status["bundles"]}
        self.assertEqual(sources[1][0], "poll", status["bundles"])
        self.assertEqual(sources[2], ("upload", "applied"), status["bundles"])
        self.assertEqual(api.get("/api/v1/settings").json["box_name"], "cloud-console-test-2")
        self.assertIn(status["device_id"],
                      [d["device_id"] for d in cp.admin("GET", "/devices")["devices"]])
        self.assertEqual(api.get("/api/v1/webhooks").json["webhooks"], [])
        with receiver.lock:
            got = [(json.loads(body), failing) for _, _, body, failing in receiver.received]
        # Two tests: the first arrived; the second failed, then arrived after "Retry" with
        # its idempotency key.
        arrived = [p["id"] for p, failing in got if not failing and p.get("type") == "ping"]
        refused = [p["id"] for p, failing in got if failing]
        self.assertEqual(len(arrived), 2, got)
        self.assertTrue(refused and set(refused) == {arrived[1]}, got)
        headers = receiver.received[0][1]
        self.assertTrue(any(k.lower() == "x-ottbox-signature" for k in headers), headers)
        actions = [r["action"] for r in api.get("/api/v1/audit?limit=100").json["records"]
                   if r["actor"] == "user:admin"]
        for action in ("cloud.enroll", "webhook.create", "webhook.test", "webhook.delete",
                       "cloud.unenroll"):
            self.assertIn(action, actions)


if __name__ == "__main__":
    unittest.main()
