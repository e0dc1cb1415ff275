"""GET /api/v1/hardware on a box without GPUs (issue 4): software is available, every
hardware backend compiled in is listed as unavailable with a reason, `?refresh=1` probes
again, `ottboxd probe` prints the same backends; a channel that names a hardware backend
fails to start saying why, while one on "auto" runs on software. Needs ffmpeg/ffprobe for
the channel tests."""

import glob
import json
import os
import unittest

from ottbox import BoxTestCase
from media import EngineTestCase, missing_media_tools

HARDWARE = ("vaapi", "qsv", "nvenc")


def no_gpu_here():
    """Why this machine cannot check absent hardware, or None when it has none."""
    if glob.glob("/dev/dri/renderD*"):
        return "this machine has a /dev/dri render node"
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if os.path.exists(os.path.join(d, "libcuda.so.1")):
            return "this machine has an NVIDIA driver"
    return None


@unittest.skipIf(no_gpu_here(), no_gpu_here())
class HardwareReportTest(BoxTestCase, unittest.TestCase):

    login_admin = True

    def backends(self, path="/api/v1/hardware", client=None):
        r = (client or self.admin).get(path)
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json.get("probed_at"), str, r.json)
        return {b["name"]: b for b in r.json["backends"]}, r.json

    def test_software_available_and_hardware_absent_with_reasons(self):
        backends, body = self.backends()
        self.assertIs(backends["software"]["available"], True, backends["software"])
        self.assertEqual(body["backends"][-1]["name"], "software", body)
        present = [name for name in HARDWARE if name in backends]
        self.assertTrue(present, "no hardware backend compiled into the host build: %r"
                        % list(backends))
        for name in present:
            with self.subTest(backend=name):
                self.assertIs(backends[name]["available"], False, backends[name])
                self.assertIsInstance(backends[name].get("reason"), str, backends[name])
                self.assertNotEqual(backends[name]["reason"].strip(), "", backends[name])
        if "vaapi" in backends:
            self.assertEqual(backends["vaapi"]["reason"], "no /dev/dri render node")
        if "nvenc" in backends:
            self.assertEqual(backends["nvenc"]["reason"],
                             "libcuda.so.1 not found (no NVIDIA driver)")

    def test_a_viewer_reads_it(self):
        viewer = self.box.client(api_key=self.box.create_apikey("hw-viewer", "viewer"))
        backends, _ = self.backends(client=viewer)
        self.assertIn("software", backends)

    def test_refresh_probes_again(self):
        _, before = self.backends()
        _, after = self.backends("/api/v1/hardware?refresh=1")
        self.assertGreaterEqual(after["probed_at"], before["probed_at"])
        self.assertEqual([b["name"] for b in after["backends"]],
                         [b["name"] for b in before["backends"]])
        _, kept = self.backends("/api/v1/hardware?refresh=0")
        self.assertEqual(kept["probed_at"], after["probed_at"])
        r = self.admin.get("/api/v1/hardware?refresh=please")
        self.assertEqual(r.status, 400, r)
        self.assertIn("refresh", r.json["error"]["message"])

    def test_system_and_probe_command_report_the_same_backends(self):
        backends, body = self.backends()
        system = self.admin.get("/api/v1/system").json["hardware"]
        self.assertEqual([b["name"] for b in system], [b["name"] for b in body["backends"]])
        result = self.box.cli("probe", timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        printed = json.loads(result.stdout)
        self.assertEqual([(b["name"], b["available"], b.get("reason")) for b in printed],
                         [(b["name"], b["available"], b.get("reason"))
                          for b in body["backends"]])


@unittest.skipIf(no_gpu_here(), no_gpu_here())
@unittest.skipIf(missing_media_tools(), missing_media_tools())
class NamedBackendTest(EngineTestCase, unittest.TestCase):

    def test_a_channel_on_vaapi_fails_saying_why(self):
        if "vaapi" not in {b["name"] for b in
                           self.admin.get("/api/v1/hardware").json["backends"]}:
            self.skipTest("vaapi is not in this firmware")
        cid = "on-vaapi"
        self.create_channel(cid, "test://pattern?size=480x270&rate=25", backend="vaapi")
        self.start_channel(cid)
        st = self.wait_state(cid, "failed", 30)
        self.assertIn("vaapi", st["reason"], st)
        self.assertIn("no /dev/dri render node", st["reason"], st)
        self.assertTrue(self.box.running, "ottboxd is gone:\n" + self.log_tail())
        r = self.stop_channel(cid)
        self.assertEqual(r["status"]["state"], "stopped", r)

    def test_a_channel_on_auto_runs_on_software(self):
        cid = "on-auto"
        self.create_channel(cid, "test://pattern?size=480x270&rate=25")
        self.start_channel(cid)
        st = self.wait_state(cid, "live")
        self.assertTrue(st["rungs"], st)
        for rung in st["rungs"]:
            self.assertEqual(rung.get("backend"), "software", st)


if __name__ == "__main__":
    unittest.main()
