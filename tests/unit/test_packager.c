/* The packager's timeline and window arithmetic, the HLS writers (exact text), atomic
 * publishing, and the text buffer they write into. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "packager/packager.h"

#define TS 90000 /* ticks per second */
#define T0 1795000000000LL /* a wall clock in ms: 2026-11-18T11:06:40.000Z */

static struct ob_pkg_segment seg(uint64_t number, int64_t start, int64_t duration,
				 uint32_t epoch)
{
	struct ob_pkg_segment s = { .number = number, .start = start, .duration = duration,
				    .wall_ms = T0 + start / 90, .epoch = epoch, .init_id = epoch };
	return s;
}

/* Fills a timeline with n segments of 4 s from number 100. */
static void fill(struct ob_pkg_timeline *tl, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ob_pkg_timeline_add(tl, &(struct ob_pkg_segment){
				.number = 100 + i, .start = (int64_t)i * 4 * TS,
				.duration = 4 * TS, .wall_ms = T0 + (int64_t)i * 4000 }, NULL), 0);
}

static void test_timeline_refuses_what_breaks_the_timeline(void **state)
{
	struct ob_pkg_timeline tl;
	struct ob_pkg_segment s;

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&tl, 0, 4), OB_EINVAL);
	assert_int_equal(ob_pkg_timeline_init(&tl, TS, 4), 0);
	s = seg(7, 0, 4 * TS, 0);
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), 0);
	s = seg(9, 4 * TS, 4 * TS, 0); /* a gap in numbering */
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), OB_EINVAL);
	s = seg(8, 3 * TS, 4 * TS, 0); /* starts before the previous ends */
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), OB_EINVAL);
	s = seg(8, 4 * TS, 0, 0); /* empty */
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), OB_EINVAL);
	s = seg(8, 4 * TS, 4 * TS, 2);
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), 0);
	s = seg(9, 8 * TS, 4 * TS, 1); /* epochs never go back */
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), OB_EINVAL);
	assert_int_equal(tl.count, 2);
	ob_pkg_timeline_free(&tl);
}

static void test_full_ring_drops_the_oldest(void **state)
{
	struct ob_pkg_timeline tl;
	struct ob_pkg_segment dropped = { 0 };
	struct ob_pkg_segment s;

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&tl, TS, 3), 0);
	fill(&tl, 3);
	s = seg(103, 12 * TS, 4 * TS, 0);
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, &dropped), 1);
	assert_int_equal(dropped.number, 100);
	assert_int_equal(tl.count, 3);
	assert_int_equal(ob_pkg_timeline_at(&tl, 0)->number, 101);
	assert_int_equal(ob_pkg_timeline_at(&tl, 2)->number, 103);
	ob_pkg_timeline_free(&tl);
}

static void test_window_by_segments_and_seconds(void **state)
{
	struct ob_pkg_timeline tl;

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&tl, TS, 16), 0);
	assert_int_equal(ob_pkg_timeline_window(&tl, 3, 0), 0); /* empty */
	fill(&tl, 10);
	assert_int_equal(ob_pkg_timeline_window(&tl, 3, 0), 7);
	assert_int_equal(ob_pkg_timeline_window(&tl, 0, 12.0), 7);
	assert_int_equal(ob_pkg_timeline_window(&tl, 0, 11.9), 8);
	assert_int_equal(ob_pkg_timeline_window(&tl, 2, 30.0), 8);
	assert_int_equal(ob_pkg_timeline_window(&tl, 0, 0), 0);
	assert_int_equal(ob_pkg_timeline_window(&tl, 100, 0), 0);
	/* never empty: one segment longer than the window is still listed */
	assert_int_equal(ob_pkg_timeline_window(&tl, 0, 1.0), 9);
	ob_pkg_timeline_free(&tl);
}

