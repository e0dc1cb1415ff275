"""A hardware backend that fails hands the channel to the next one (issue 4).

The ASan daemon the tests run has one more backend, "fault" (tests/hw/fault_backend.c):
the software path, failing on purpose as OTTBOX_TEST_HW says, first in the table so "auto"
places channels on it. A device that does not open passes the channel on at once; an
encoder that fails mid-stream passes it on within two segments, with a discontinuity, the
rungs aligned, and the status and the log naming the failure. With software_fallback off,
the CPU does not take over and the channel fails saying so."""

import datetime
import unittest

from media import (LIVE_DEADLINE_S, SEGMENT_SECONDS, EngineTestCase, LiveFiles,
                   free_udp_port, missing_media_tools, segment_number)

PATTERN = "test://pattern?size=480x270&rate=25"
# Frames the test device's encoders take before they fail: two segments at 25 fps.
FAIL_AFTER_FRAMES = 100
# Media lost to a switch: the part of the segment being built (at most one segment), the
# frames in flight when the device failed (queues, the encoders' lookahead: well under a
# second on an idle box, seconds in the ASan build on a loaded one), and the next backend's
# start. Within two segments, plus that allowance for the ASan build.
IN_FLIGHT_ALLOWANCE_S = 2.0


def pdt_seconds(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def timed_segments(text):
    """[(segment number, start in wall seconds, duration, discontinuity before it)] from a
    media playlist, the start from the latest PROGRAM-DATE-TIME plus the durations since."""
    out = []
    clock = None
    duration = None
    discontinuity = False
    for line in (l.strip() for l in text.splitlines()):
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            clock = pdt_seconds(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#"):
            out.append((segment_number(line), clock, duration, discontinuity))
            clock = clock + duration if clock is not None else None
            discontinuity = False
    return out


def video_playlists(files):
    master = files.master()
    return [v["uri"] for v in master["variants"]]


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class MidStreamFailureTest(EngineTestCase, unittest.TestCase):
    box_args = {"env": {"OTTBOX_TEST_HW": "fail-after=%d" % FAIL_AFTER_FRAMES}}

    def test_encoder_failure_moves_the_channel_to_software(self):
        cid = "fallback"
        files = LiveFiles(self.box, cid)
        self.create_channel(cid, PATTERN)
        self.assertTrue(self.admin.get("/api/v1/channels/" + cid).json["software_fallback"])
        self.start_channel(cid)

        # Placed on the test device first, then on software after its encoders fail.
        st = self.wait_status(
            cid, lambda s: s["state"] == "live" and s.get("backend_failures")
            and (s.get("placement") or {}).get("backend") == "software",
            LIVE_DEADLINE_S + 30, "live on software after the test device failed")
        failure = st["backend_failures"][0]
        self.assertEqual(failure["backend"], "fault", st)
        self.assertIn("encoder failed", failure["reason"], st)
        self.assertEqual(st["placement"]["pipeline"], "software", st)
        self.assertIn("after fault failed", st["reason"], st)
        for rung in st["rungs"]:
            self.assertEqual(rung["backend"], "software", rung)
        self.assertIn("backend fault failed", self.box.stderr())

        # Every rung: segments from the test device, a discontinuity, then software's.
        names = video_playlists(files)
        self.assertEqual(len(names), 3, names)
        for name in names:
            self.wait_media(files, name,
                            lambda m: max(s["epoch"] for s in m["segments"]) >= 1 and
                            sum(1 for s in m["segments"] if s["epoch"] >= 1) >= 2,
                            30, "two segments after the discontinuity")
        parsed = self.assert_playlists_valid(files, ended=False)
        lists = {}
        for name in names:
            segments = timed_segments(files.read(name))
            lists[name] = segments
            self.assertTrue(any(d for _, _, _, d in segments[1:]),
                            "%s has no discontinuity:\n%s" % (name, files.read(name)))
            self.assertGreaterEqual(len(parsed[name]["maps"]), 2,
                                    "%s: a new init segment after the switch" % name)

        # The rungs stay aligned: the same segments, numbers and durations in each, up to
        # the newest one every playlist has.
        common = min(len(s) for s in lists.values())
        first = names[0]
        for name in names[1:]:
            self.assertEqual([(n, round(d, 2), disc) for n, _, d, disc in lists[name][:common]],
                             [(n, round(d, 2), disc) for n, _, d, disc in lists[first][:common]],
                             "%s and %s are not aligned" % (name, first))

        # Within two segments: from the end of the last segment the test device made to the
        # start of the first software one.
        segments = lists[first]
        switch = next(i for i, s in enumerate(segments) if i > 0 and s[3])
        _, before_start, before_duration, _ = segments[switch - 1]
        _, after_start, _, _ = segments[switch]
        gap = after_start - (before_start + before_duration)
        self.assertGreaterEqual(gap, -0.01, segments)
        self.assertLessEqual(gap, 2 * SEGMENT_SECONDS + IN_FLIGHT_ALLOWANCE_S,
                             "the switch took %.2f s of media: %r" % (gap, segments))


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class DecoderFailureTest(EngineTestCase, unittest.TestCase):
    box_args = {"env": {"OTTBOX_TEST_HW": "decode-fail-after=%d" % FAIL_AFTER_FRAMES}}

    def test_decoder_failure_moves_the_decode_to_software(self):
        cid = "decfail"
        files = LiveFiles(self.box, cid)
        port = free_udp_port()
        self.create_channel(cid, "udp://0.0.0.0:%d" % port)
        self.start_channel(cid)
        self.udp_source(port)
        st = self.wait_status(
            cid, lambda s: s["state"] == "live" and s.get("backend_failures")
            and (s.get("placement") or {}).get("backend") == "software",
            LIVE_DEADLINE_S + 30, "live on software after the test device's decoder failed")
        failure = st["backend_failures"][0]
        self.assertEqual(failure["backend"], "fault", st)
        self.assertIn("video decoder failed", failure["reason"], st)
        # The source was never lost: the same input, the next backend.
        self.assertNotIn("lost", failure["reason"], st)
        for name in video_playlists(files):
            self.wait_media(files, name,
                            lambda m: sum(1 for s in m["segments"] if s["epoch"] >= 1) >= 2,
                            30, "two segments after the discontinuity")
        self.assert_playlists_valid(files, ended=False)


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class OpenFailureTest(EngineTestCase, unittest.TestCase):
    box_args = {"env": {"OTTBOX_TEST_HW": "fail-open"}}

    def test_device_that_does_not_open_passes_the_channel_on(self):
        cid = "noopen"
        files = LiveFiles(self.box, cid)
        self.create_channel(cid, PATTERN)
        self.start_channel(cid)
        st = self.wait_state(cid, "live")
        self.assertEqual(st["placement"]["backend"], "software", st)
        self.assertEqual([f["backend"] for f in st["backend_failures"]], ["fault"], st)
        self.assertIn("did not open", st["backend_failures"][0]["reason"], st)
        # It never ran on the device: one epoch, no discontinuity.
        parsed = self.assert_playlists_valid(files, ended=False)
        for name, media in parsed.items():
            self.assertEqual({s["epoch"] for s in media["segments"]}, {0}, name)

    def test_without_software_fallback_the_channel_fails_saying_why(self):
        cid = "nofallback"
        self.create_channel(cid, PATTERN, software_fallback=False)
        self.start_channel(cid)
        st = self.wait_state(cid, "failed")
        self.assertIn("software_fallback", st["reason"], st)
        self.assertIn("fault", st["reason"], st)
        self.assertIsNone(st.get("placement"), st)
        # The channel's document keeps the setting; the box keeps serving.
        self.assertFalse(self.admin.get("/api/v1/channels/" + cid).json["software_fallback"])
        self.assertEqual(self.box.client().get("/api/v1/health").status, 200)


if __name__ == "__main__":
    unittest.main()
