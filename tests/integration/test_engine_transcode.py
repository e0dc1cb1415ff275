"""`ottboxd transcode FILE --ladder ID --out DIR` (issue 3): one pass over a small file with
a stored ladder makes VOD HLS and DASH that end, read to the end in ffprobe, and have the
same keyframes in every rung. Runs the daemon binary under test (the ASan build when there
is one: a 10 s 480x270 file takes a few seconds). Needs ffmpeg/ffprobe."""

import os
import subprocess
import tempfile
import unittest

from ottbox import sanitizer_report
from media import (FFMPEG, RUNGS, SEGMENT_SECONDS, EngineTestCase, keyframe_times,
                   missing_media_tools, mpd_period_spans, mpd_type,
                   parse_master, parse_media, probe_streams, probe_video_packets)

SOURCE_SECONDS = 10
TRANSCODE_TIMEOUT_S = 120


class Files:
    """The transcode's output directory, read like LiveFiles reads a channel."""

    def __init__(self, root):
        self.root = root

    def path(self, name):
        return os.path.join(self.root, name)

    def read(self, name):
        try:
            with open(self.path(name), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class TranscodeTest(EngineTestCase, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.work = tempfile.mkdtemp(prefix="ottbox-transcode-", dir=cls.box.data_dir)
        cls.source = os.path.join(cls.work, "source.mp4")
        # A keyframe every 30 frames (1.2 s): the box must place its own, every 2 s.
        subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", "testsrc2=size=480x270:rate=25",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                        "-t", str(SOURCE_SECONDS), "-c:v", "libx264", "-preset", "ultrafast",
                        "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", cls.source],
                       check=True, timeout=60)
        cls.out = Files(os.path.join(cls.work, "out"))
        cls.result = cls.box.cli("transcode", cls.source, "--ladder", "small", "--out",
                                 cls.out.root, "--segment-seconds", str(SEGMENT_SECONDS),
                                 timeout=TRANSCODE_TIMEOUT_S)

    def setUp(self):
        super().setUp()
        self.assertEqual(self.result.returncode, 0, "transcode failed:\n%s%s"
                         % (self.result.stdout, self.result.stderr))

    def test_it_succeeds_cleanly(self):
        self.assertIn("transcoded with ladder small", self.result.stderr)
        self.assertEqual(sanitizer_report(self.result.stderr), "", self.result.stderr)

    def test_vod_playlists_end_and_cover_the_file(self):
        master = parse_master(self.out.read("master.m3u8"))
        self.assertEqual([v["attrs"]["RESOLUTION"] for v in master["variants"]],
                         ["%dx%d" % (w, h) for w, h, _ in RUNGS])
        names = [v["uri"] for v in master["variants"]] + \
            [m["URI"] for m in master["media"] if m.get("TYPE") == "AUDIO"]
        self.assertEqual(len(names), len(RUNGS) + 1, master)
        for name in names:
            text = self.out.read(name)
            media = parse_media(text)
            self.assertTrue(media["ended"], text)
            self.assertEqual(text.strip().splitlines()[-1], "#EXT-X-ENDLIST", name)
            self.assertEqual(len(set(media["maps"])), 1, text)
            self.assertTrue(os.path.isfile(self.out.path(media["maps"][0])), text)
            segs = media["segments"]
            # Audio too: an AAC frame or two past the video's end is no segment of its own.
            self.assertEqual(len(segs), SOURCE_SECONDS // SEGMENT_SECONDS, text)
            tolerance = 0.001 if name.startswith("v") else 0.025
            for seg in segs:
                self.assertAlmostEqual(seg["duration"], SEGMENT_SECONDS, delta=tolerance,
                                       msg="%s: %r" % (name, seg))
            self.assertAlmostEqual(sum(s["duration"] for s in segs), SOURCE_SECONDS,
                                   delta=0.05, msg=text)
            for seg in segs:
                self.assertTrue(os.path.isfile(self.out.path(seg["uri"])), seg)

    def test_every_rung_reads_to_the_end_with_aligned_keyframes(self):
        keyframes = []
        for i, (width, height, _) in enumerate(RUNGS):
            url = self.out.path("v%d.m3u8" % i)
            streams = probe_streams(url)
            self.assertEqual([(s["codec_name"], s["width"], s["height"]) for s in streams],
                             [("h264", width, height)], url)
            packets = probe_video_packets(url)
            self.assertEqual(len(packets), SOURCE_SECONDS * 25, url)
            keys = keyframe_times(packets)
            self.assertEqual(len(keys), SOURCE_SECONDS // SEGMENT_SECONDS, (url, keys))
            for a, b in zip(keys, keys[1:]):
                self.assertAlmostEqual(b - a, SEGMENT_SECONDS, delta=0.001, msg=(url, keys))
            keyframes.append(keys)
        for i, keys in enumerate(keyframes[1:], 1):
            self.assertEqual(keys, keyframes[0], "keyframes of v%d and v0 differ" % i)
        streams = probe_streams(self.out.path("master.m3u8"))
        self.assertEqual(sorted((s.get("width"), s.get("height")) for s in streams
                                if s["codec_type"] == "video"),
                         sorted((w, h) for w, h, _ in RUNGS))

    def test_the_mpd_is_static_and_probes(self):
        mpd = self.out.read("manifest.mpd")
        self.assertEqual(mpd_type(mpd), "static", mpd)
        self.assertEqual(len(mpd_period_spans(mpd)), 1, mpd)
        streams = probe_streams(self.out.path("manifest.mpd"))
        self.assertEqual(sorted((s.get("width"), s.get("height")) for s in streams
                                if s["codec_type"] == "video"),
                         sorted((w, h) for w, h, _ in RUNGS), streams)
        self.assertEqual([s["codec_name"] for s in streams if s["codec_type"] == "audio"],
                         ["aac"], streams)

    def test_the_mpd_presents_the_whole_file(self):
        # In a static MPD the last Period lasts until mediaPresentationDuration (ISO/IEC
        # 23009-1 5.3.2.1), so its start plus its segments must fit in it; a player that
        # follows the MPD (dash.js) would otherwise stop before the last segment.
        mpd = self.out.read("manifest.mpd")
        duration = self.assert_periods_fit(mpd)
        self.assertAlmostEqual(duration, SOURCE_SECONDS, delta=0.05, msg=mpd)


if __name__ == "__main__":
    unittest.main()