static void test_trim_reports_what_to_delete(void **state)
{
	struct ob_pkg_timeline tl;
	uint64_t removed[16];

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&tl, TS, 16), 0);
	fill(&tl, 10);
	assert_int_equal(ob_pkg_timeline_trim(&tl, 20.0, removed, 16), 5);
	assert_int_equal(removed[0], 100);
	assert_int_equal(removed[4], 104);
	assert_int_equal(tl.count, 5);
	assert_int_equal(ob_pkg_timeline_at(&tl, 0)->number, 105);
	/* limited room: removes only what it can report */
	assert_int_equal(ob_pkg_timeline_trim(&tl, 4.0, removed, 2), 2);
	assert_int_equal(tl.count, 3);
	ob_pkg_timeline_free(&tl);
}

static void test_multivariant_playlist(void **state)
{
	static const char expected[] =
		"#EXTM3U\n"
		"#EXT-X-VERSION:7\n"
		"#EXT-X-INDEPENDENT-SEGMENTS\n"
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",LANGUAGE=\"en\","
		"DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio.m3u8\"\n"
		"#EXT-X-STREAM-INF:BANDWIDTH=6728000,AVERAGE-BANDWIDTH=6128000,"
		"RESOLUTION=1920x1080,CODECS=\"avc1.640028,mp4a.40.2\",FRAME-RATE=30.000,"
		"AUDIO=\"audio\"\n"
		"v0.m3u8\n"
		"#EXT-X-STREAM-INF:BANDWIDTH=3978000,AVERAGE-BANDWIDTH=3628000,"
		"RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=29.970,"
		"AUDIO=\"audio\"\n"
		"v1.m3u8\n";
	const struct ob_pkg_variant variants[] = {
		{ "v0.m3u8", 1920, 1080, 6600000, 6000000, "avc1.640028", 30.0 },
		{ "v1.m3u8", 1280, 720, 3850000, 3500000, "avc1.64001f", 29.97 },
	};
	const struct ob_pkg_audio audio = { "audio.m3u8", "mp4a.40.2", 128000, 2, "en" };
	struct ob_strbuf out = { 0 };

	(void)state;
	assert_int_equal(ob_pkg_hls_multivariant(&out, variants, 2, &audio), 0);
	assert_string_equal(out.data, expected);
	ob_strbuf_free(&out);
	assert_int_equal(ob_pkg_hls_multivariant(&out, variants, 0, &audio), OB_EINVAL);
	{
		struct ob_pkg_variant broken = variants[0];

		broken.codecs = NULL;
		assert_int_equal(ob_pkg_hls_multivariant(&out, &broken, 1, NULL), OB_EINVAL);
	}
	ob_strbuf_free(&out);
}

static void test_media_playlist_with_a_discontinuity(void **state)
{
	static const char expected[] =
		"#EXTM3U\n"
		"#EXT-X-VERSION:7\n"
		"#EXT-X-TARGETDURATION:4\n"
		"#EXT-X-MEDIA-SEQUENCE:101\n"
		"#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
		"#EXT-X-INDEPENDENT-SEGMENTS\n"
		"#EXT-X-MAP:URI=\"v0/init-0.mp4\"\n"
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:44.000Z\n"
		"#EXTINF:4.000,\nv0/101.m4s\n"
		"#EXTINF:3.500,\nv0/102.m4s\n"
		"#EXT-X-DISCONTINUITY\n"
		"#EXT-X-MAP:URI=\"v0/init-1.mp4\"\n"
		"#EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:07:03.500Z\n"
		"#EXTINF:4.000,\nv0/103.m4s\n";
	struct ob_pkg_timeline tl;
	struct ob_pkg_segment s;
	struct ob_strbuf out = { 0 };
	struct ob_pkg_media_playlist p = { .timeline = &tl, .first = 1, .dir = "v0", .fmp4 = true,
					   .target_duration_s = 4 };

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&tl, TS, 8), 0);
	s = seg(100, 0, 4 * TS, 0);
	ob_pkg_timeline_add(&tl, &s, NULL);
	s = seg(101, 4 * TS, 4 * TS, 0);
	ob_pkg_timeline_add(&tl, &s, NULL);
	s = seg(102, 8 * TS, 35 * TS / 10, 0);
	ob_pkg_timeline_add(&tl, &s, NULL);
	/* the input was lost for a while: the next segment opens epoch 1 */
	s = seg(103, 23 * TS + TS / 2, 4 * TS, 1);
	ob_pkg_timeline_add(&tl, &s, NULL);
	assert_int_equal(ob_pkg_hls_media(&out, &p), 0);
	assert_string_equal(out.data, expected);
	ob_strbuf_free(&out);
	ob_pkg_timeline_free(&tl);
}

