"""Engine features that were only checked by hand before: MPEG-TS HLS beside CMAF, audio
passthrough, file inputs that loop or end, HLS pull, a DVR window longer than the live
window, and segment names that stay unique across a restart.

One ASan ottboxd for the whole file with the small ladder; sources are small (most of
them 256x144, so only the smallest rung is encoded) and every ffmpeg, HTTP server and
channel ends with its test. Needs ffmpeg and ffprobe."""

import os
import re
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

from ottbox import assert_error
from media import (LIVE_DEADLINE_S, RUNGS, SEGMENT_SECONDS, SMALL_LADDER, EngineTestCase,
                   LiveFiles, av_source_args, free_udp_port, iso_seconds,
                   keyframe_times, make_media_file, missing_media_tools, mpd_periods,
                   parse_master, parse_media, probe_streams, probe_video_packets,
                   segment_number, wait_until)

# A source this small gets only the ladder's smallest rung (taller rungs are skipped).
TINY = "256x144"
TINY_PATTERN = "test://pattern?size=%s&rate=25" % TINY
# The clip in <data_dir>/media/ for file inputs: AAC at 44100 Hz, so that passthrough
# keeps a sample rate the box would not choose itself.
CLIP = "clip.mp4"
CLIP_SECONDS = 3
CLIP_SAMPLE_RATE = 44100


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class MoreEngineTest(EngineTestCase, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        make_media_file(cls.box.path("media", CLIP), CLIP_SECONDS, size=TINY, gop=25,
                        sample_rate=CLIP_SAMPLE_RATE)

    # ---- helpers ----

    def channel_doc(self, cid):
        r = self.admin.get("/api/v1/channels/%s" % cid)
        self.assertEqual(r.status, 200, r)
        return r.json

    def origin_get(self, cid, name):
        return self.box.client().get("/live/%s/%s" % (cid, name))

    def wait_segments(self, files, names, count, timeout=30):
        """Waits until each playlist in names lists at least count segments."""
        return {name: self.wait_media(files, name, lambda m: len(m["segments"]) >= count,
                                      timeout, "%d segments" % count)
                for name in names}

    # ---- 1. MPEG-TS HLS ----

    def test_hls_ts(self):
        cid, plain = "ts", "no-ts"
        files = LiveFiles(self.box, cid)
        self.create_channel(cid, "test://pattern?size=480x270&rate=25", hls_ts=True)
        self.create_channel(plain, TINY_PATTERN)
        self.start_channel(cid)
        self.start_channel(plain)
        self.assertEqual(self.channel_doc(cid)["playback"].get("hls_ts"),
                         "/live/%s/master-ts.m3u8" % cid)
        self.wait_state(cid, "live")

        # master-ts.m3u8: every rung's vN-ts.m3u8 and the audio group's a0-ts.m3u8.
        text = wait_until(lambda: files.read("master-ts.m3u8"), 10, what="master-ts.m3u8")
        master = parse_master(text)
        self.assertEqual([v["uri"] for v in master["variants"]],
                         ["v%d-ts.m3u8" % i for i in range(len(RUNGS))], text)
        self.assertEqual([v["attrs"].get("RESOLUTION") for v in master["variants"]],
                         ["%dx%d" % (w, h) for w, h, _ in RUNGS], text)
        audio = [m for m in master["media"] if m.get("TYPE") == "AUDIO"]
        self.assertEqual([m.get("URI") for m in audio], ["a0-ts.m3u8"], text)
        for v in master["variants"]:
            self.assertEqual(v["attrs"].get("AUDIO"), audio[0]["GROUP-ID"], text)

        # Enough segments for ffprobe: three whole ones after the first.
        video_ts = ["v%d-ts.m3u8" % i for i in range(len(RUNGS))]
        self.wait_segments(files, video_ts + ["a0-ts.m3u8"], 4)

        # The origin serves the TS segments as video/mp2t, cached for good (TS packets:
        # sync byte 0x47).
        first = files.media("v0-ts.m3u8")["segments"][0]["uri"]
        r = self.origin_get(cid, first)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "video/mp2t", first)
        self.assertEqual(r.header("Cache-Control"), "public, max-age=31536000, immutable", first)
        self.assertEqual(r.raw[0:1], b"\x47", first)
        self.assertEqual(len(r.raw) % 188, 0, first)

        # ffprobe: each TS rung is H.264 at its size, the audio AAC, and the keyframes lie
        # at the same times in every rung.
        keyframes = {}
        for name, (width, height, _) in zip(video_ts, RUNGS):
            streams = probe_streams(files.url(name))
            self.assertEqual([(s["codec_type"], s.get("codec_name"), s.get("width"),
                               s.get("height")) for s in streams],
                             [("video", "h264", width, height)], name)
            keys = keyframe_times(probe_video_packets(files.url(name),
                                                      seconds=3 * SEGMENT_SECONDS))
            self.assertGreaterEqual(len(keys), 3, "%s: keyframes %r" % (name, keys))
            keyframes[name] = keys
        lo = max(k[0] for k in keyframes.values())
        hi = min(k[-1] for k in keyframes.values())
        common = {n: [t for t in k if lo <= t <= hi] for n, k in keyframes.items()}
        self.assertGreaterEqual(len(common["v0-ts.m3u8"]), 2, keyframes)
        for name in video_ts[1:]:
            self.assertEqual(common[name], common["v0-ts.m3u8"],
                             "keyframes of %s and v0-ts.m3u8 differ: %r" % (name, keyframes))
        streams = probe_streams(files.url("a0-ts.m3u8"))
        self.assertEqual([(s["codec_type"], s.get("codec_name")) for s in streams],
                         [("audio", "aac")], streams)

        # Without hls_ts: no MPEG-TS playlists, no TS segments, no hls_ts path.
        self.wait_state(plain, "live")
        self.assertEqual(self.origin_get(plain, "master.m3u8").status, 200)
        self.assertEqual(self.origin_get(plain, "master-ts.m3u8").status, 404)
        self.assertEqual(self.origin_get(plain, "v0-ts.m3u8").status, 404)
        self.assertNotIn("hls_ts", self.channel_doc(plain)["playback"])
        self.assertEqual([n for n in LiveFiles(self.box, plain, source="disk").listing("v0")
                          if n.endswith(".ts")], [])

        # The same segments in both flavours: once stopped, the playlists no longer change.
        self.stop_channel(cid)
        for i in range(len(RUNGS) + 1):
            track = "v%d" % i if i < len(RUNGS) else "a0"
            fmp4_text = files.read(track + ".m3u8")
            ts_text = files.read(track + "-ts.m3u8")
            fmp4, ts = parse_media(fmp4_text), parse_media(ts_text)
            self.assertTrue(ts["ended"], ts_text)
            self.assertEqual(ts["maps"], [], "%s-ts.m3u8 has an EXT-X-MAP:\n%s" % (track, ts_text))
            self.assertNotIn("#EXT-X-MAP", ts_text)
            self.assertEqual([s["uri"] for s in ts["segments"]],
                             ["%s/%d.ts" % (track, segment_number(s["uri"]))
                              for s in ts["segments"]], ts_text)
            self.assertEqual([(segment_number(s["uri"]), s["duration"]) for s in ts["segments"]],
                             [(segment_number(s["uri"]), s["duration"])
                              for s in fmp4["segments"]],
                             "%s: the TS and fMP4 playlists differ:\n%s\n%s"
                             % (track, ts_text, fmp4_text))
            for seg in ts["segments"]:
                self.assertTrue(files.exists(seg["uri"]), seg)

    # ---- 2. audio passthrough ----

    def test_audio_passthrough(self):
        ladder = dict(SMALL_LADDER, id="pass", name="Passthrough",
                      audio={"mode": "passthrough"})
        r = self.admin.post("/api/v1/ladders", ladder)
        self.assertEqual(r.status, 201, r)

        # AAC at 44100 Hz: carried as it is.
        aac = "pass-aac"
        files = LiveFiles(self.box, aac)
        self.create_channel(aac, "file:%s?loop=1" % CLIP, ladder="pass")
        self.start_channel(aac)
        # MPEG-1 Layer II at 44100 Hz: encoded to AAC at 48000 Hz, with a note saying so.
        mp2 = "pass-mp2"
        port = free_udp_port()
        self.create_channel(mp2, "udp://0.0.0.0:%d" % port, ladder="pass")
        self.start_channel(mp2)
        self.udp_source(port, input_args=av_source_args(size=TINY, audio_codec="mp2",
                                                        sample_rate=44100), name="mp2")

        st = self.wait_state(aac, "live")
        self.assertEqual(st["input"].get("audio_codec"), "aac", st)
        self.assertEqual(st["audio"]["encoder"], "copy", st)
        self.wait_segments(files, ["a0.m3u8"], 2)
        streams = probe_streams(files.url("a0.m3u8"))
        self.assertEqual([(s["codec_type"], s.get("codec_name"), s.get("sample_rate"))
                          for s in streams], [("audio", "aac", str(CLIP_SAMPLE_RATE))], streams)
        # The manifests declare the source's audio bitrate (96 kbit/s), not the ladder's.
        mpd = files.read("manifest.mpd")
        declared = re.search(r'<Representation id="a0" bandwidth="(\d+)"', mpd)
        self.assertIsNotNone(declared, mpd)
        self.assertTrue(80000 <= int(declared.group(1)) <= 112000, declared.group(0))

        st = self.wait_state(mp2, "live")
        self.assertEqual(st["input"].get("audio_codec"), "mp2", st)
        self.assertEqual(st["audio"]["encoder"], "aac", st)
        notes = " ".join(st["notes"])
        self.assertIn("passthrough", notes, st)
        self.assertIn("mp2", notes, st)
        mp2_files = LiveFiles(self.box, mp2)
        self.wait_segments(mp2_files, ["a0.m3u8"], 2)
        streams = probe_streams(mp2_files.url("a0.m3u8"))
        self.assertEqual([(s["codec_type"], s.get("codec_name"), s.get("sample_rate"))
                          for s in streams], [("audio", "aac", "48000")], streams)

    # ---- 3. file inputs ----

    def test_file_inputs(self):
        looped, once, missing = "file-loop", "file-once", "file-missing"
        assert_error(self, self.admin.post("/api/v1/channels", {
            "id": "file-escape", "name": "file-escape", "input": {"url": "file:../x"}}),
            400, "invalid", mentions=["input.url"])
        self.create_channel(looped, "file:%s?loop=1" % CLIP)
        self.create_channel(once, "file:%s" % CLIP)
        self.create_channel(missing, "file:nothing-here.mp4")
        started = time.monotonic()
        for cid in (looped, once, missing):
            self.start_channel(cid)

        # Without loop the channel ends with the file: stopped, saying why, playlists ended.
        st = self.wait_state(once, "stopped", CLIP_SECONDS + LIVE_DEADLINE_S)
        self.assertIn("file ended", st["reason"], st)
        parsed = self.assert_playlists_valid(LiveFiles(self.box, once), ended=True)
        # All of the file, once.
        for name, media in parsed.items():
            self.assertAlmostEqual(sum(s["duration"] for s in media["segments"]), CLIP_SECONDS,
                                   delta=0.05, msg="%s: %r" % (name, media["segments"]))

        # A missing file: not live, and the reason names it.
        st = self.wait_status(missing, lambda s: "nothing-here.mp4" in s["reason"] and
                              "connecting" not in s["reason"], 20, "a reason naming the file")
        self.assertNotEqual(st["state"], "live", st)

        # With loop: still live after three files' worth, one epoch, time going on.
        files = LiveFiles(self.box, looped)
        listed = 3 * CLIP_SECONDS + SEGMENT_SECONDS
        v0 = self.wait_media(files, "v0.m3u8",
                             lambda m: sum(s["duration"] for s in m["segments"]) >= listed,
                             listed + LIVE_DEADLINE_S, "%d s of segments" % listed)
        self.assertGreater(time.monotonic() - started, 3 * CLIP_SECONDS)
        st = self.status(looped)
        self.assertEqual((st["state"], st["epoch"]), ("live", 0), st)
        text = files.read("v0.m3u8")
        self.assertNotIn("#EXT-X-DISCONTINUITY\n", text)
        numbers = [segment_number(s["uri"]) for s in v0["segments"]]
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + len(numbers))), text)
        self.assertEqual(len(set(v0["maps"])), 1, text)
        self.assertEqual(len(mpd_periods(files.read("manifest.mpd"))), 1)
        # Frame times over the loops: on and on, no jump back, no repeat, no gap longer
        # than two frames. (Each loop starts one frame after the latest timestamp of
        # either stream, so where the audio runs a little longer than the video, the video
        # has a hole of a frame or so at the loop point.)
        packets = probe_video_packets(files.url("v0.m3u8"), seconds=listed)
        pts = [p["pts"] for p in packets]
        self.assertGreaterEqual(len(pts), 25 * 3 * CLIP_SECONDS, "too few frames")
        steps = [round(b - a, 3) for a, b in zip(sorted(pts), sorted(pts)[1:])]
        self.assertTrue(all(0.039 <= step <= 0.081 for step in steps),
                        "steps between frame times over the loops: %r" % sorted(set(steps)))

    # ---- 4. HLS pull ----

    def test_hls_pull(self):
        cid = "pull"
        # (In the data directory: it goes with the box's.)
        work = tempfile.mkdtemp(prefix="hls-src-", dir=self.box.data_dir)
        self.source(["-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
                     "-hls_flags", "delete_segments+temp_file", "-hls_segment_type", "mpegts",
                     "-hls_segment_filename", os.path.join(work, "live-%d.ts"),
                     os.path.join(work, "live.m3u8")],
                    input_args=av_source_args(gop=25), name="hls")
        server = self.http_directory(work)
        # The box opens the source once it has a playlist with a couple of segments.
        playlist = os.path.join(work, "live.m3u8")

        def source_segments():
            try:
                with open(playlist, encoding="utf-8") as f:
                    return len(parse_media(f.read())["segments"]) >= 2
            except FileNotFoundError:
                return False

        wait_until(source_segments, 20, what="two segments in the HLS source's playlist")
        self.create_channel(cid, server.url("live.m3u8"))
        self.start_channel(cid)
        st = self.wait_state(cid, "live")
        self.assertEqual(st["input"]["format"], "hls", st)
        files = LiveFiles(self.box, cid)
        master = wait_until(files.master, 10, what="master.m3u8")
        self.assertEqual([(v["uri"], v["attrs"].get("RESOLUTION")) for v in master["variants"]],
                         [("v%d.m3u8" % i, "%dx%d" % (w, h)) for i, (w, h, _) in
                          enumerate(RUNGS)], files.read("master.m3u8"))
        self.assertEqual([m.get("URI") for m in master["media"] if m.get("TYPE") == "AUDIO"],
                         ["a0.m3u8"], files.read("master.m3u8"))
        self.assert_playlists_valid(files, ended=False)

    # ---- 5. DVR window ----

    def test_dvr_window(self):
        cid = "dvr"
        dvr, live = 20, 3
        files = LiveFiles(self.box, cid)
        self.create_channel(cid, TINY_PATTERN, dvr_window_seconds=dvr,
                            live_window_segments=live)
        self.start_channel(cid)
        first = self.wait_media(files, "v0.m3u8", lambda m: m["segments"], LIVE_DEADLINE_S,
                                "a segment")
        first_number = segment_number(first["segments"][0]["uri"])
        # Until segments have left the DVR window and its slack of 3: 15 segments.
        wanted = dvr // SEGMENT_SECONDS + 3 + 2
        self.wait_media(files, "v0.m3u8",
                        lambda m: segment_number(m["segments"][-1]["uri"]) - first_number + 1
                        >= wanted, wanted * SEGMENT_SECONDS + 10, "%d segments made" % wanted)
        for name in ("v0.m3u8", "a0.m3u8"):
            text = files.read(name)
            media = parse_media(text)
            listed = sum(s["duration"] for s in media["segments"])
            self.assertAlmostEqual(listed, dvr, delta=SEGMENT_SECONDS + 0.1,
                                   msg="%s lists %.3f s:\n%s" % (name, listed, text))
            self.assertGreater(len(media["segments"]), live + 1, text)
            # On disk (read from the data directory even with OTTBOX_LIVE_FROM=http): what
            # is listed, and at most 3 more; the first segments are gone.
            track = name.split(".")[0]
            on_disk = [n for n in LiveFiles(self.box, cid, source="disk").listing(track)
                       if n.endswith(".m4s")]
            listed_names = {s["uri"] for s in media["segments"]}
            self.assertLessEqual(len(on_disk), len(listed_names) + 3,
                                 "%s: %s on disk, listed:\n%s" % (track, on_disk, text))
            self.assertLessEqual(listed_names, set(on_disk), "listed but not on disk")
            self.assertNotIn("%s/%d.m4s" % (track, first_number), on_disk)
        root = ET.fromstring(files.read("manifest.mpd"))
        depth = iso_seconds(root.get("timeShiftBufferDepth"))
        self.assertAlmostEqual(depth, dvr, delta=SEGMENT_SECONDS, msg=files.read("manifest.mpd"))

    # ---- 6. segment names across a restart ----

    def test_segment_numbers_are_fresh_after_a_restart(self):
        cid = "again"
        files = LiveFiles(self.box, cid)
        names = ("v0.m3u8", "a0.m3u8")
        self.create_channel(cid, TINY_PATTERN)
        self.start_channel(cid)
        self.wait_state(cid, "live")
        self.wait_segments(files, names, 1)
        self.stop_channel(cid)
        before = {name: files.media(name) for name in names}
        self.start_channel(cid)
        self.wait_state(cid, "live")
        after = self.wait_segments(files, names, 2)
        for name in names:
            old = [segment_number(s["uri"]) for s in before[name]["segments"]]
            new = [segment_number(s["uri"]) for s in after[name]["segments"]]
            self.assertGreater(min(new), max(old), "%s: first run %r, second run %r"
                               % (name, old, new))
            self.assertFalse(set(before[name]["maps"]) & set(after[name]["maps"]),
                             "%s: init segments %r, then %r"
                             % (name, before[name]["maps"], after[name]["maps"]))


if __name__ == "__main__":
    unittest.main()
