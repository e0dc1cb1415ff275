"""GET /api/v1/hardware on a box without GPUs (issue 4): software is available, every
hardware backend compiled in is listed as unavailable with a reason, `?refresh=1` probes
again, `ottboxd probe` prints the same backends; `load` lists the CPU as the one device, and
a running channel on it until it stops; a channel that names a hardware backend fails to
start saying why, while one on "auto" runs on software. Needs ffmpeg/ffprobe for the
channel tests."""

import glob
import json
import os
import unittest

from ottbox import BoxTestCase
from media import SMALL_LADDER, EngineTestCase, missing_media_tools, wait_until

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

    def test_load_lists_the_cpu_alone_with_nothing_on_it(self):
        _, body = self.backends()
        load = body.get("load")
        self.assertIsInstance(load, list, body)
        self.assertEqual([e["backend"] for e in load], ["software"],
                         "a box without GPUs has one device, the CPU: %r" % (load,))
        cpu = load[0]
        self.assertIsInstance(cpu["device"], str, cpu)
        self.assertIsInstance(cpu["label"], str, cpu)
        for key in ("sessions", "encode_pixel_rate", "decode_pixel_rate"):
            with self.subTest(figure=key):
                self.assertIsInstance(cpu[key], int, cpu)
                self.assertGreaterEqual(cpu[key], 0, cpu)
        for key in ("sessions_used", "encode_used", "decode_used"):
            with self.subTest(figure=key):
                self.assertEqual(cpu[key], 0, cpu)
        self.assertEqual(cpu["channels"], [], cpu)
        _, after = self.backends("/api/v1/hardware?refresh=1")
        self.assertEqual(after["load"], load)

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

    def test_a_channel_on_vaapi_is_refused_saying_why(self):
        if "vaapi" not in {b["name"] for b in
                           self.admin.get("/api/v1/hardware").json["backends"]}:
            self.skipTest("vaapi is not in this firmware")
        cid = "on-vaapi"
        self.create_channel(cid, "test://pattern?size=480x270&rate=25", backend="vaapi")
        # Admission answers at once, saying what does not fit where; nothing starts.
        r = self.admin.post("/api/v1/channels/%s/start" % cid)
        self.assertEqual(r.status, 409, r)
        message = r.json["error"]["message"]
        self.assertIn("vaapi", message, r)
        self.assertIn("no /dev/dri render node", message, r)
        self.assertTrue(self.box.running, "ottboxd is gone:\n" + self.log_tail())
        self.assertEqual(self.status(cid)["state"], "stopped")

    def test_a_channel_on_auto_runs_on_software(self):
        cid = "on-auto"
        self.create_channel(cid, "test://pattern?size=480x270&rate=25")
        self.start_channel(cid)
        st = self.wait_state(cid, "live")
        self.assertTrue(st["rungs"], st)
        for rung in st["rungs"]:
            self.assertEqual(rung.get("backend"), "software", st)

    def cpu_load(self):
        r = self.admin.get("/api/v1/hardware")
        self.assertEqual(r.status, 200, r)
        cpu = [e for e in r.json["load"] if e["backend"] == "software"]
        self.assertEqual(len(cpu), 1, r.json["load"])
        return cpu[0]

    def test_a_running_channel_is_on_the_cpus_load_until_it_stops(self):
        cid = "on-load"
        self.create_channel(cid, "test://pattern?size=480x270&rate=25")
        self.start_channel(cid)
        self.wait_state(cid, "live")
        cpu = self.cpu_load()
        self.assertIn(cid, cpu["channels"],
                      "the engine did not admit the channel through drivers-glue "
                      "(ob_hw_admit): %r" % (cpu,))
        # One encode session per video rung; the input is 480x270 at 25 fps.
        self.assertGreaterEqual(cpu["sessions_used"], len(SMALL_LADDER["rungs"]), cpu)
        rungs = sum(r["width"] * r["height"] for r in SMALL_LADDER["rungs"]) * 25
        self.assertGreaterEqual(cpu["encode_used"], rungs, cpu)
        self.assertGreaterEqual(cpu["decode_used"], 480 * 270 * 25, cpu)
        self.stop_channel(cid)

        def released():
            now = self.cpu_load()
            return now if cid not in now["channels"] else None

        after = wait_until(released, 15, what="channel %s off the CPU's load" % cid,
                           details=lambda: "load now: %r\n%s" % (self.cpu_load(),
                                                                  self.log_tail()))
        self.assertLessEqual(after["sessions_used"],
                             cpu["sessions_used"] - len(SMALL_LADDER["rungs"]), after)


if __name__ == "__main__":
    unittest.main()
