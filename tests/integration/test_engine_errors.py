"""Sources the box cannot use get a clear status and no crash (issue 3): a source without
video fails naming it, forbidden inputs are refused when the channel is made, and a dead
address leaves the channel not live with a reason naming the input, the box answering and
the channel stopping on request. Needs ffmpeg/ffprobe."""

import time
import unittest

from ottbox import assert_error
from media import EngineTestCase, av_source_args, free_udp_port, missing_media_tools

# Stopping a channel that waits on a dead input must not wait for the input's timeouts.
STOP_DEADLINE_S = 5


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class BadSourceTest(EngineTestCase, unittest.TestCase):

    def assert_box_answers(self):
        self.assertTrue(self.box.running, "ottboxd is gone:\n" + self.log_tail())
        self.assertEqual(self.box.client().get("/api/v1/health").status, 200)

    def assert_stops(self, cid):
        started = time.monotonic()
        r = self.stop_channel(cid)
        took = time.monotonic() - started
        self.assertEqual(r["status"]["state"], "stopped", r)
        self.assertLess(took, STOP_DEADLINE_S, "stopping %s took %.1f s" % (cid, took))
        self.assertEqual(self.status(cid)["state"], "stopped")
        self.assert_box_answers()

    def test_a_source_without_video_fails_saying_so(self):
        port = free_udp_port()
        url = "udp://0.0.0.0:%d" % port
        self.create_channel("no-video", url)
        self.start_channel("no-video")
        self.udp_source(port, input_args=av_source_args(video=False), name="audio-only")
        st = self.wait_state("no-video", "failed", 30)
        self.assertIn("no video", st["reason"], st)
        self.assertIn(url, st["reason"], st)
        self.assert_box_answers()
        self.assert_stops("no-video")

    def test_a_failed_channel_stays_failed_while_it_retries(self):
        # The box retries a source without video (it may gain video later), but between
        # tries the status must keep saying what is wrong rather than flip back to
        # "starting: connecting to ..." while it reads the source again. The box logs each
        # change of state, so its log shows every flip however short.
        cid = "no-video-2"
        port = free_udp_port()
        self.create_channel(cid, "udp://0.0.0.0:%d" % port)
        self.start_channel(cid)
        self.udp_source(port, input_args=av_source_args(video=False), name="audio-only")
        self.wait_state(cid, "failed", 30)
        time.sleep(4)  # retries after 1 s, then 2 s
        self.assertEqual(self.status(cid)["state"], "failed")
        changes = [line.split('"%s": ' % cid, 1)[1] for line in self.box.stderr().splitlines()
                   if 'engine: channel "%s": ' % cid in line]
        after = changes[[c.startswith("failed:") for c in changes].index(True):]
        self.assertEqual([c for c in after if not c.startswith("failed:")], [],
                         "state changes after the channel failed:\n" + "\n".join(after))

    def test_forbidden_inputs_are_refused_when_the_channel_is_made(self):
        for url in ("ftp://x/y", "gopher://x/y", "file:../../etc/passwd", "file:/etc/passwd"):
            with self.subTest(url=url):
                r = self.admin.post("/api/v1/channels", {"name": "Forbidden",
                                                         "input": {"url": url}})
                assert_error(self, r, 400, "invalid", mentions=["input.url"])
        self.assertNotIn("forbidden", [c["id"] for c in
                                       self.admin.get("/api/v1/channels").json["channels"]])
        self.assert_box_answers()

    def check_dead_address(self, cid, url):
        self.create_channel(cid, url)
        self.start_channel(cid)
        st = self.wait_status(cid, lambda s: url in s["reason"] and "connecting" not in
                              s["reason"], 30, "a reason naming the input's failure")
        self.assertNotEqual(st["state"], "live", st)
        # It keeps trying, never live, and the box keeps answering.
        time.sleep(2)
        st = self.status(cid)
        self.assertIn(st["state"], ("starting", "degraded", "failed"), st)
        self.assertIn(url, st["reason"], st)
        self.assert_box_answers()
        self.assert_stops(cid)

    def test_a_dead_rtsp_address(self):
        self.check_dead_address("dead-rtsp", "rtsp://127.0.0.1:1/x")

    def test_an_srt_caller_to_a_closed_port(self):
        self.check_dead_address("dead-srt", "srt://127.0.0.1:%d" % free_udp_port())


if __name__ == "__main__":
    unittest.main()