static void test_media_playlist_target_duration_and_end(void **state)
{
	struct ob_pkg_timeline tl;
	struct ob_pkg_segment s;
	struct ob_strbuf out = { 0 };
	struct ob_pkg_media_playlist p = { .timeline = &tl, .dir = "v1", .fmp4 = false,
					   .target_duration_s = 4, .ended = true };

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&tl, TS, 8), 0);
	assert_int_equal(ob_pkg_hls_media(&out, &p), OB_EINVAL); /* nothing to list */
	s = seg(0, 0, 6 * TS + TS / 2, 3); /* 6.5 s rounds to 7: the target rises to 7 */
	ob_pkg_timeline_add(&tl, &s, NULL);
	assert_int_equal(ob_pkg_hls_media(&out, &p), 0);
	assert_non_null(strstr(out.data, "#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:7\n"));
	assert_non_null(strstr(out.data, "#EXT-X-DISCONTINUITY-SEQUENCE:3\n"));
	assert_null(strstr(out.data, "EXT-X-MAP"));
	assert_non_null(strstr(out.data, "#EXTINF:6.500,\nv1/0.ts\n#EXT-X-ENDLIST\n"));
	ob_strbuf_free(&out);
	ob_pkg_timeline_free(&tl);
}

static void add_ok(struct ob_pkg_timeline *tl, uint64_t number, int64_t start, int64_t duration,
		   uint32_t epoch, int64_t epoch_start)
{
	struct ob_pkg_segment s = { .number = number, .start = start, .duration = duration,
				    .wall_ms = T0 + start * 1000 / tl->timescale, .epoch = epoch,
				    .init_id = epoch,
				    .epoch_start = epoch_start };

	assert_int_equal(ob_pkg_timeline_add(tl, &s, NULL), 0);
}

static void test_epoch_start_is_checked(void **state)
{
	struct ob_pkg_timeline tl;
	struct ob_pkg_segment s = seg(1, 4 * TS, 4 * TS, 0);

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&tl, TS, 4), 0);
	s.epoch_start = 5 * TS; /* after its own start */
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), OB_EINVAL);
	s.epoch_start = 4 * TS;
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), 0);
	s = seg(2, 8 * TS, 4 * TS, 0); /* same epoch, another origin */
	s.epoch_start = 0;
	assert_int_equal(ob_pkg_timeline_add(&tl, &s, NULL), OB_EINVAL);
	ob_pkg_timeline_free(&tl);
}

