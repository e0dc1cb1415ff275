"""A live channel rides out its source going away (issue 3): it turns degraded with valid
playlists, comes back live in a new epoch (a discontinuity, a new init segment, a new DASH
Period), and with a backup input fails over to it and back to the primary.

UDP sources from ffmpeg; killing ffmpeg is the source going away. Needs ffmpeg/ffprobe."""

import time
import unittest

from media import (LIVE_DEADLINE_S, EngineTestCase, LiveFiles, av_source_args, wait_until,
                   free_udp_port, missing_media_tools, mpd_periods)

# A source that sends nothing for this long is lost (no backup; see firmware/engine/run.c).
SILENCE_S = 5
FAILOVER_AFTER_S = 3
# Failover: the silence, then opening the backup (reading its stream headers). Failback:
# the box probes the primary every few seconds and wants 3 s of it healthy.
FAILOVER_SLACK_S = 7
FAILBACK_DEADLINE_S = 20


def epochs(media):
    return sorted({s["epoch"] for s in media["segments"]})


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class SourceLossTest(EngineTestCase, unittest.TestCase):

    def test_source_lost_and_back(self):
        cid = "lossy"
        files = LiveFiles(self.box, cid)
        port = free_udp_port()
        url = "udp://0.0.0.0:%d" % port
        self.create_channel(cid, url)
        self.start_channel(cid)
        src = self.udp_source(port, name="first")
        first = self.wait_state(cid, "live")
        self.wait_media(files, "v0.m3u8", lambda m: len(m["segments"]) >= 2, 30,
                        "two segments")
        before = self.assert_playlists_valid(files, ended=False)

        # The source goes away: degraded, with a reason that names the input.
        src.stop()
        lost_at = time.monotonic()
        st = self.wait_state(cid, "degraded", SILENCE_S + 10)
        self.assertIn(url, st["reason"], st)
        self.assertGreaterEqual(time.monotonic() - lost_at, SILENCE_S - 1,
                                "degraded before the silence timeout: %r" % st)
        # The playlists stay: still parse, still list their segments, files still there,
        # not ended (the channel still runs).
        time.sleep(1)
        during = self.assert_playlists_valid(files, ended=False)
        for name, media in before.items():
            self.assertGreaterEqual(len(during[name]["segments"]), len(media["segments"]),
                                    name)
        self.assertEqual(self.box.client().get("/api/v1/health").status, 200)

        # The source comes back: live again, in the next epoch.
        self.udp_source(port, name="second")
        st = self.wait_state(cid, "live", LIVE_DEADLINE_S)
        self.assertEqual(st["epoch"], first["epoch"] + 1, st)
        for name in during:
            self.wait_media(files, name, lambda m: len(epochs(m)) == 2, 30,
                            "segments of the second epoch")
        text = files.read("v0.m3u8")
        self.assertEqual(text.count("#EXT-X-DISCONTINUITY\n"), 1, text)
        parsed = self.assert_playlists_valid(files, ended=False)
        v0 = parsed["v0.m3u8"]
        # Each epoch has its own init segment.
        self.assertEqual(len(v0["maps"]), 2, text)
        self.assertNotEqual(v0["maps"][0], v0["maps"][1], text)
        first_new = [s for s in v0["segments"] if s["epoch"] == 1][0]
        self.assertTrue(first_new["discontinuity"], text)
        for name, media in parsed.items():
            tolerance = 0.001 if name.startswith("v") else 0.025
            self.assert_segment_durations(name, media, tolerance)

        # DASH: a Period per epoch.
        def two_periods():
            mpd = files.read("manifest.mpd")
            return mpd if len(mpd_periods(mpd)) == 2 else None

        mpd = wait_until(two_periods, 10, what="two Periods in manifest.mpd",
                         details=lambda: files.read("manifest.mpd"))
        self.assertEqual([p.get("id") for p in mpd_periods(mpd)],
                         [str(first["epoch"]), str(st["epoch"])], mpd)


@unittest.skipIf(missing_media_tools(), missing_media_tools())
class BackupInputTest(EngineTestCase, unittest.TestCase):

    def test_failover_and_failback(self):
        cid = "backed"
        files = LiveFiles(self.box, cid)
        port_a, port_b = free_udp_port(), free_udp_port()
        primary = "udp://0.0.0.0:%d" % port_a
        backup = "udp://0.0.0.0:%d" % port_b
        self.create_channel(cid, primary, input={"backup_url": backup,
                                                 "failover_after_s": FAILOVER_AFTER_S})
        self.start_channel(cid)
        src_a = self.udp_source(port_a, name="primary")
        self.udp_source(port_b, input_args=av_source_args(frequency=880), name="backup")
        st = self.wait_state(cid, "live")
        self.assertEqual((st["input"]["on_air"], st["input"]["url"]), ("primary", primary), st)
        self.wait_media(files, "v0.m3u8", lambda m: len(m["segments"]) >= 2, 30,
                        "two segments")

        # The primary goes away: the backup is on air within failover_after_s and a few s.
        src_a.stop()
        lost_at = time.monotonic()
        st = self.wait_status(cid, lambda s: s["input"]["on_air"] == "backup",
                              FAILOVER_AFTER_S + FAILOVER_SLACK_S, "failover to the backup")
        failover_s = time.monotonic() - lost_at
        self.assertEqual(st["input"]["url"], backup, st)
        st = self.wait_state(cid, "live", 20)
        self.assertEqual(st["input"]["on_air"], "backup", st)
        self.wait_media(files, "v0.m3u8", lambda m: len(epochs(m)) >= 2, 20,
                        "segments from the backup")

        # The primary is back: the box fails back to it.
        self.udp_source(port_a, name="primary-again")
        back_at = time.monotonic()
        st = self.wait_status(cid, lambda s: s["input"]["on_air"] == "primary",
                              FAILBACK_DEADLINE_S, "failback to the primary")
        failback_s = time.monotonic() - back_at
        self.assertEqual(st["input"]["url"], primary, st)
        st = self.wait_state(cid, "live", 20)
        self.assertEqual(st["input"]["on_air"], "primary", st)

        # Three epochs in the playlists: primary, backup, primary.
        for name in ("v0.m3u8", "v1.m3u8", "v2.m3u8", "a0.m3u8"):
            self.wait_media(files, name, lambda m: len(epochs(m)) == 3, 20,
                            "segments of three epochs")
        parsed = self.assert_playlists_valid(files, ended=False)
        text = files.read("v0.m3u8")
        self.assertEqual(text.count("#EXT-X-DISCONTINUITY\n"), 2, text)
        self.assertEqual(len(set(parsed["v0.m3u8"]["maps"])), 3, text)
        print("\n    failover %.1f s, failback %.1f s" % (failover_s, failback_s), end=" ")


if __name__ == "__main__":
    unittest.main()
