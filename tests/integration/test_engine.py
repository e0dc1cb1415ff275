"""Live channels from real sources (issue 3): SRT, RTMP and UDP inputs fed by ffmpeg make a
ladder of aligned rungs in HLS and DASH; the test pattern starts, stops and starts again.

Each test runs an ASan ottboxd with a small ladder (480x270, 320x180, 256x144) and small
ffmpeg sources, so two cores keep up in real time. Needs ffmpeg and ffprobe."""

import time
import unittest

from ottbox import free_port
from media import (LIVE_DEADLINE_S, RUNGS, SEGMENT_SECONDS, EngineTestCase, LiveFiles,
                   free_udp_port, gop_bitrate_kbps, keyframe_times, missing_media_tools,
                   mpd_periods, mpd_type, probe_streams,
                   probe_video_packets, wait_until)

# Media read per rung by ffprobe: four whole segments.
PROBE_SECONDS = 4 * SEGMENT_SECONDS
# The measured bitrate of a rung may lie this far from its target. The test source is
# testsrc2, which is easy to compress: x264 in ABR mode undershoots on content this simple
# (and overshoots a little on its first GOPs), so only a gross error (a rung encoded at
# another rung's bitrate, a bitrate in bits where kbit/s were meant) is caught.
BITRATE_BAND = (0.3, 2.0)
# Video segments are cut on frames (1/25 s); audio ones on AAC frames (1024/48000 s).
VIDEO_DURATION_TOLERANCE = 0.001
AUDIO_DURATION_TOLERANCE = 0.025


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class LiveInputTest(EngineTestCase, unittest.TestCase):
    """One channel per input kind; each test checks the whole chain for it."""

    def check_live_channel(self, cid, input_format):
        files = LiveFiles(self.box, cid)
        st = self.wait_state(cid, "live", LIVE_DEADLINE_S)

        # The status: what the input carries, every rung encoding.
        inp = st["input"]
        self.assertEqual(inp["on_air"], "primary", st)
        self.assertEqual(inp["format"], input_format, st)
        self.assertEqual(inp["video_codec"], "h264", st)
        self.assertEqual((inp["width"], inp["height"]), (480, 270), st)
        self.assertAlmostEqual(inp["frame_rate"], 25, delta=0.01, msg=st)
        self.assertEqual([(r["width"], r["height"], r["target_kbps"]) for r in st["rungs"]],
                         RUNGS, st)
        self.assertTrue(st["reason"], st)
        frames_before = [r["frames"] for r in st["rungs"]]
        time.sleep(2)
        st = self.status(cid)
        self.assertEqual(st["state"], "live", st)
        frames_after = [r["frames"] for r in st["rungs"]]
        for before, after, rung in zip(frames_before, frames_after, st["rungs"]):
            # Two seconds at 25 frames/s; at least half of them.
            self.assertGreaterEqual(after - before, 25, "rung %s: frames %d -> %d in 2 s: %r"
                                    % (rung["name"], before, after, st))

        # The master playlist: every rung with its resolution and codecs, one audio group.
        master = wait_until(files.master, 10, what="master.m3u8")
        variants = master["variants"]
        self.assertEqual([v["attrs"].get("RESOLUTION") for v in variants],
                         ["%dx%d" % (w, h) for w, h, _ in RUNGS], files.read("master.m3u8"))
        audio = [m for m in master["media"] if m.get("TYPE") == "AUDIO"]
        self.assertEqual(len(audio), 1, files.read("master.m3u8"))
        for v, (_, _, kbps) in zip(variants, RUNGS):
            codecs = v["attrs"].get("CODECS", "").split(",")
            self.assertEqual(len(codecs), 2, v)
            self.assertTrue(codecs[0].startswith("avc1."), v)
            self.assertEqual(codecs[1], "mp4a.40.2", v)
            self.assertEqual(v["attrs"].get("AUDIO"), audio[0]["GROUP-ID"], v)
            self.assertGreaterEqual(int(v["attrs"]["BANDWIDTH"]), kbps * 1000, v)
        video_names = [v["uri"] for v in variants]
        audio_name = audio[0]["URI"]

        # Enough segments in every playlist for ffprobe to read PROBE_SECONDS of each.
        for name in video_names + [audio_name]:
            self.wait_media(files, name,
                            lambda m: len(m["segments"]) >= PROBE_SECONDS // SEGMENT_SECONDS + 1,
                            30, "enough segments")
        parsed = self.assert_playlists_valid(files, ended=False)
        for name in video_names:
            self.assertEqual(parsed[name]["target_duration"], SEGMENT_SECONDS, name)
            self.assert_segment_durations(name, parsed[name], VIDEO_DURATION_TOLERANCE)
        self.assert_segment_durations(audio_name, parsed[audio_name], AUDIO_DURATION_TOLERANCE)

        # ffprobe on each rung's playlist: the rung's resolution, a bitrate near the target,
        # a keyframe at every segment start.
        keyframes = {}
        for name, (width, height, kbps) in zip(video_names, RUNGS):
            streams = probe_streams(files.url(name))
            self.assertEqual([(s["codec_type"], s.get("codec_name"), s.get("width"),
                               s.get("height")) for s in streams],
                             [("video", "h264", width, height)], name)
            packets = probe_video_packets(files.url(name), seconds=PROBE_SECONDS)
            keys = keyframe_times(packets)
            self.assertGreaterEqual(len(keys), 3, "%s: keyframes %r" % (name, keys))
            for a, b in zip(keys, keys[1:]):
                self.assertAlmostEqual(b - a, SEGMENT_SECONDS, delta=0.001,
                                       msg="%s: keyframes %r" % (name, keys))
            measured = gop_bitrate_kbps(packets)
            self.assertTrue(BITRATE_BAND[0] * kbps <= measured <= BITRATE_BAND[1] * kbps,
                            "%s: %.0f kbit/s for a %d kbit/s target" % (name, measured, kbps))
            keyframes[name] = keys

        # The same keyframe times in every rung, over the span every probe covered.
        lo = max(k[0] for k in keyframes.values())
        hi = min(k[-1] for k in keyframes.values())
        common = {n: [t for t in k if lo <= t <= hi] for n, k in keyframes.items()}
        self.assertGreaterEqual(len(common[video_names[0]]), 2, keyframes)
        for name in video_names[1:]:
            self.assertEqual(common[name], common[video_names[0]],
                             "keyframes of %s and %s differ" % (name, video_names[0]))

        # DASH: ffprobe opens the manifest and finds every rung and the audio.
        self.assertEqual(mpd_type(files.read("manifest.mpd")), "dynamic")
        streams = probe_streams(files.url("manifest.mpd"))
        self.assertEqual(sorted((s.get("width"), s.get("height")) for s in streams
                                if s["codec_type"] == "video"),
                         sorted((w, h) for w, h, _ in RUNGS), streams)
        self.assertEqual([s["codec_name"] for s in streams if s["codec_type"] == "audio"],
                         ["aac"], streams)

        # The source is still on air and the channel live after all this.
        self.assertEqual(self.status(cid)["state"], "live")

    def test_srt_listener(self):
        port = free_udp_port()
        self.create_channel("srt-in", "srt://0.0.0.0:%d" % port)
        self.start_channel("srt-in")
        # A caller: it fails until the box listens, so it is started again until it connects.
        self.source(["-f", "mpegts", "srt://127.0.0.1:%d?mode=caller" % port], retry=True,
                    name="srt")
        self.check_live_channel("srt-in", "mpegts")

    def test_rtmp_publish(self):
        port = free_port()
        self.create_channel("rtmp-in", "rtmp://0.0.0.0:%d/live/key" % port)
        self.start_channel("rtmp-in")
        self.source(["-f", "flv", "rtmp://127.0.0.1:%d/live/key" % port], retry=True,
                    name="rtmp")
        self.check_live_channel("rtmp-in", "flv")

    def test_udp_mpegts(self):
        port = free_udp_port()
        self.create_channel("udp-in", "udp://0.0.0.0:%d" % port)
        self.start_channel("udp-in")
        self.udp_source(port)
        self.check_live_channel("udp-in", "mpegts")


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class TestPatternChannelTest(EngineTestCase, unittest.TestCase):

    def test_start_stop_start(self):
        cid = "pattern"
        files = LiveFiles(self.box, cid)
        self.create_channel(cid, "test://pattern?size=480x270&rate=25")
        r = self.start_channel(cid)
        self.assertIn(r["status"]["state"], ("starting", "live"), r)
        first = self.wait_state(cid, "live")
        self.assertEqual(first["input"]["format"], "pattern", first)
        for name in ("v0.m3u8", "v1.m3u8", "v2.m3u8", "a0.m3u8"):
            self.wait_media(files, name, lambda m: len(m["segments"]) >= 2, 30,
                            "two segments")
        self.assert_playlists_valid(files, ended=False)
        old_files = set(files.listing("v0") or [])

        # Stopped: the answer and the status say so, every playlist ends, the MPD is static.
        r = self.stop_channel(cid)
        self.assertEqual(r["status"]["state"], "stopped", r)
        self.assertEqual(self.status(cid)["state"], "stopped")
        parsed = self.assert_playlists_valid(files, ended=True)
        for name in ("v0.m3u8", "v1.m3u8", "v2.m3u8"):
            self.assert_segment_durations(name, parsed[name], 0.001)
        self.assertEqual(mpd_type(files.read("manifest.mpd")), "static")
        self.assertEqual(len(mpd_periods(files.read("manifest.mpd"))), 1)
        # An ended playlist reads to its end.
        packets = probe_video_packets(files.url("v2.m3u8"))
        listed = sum(s["duration"] for s in parsed["v2.m3u8"]["segments"])
        self.assertAlmostEqual(len(packets) / 25, listed, delta=0.1, msg="v2.m3u8")

        # Started again: a fresh run (discontinuity sequence from 0) in a fresh
        # directory, none of the old files, and an init segment of another name (caches
        # keep init segments for good: two runs must never share a name).
        self.start_channel(cid)
        second = self.wait_state(cid, "live")
        self.assertEqual(second["epoch"], 0, second)
        v0 = self.wait_media(files, "v0.m3u8", lambda m: len(m["segments"]) >= 1, 30,
                             "a segment")
        self.assertFalse(v0["ended"], files.read("v0.m3u8"))
        self.assertEqual(len(set(v0["maps"])), 1, files.read("v0.m3u8"))
        self.assertNotIn(v0["maps"][0], old_files, files.read("v0.m3u8"))
        now = set(files.listing("v0") or [])
        if old_files:
            self.assertFalse(now & old_files, "files of the first run are left: %s"
                             % sorted(now & old_files))
        self.assert_playlists_valid(files, ended=False)

    def test_a_stopped_channels_mpd_presents_what_it_lists(self):
        # Stopping turns the MPD static. In a static MPD the last Period lasts until
        # mediaPresentationDuration (ISO/IEC 23009-1 5.3.2.1), so every Period's start and
        # segments must lie within it, or a player that follows the MPD (dash.js) plays
        # nothing of them.
        cid = "pattern-mpd"
        files = LiveFiles(self.box, cid)
        self.create_channel(cid, "test://pattern?size=256x144&rate=25")
        self.start_channel(cid)
        self.wait_state(cid, "live")
        self.stop_channel(cid)
        mpd = files.read("manifest.mpd")
        self.assertEqual(mpd_type(mpd), "static", mpd)
        self.assert_periods_fit(mpd)


if __name__ == "__main__":
    unittest.main()