static void test_dash_mpd_with_two_periods(void **state)
{
	static const char expected[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
		"profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"dynamic\" "
		"availabilityStartTime=\"2026-11-18T11:06:40.000Z\" "
		"publishTime=\"2026-11-18T11:07:10.000Z\" minimumUpdatePeriod=\"PT4S\" "
		"timeShiftBufferDepth=\"PT16.000S\" suggestedPresentationDelay=\"PT12S\" "
		"minBufferTime=\"PT4S\" maxSegmentDuration=\"PT4S\">\n"
		"  <Period id=\"0\" start=\"PT0.000S\">\n"
		"      <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" "
		"segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"1920\" maxHeight=\"1080\">\n"
		"        <SegmentTemplate timescale=\"90000\" presentationTimeOffset=\"0\" "
		"initialization=\"$RepresentationID$/init-0.mp4\" "
		"media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"101\">\n"
		"        <SegmentTimeline>\n"
		"          <S t=\"360000\" d=\"360000\" r=\"1\"/>\n"
		"        </SegmentTimeline>\n"
		"        </SegmentTemplate>\n"
		"        <Representation id=\"v0\" bandwidth=\"6600000\" codecs=\"avc1.640028\" "
		"width=\"1920\" height=\"1080\" frameRate=\"30000/1001\"/>\n"
		"        <Representation id=\"v1\" bandwidth=\"3850000\" codecs=\"avc1.64001f\" "
		"width=\"1280\" height=\"720\" frameRate=\"30000/1001\"/>\n"
		"      </AdaptationSet>\n"
		"      <AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\" "
		"segmentAlignment=\"true\" startWithSAP=\"1\" lang=\"en\">\n"
		"        <SegmentTemplate timescale=\"48000\" presentationTimeOffset=\"0\" "
		"initialization=\"$RepresentationID$/init-0.mp4\" "
		"media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"101\">\n"
		"        <SegmentTimeline>\n"
		"          <S t=\"192000\" d=\"192000\" r=\"1\"/>\n"
		"        </SegmentTimeline>\n"
		"        </SegmentTemplate>\n"
		"        <Representation id=\"a0\" bandwidth=\"128000\" codecs=\"mp4a.40.2\" "
		"audioSamplingRate=\"48000\">\n"
		"          <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel"
		"_configuration:2011\" value=\"2\"/>\n"
		"        </Representation>\n"
		"      </AdaptationSet>\n"
		"  </Period>\n"
		"  <Period id=\"1\" start=\"PT20.000S\">\n"
		"      <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" "
		"segmentAlignment=\"true\" startWithSAP=\"1\" maxWidth=\"1920\" maxHeight=\"1080\">\n"
		"        <SegmentTemplate timescale=\"90000\" presentationTimeOffset=\"1800000\" "
		"initialization=\"$RepresentationID$/init-1.mp4\" "
		"media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"103\">\n"
		"        <SegmentTimeline>\n"
		"          <S t=\"1800000\" d=\"360000\" r=\"0\"/>\n"
		"          <S t=\"2160000\" d=\"180000\" r=\"0\"/>\n"
		"        </SegmentTimeline>\n"
		"        </SegmentTemplate>\n";
	const struct ob_pkg_dash_rep video_reps[] = {
		{ .id = "v0", .bandwidth_bps = 6600000, .codecs = "avc1.640028", .width = 1920,
		  .height = 1080, .frame_rate = 29.97 },
		{ .id = "v1", .bandwidth_bps = 3850000, .codecs = "avc1.64001f", .width = 1280,
		  .height = 720, .frame_rate = 29.97 },
	};
	const struct ob_pkg_dash_rep audio_reps[] = {
		{ .id = "a0", .bandwidth_bps = 128000, .codecs = "mp4a.40.2", .sample_rate = 48000,
		  .channels = 2 },
	};
	struct ob_pkg_timeline video;
	struct ob_pkg_timeline audio;
	struct ob_pkg_dash_set sets[2] = {
		{ .video = true, .timeline = &video, .first = 1, .reps = video_reps, .n_reps = 2 },
		{ .video = false, .timeline = &audio, .first = 1, .reps = audio_reps, .n_reps = 1,
		  .language = "en" },
	};
	struct ob_pkg_mpd mpd = { .availability_start_ms = T0, .publish_ms = T0 + 30000,
				  .segment_seconds = 4, .time_shift_seconds = 16.0, .sets = sets,
				  .n_sets = 2 };
	struct ob_strbuf out = { 0 };

	(void)state;
	assert_int_equal(ob_pkg_timeline_init(&video, TS, 8), 0);
	assert_int_equal(ob_pkg_timeline_init(&audio, 48000, 8), 0);
	add_ok(&video, 100, 0, 4 * TS, 0, 0);
	add_ok(&video, 101, 4 * TS, 4 * TS, 0, 0);
	add_ok(&video, 102, 8 * TS, 4 * TS, 0, 0);
	/* input lost from 12 s to 20 s: epoch 1 begins at 20 s */
	add_ok(&video, 103, 20 * TS, 4 * TS, 1, 20 * TS);
	add_ok(&video, 104, 24 * TS, 2 * TS, 1, 20 * TS);
	add_ok(&audio, 100, 0, 192000, 0, 0);
	add_ok(&audio, 101, 192000, 192000, 0, 0);
	add_ok(&audio, 102, 384000, 192000, 0, 0);
	add_ok(&audio, 103, 960000, 192000, 1, 960000);
	assert_int_equal(ob_pkg_dash_mpd(&out, &mpd), 0);
	if (strncmp(out.data, expected, strlen(expected)) != 0)
		fail_msg("MPD differs:\n%s", out.data);
	assert_non_null(strstr(out.data, "  </Period>\n</MPD>\n"));
	ob_strbuf_free(&out);

	/* once over, the MPD is static with a duration and no live attributes */
	mpd.ended = true;
	assert_int_equal(ob_pkg_dash_mpd(&out, &mpd), 0);
	assert_non_null(strstr(out.data, "type=\"static\""));
	assert_non_null(strstr(out.data, "mediaPresentationDuration=\"PT22.000S\""));
	assert_null(strstr(out.data, "minimumUpdatePeriod"));
	ob_strbuf_free(&out);

	/* a set with nothing listed is refused (mpd reads sets through its pointer) */
	/* cppcheck-suppress unreadVariable */
	sets[1].first = 4;
	assert_int_equal(ob_pkg_dash_mpd(&out, &mpd), OB_EINVAL);
	ob_strbuf_free(&out);
	ob_pkg_timeline_free(&video);
	ob_pkg_timeline_free(&audio);
}

static void test_publish_replaces_whole_files(void **state)
{
	char dir[] = "/tmp/ob-pkg-XXXXXX";
	char path[64];
	char tmp[64];
	char *data = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(ob_pkg_publish(dir, "v0.m3u8", "old", 3), 0);
	assert_int_equal(ob_pkg_publish(dir, "v0.m3u8", "#EXTM3U\n", 8), 0);
	snprintf(path, sizeof(path), "%s/v0.m3u8", dir);
	snprintf(tmp, sizeof(tmp), "%s/.v0.m3u8.tmp", dir);
	assert_int_equal(ob_read_file(path, 100, &data, NULL), 0);
	assert_string_equal(data, "#EXTM3U\n");
	free(data);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(ob_pkg_publish("/nonexistent-dir", "x", "y", 1), OB_EIO);
	unlink(path);
	rmdir(dir);
}

static void test_strbuf_grows_and_formats(void **state)
{
	struct ob_strbuf buf = { 0 };

	(void)state;
	for (int i = 0; i < 100000; i++)
		ob_strbuf_printf(&buf, "%d,", i % 10);
	assert_false(ob_strbuf_failed(&buf));
	assert_int_equal(buf.len, 200000);
	assert_int_equal(strlen(buf.data), 200000);
	ob_strbuf_reset(&buf);
	ob_strbuf_puts(&buf, "a");
	ob_strbuf_printf(&buf, "%s-%03d", "b", 7);
	assert_string_equal(buf.data, "ab-007");
	ob_strbuf_free(&buf);
	assert_null(buf.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeline_refuses_what_breaks_the_timeline),
		cmocka_unit_test(test_full_ring_drops_the_oldest),
		cmocka_unit_test(test_window_by_segments_and_seconds),
		cmocka_unit_test(test_trim_reports_what_to_delete),
		cmocka_unit_test(test_multivariant_playlist),
		cmocka_unit_test(test_media_playlist_with_a_discontinuity),
		cmocka_unit_test(test_media_playlist_target_duration_and_end),
		cmocka_unit_test(test_epoch_start_is_checked),
		cmocka_unit_test(test_dash_mpd_with_two_periods),
		cmocka_unit_test(test_publish_replaces_whole_files),
		cmocka_unit_test(test_strbuf_grows_and_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
