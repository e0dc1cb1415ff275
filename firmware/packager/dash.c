#include <math.h>
#include <stdio.h>

#include "core/err.h"
#include "core/util.h"
#include "packager/packager.h"

/* Players stay this many segments behind the live edge (DASH-IF IOP's usual choice). */
#define PRESENTATION_DELAY_SEGMENTS 3

static void iso_time(struct ob_strbuf *out, const char *attr, int64_t wall_ms)
{
	char stamp[32];

	ob_time_iso8601(wall_ms, stamp, sizeof(stamp));
	ob_strbuf_printf(out, " %s=\"%s\"", attr, stamp);
}

/* FrameRateType is an integer or a fraction: 30, 30000/1001, 25. */
static void frame_rate(struct ob_strbuf *out, double fps)
{
	long whole = lround(fps);
	long ntsc = lround(fps * 1001.0 / 1000.0);

	if (fabs(fps - (double)whole) < 0.001)
		ob_strbuf_printf(out, " frameRate=\"%ld\"", whole);
	else if (fabs((double)ntsc * 1000.0 / 1001.0 - fps) < 0.01)
		ob_strbuf_printf(out, " frameRate=\"%ld/1001\"", ntsc * 1000);
	else
		ob_strbuf_printf(out, " frameRate=\"%ld/1000\"", lround(fps * 1000.0));
}

/* The segments [from, to) of a timeline that belong to epoch, as a run-length timeline. */
static void segment_timeline(struct ob_strbuf *out, const struct ob_pkg_timeline *tl,
			     size_t from, uint32_t epoch)
{
	const struct ob_pkg_segment *run = NULL;
	int64_t next_start = 0;
	long repeat = 0;

	ob_strbuf_puts(out, "        <SegmentTimeline>\n");
	for (size_t i = from; i < tl->count; i++) {
		const struct ob_pkg_segment *seg = ob_pkg_timeline_at(tl, i);

		if (seg->epoch != epoch)
			continue;
		if (run && seg->duration == run->duration && seg->start == next_start) {
			repeat++;
		} else {
			if (run)
				ob_strbuf_printf(out, " r=\"%ld\"/>\n", repeat);
			ob_strbuf_printf(out, "          <S t=\"%lld\" d=\"%lld\"",
					 (long long)seg->start, (long long)seg->duration);
			run = seg;
			repeat = 0;
		}
		next_start = seg->start + seg->duration;
	}
	if (run)
		ob_strbuf_printf(out, " r=\"%ld\"/>\n", repeat);
	ob_strbuf_puts(out, "        </SegmentTimeline>\n");
}

/* The first listed segment of a set's timeline in epoch, or NULL. */
static const struct ob_pkg_segment *first_of_epoch(const struct ob_pkg_dash_set *set,
						   uint32_t epoch)
{
	for (size_t i = set->first; i < set->timeline->count; i++) {
		const struct ob_pkg_segment *seg = ob_pkg_timeline_at(set->timeline, i);

		if (seg->epoch == epoch)
			return seg;
	}
	return NULL;
}

/* period_media_s: the media time (seconds) at the period's start, or < 0 for the epoch's
 * start; presentationTimeOffset is that instant in the set's timescale. */
static void adaptation_set(struct ob_strbuf *out, const struct ob_pkg_dash_set *set,
			   size_t index, uint32_t epoch, double period_media_s)
{
	const struct ob_pkg_segment *first = first_of_epoch(set, epoch);
	int max_w = 0;
	int max_h = 0;

	if (!first)
		return;
	for (size_t r = 0; r < set->n_reps; r++) {
		if (set->reps[r].width > max_w)
			max_w = set->reps[r].width;
		if (set->reps[r].height > max_h)
			max_h = set->reps[r].height;
	}
	ob_strbuf_printf(out,
			 "      <AdaptationSet id=\"%zu\" contentType=\"%s\" mimeType=\"%s\" "
			 "segmentAlignment=\"true\" startWithSAP=\"1\"",
			 index, set->video ? "video" : "audio",
			 set->video ? "video/mp4" : "audio/mp4");
	if (set->video)
		ob_strbuf_printf(out, " maxWidth=\"%d\" maxHeight=\"%d\"", max_w, max_h);
	if (!set->video && set->language)
		ob_strbuf_printf(out, " lang=\"%s\"", set->language);
	ob_strbuf_puts(out, ">\n");
	ob_strbuf_printf(out,
			 "        <SegmentTemplate timescale=\"%u\" presentationTimeOffset=\"%lld\" "
			 "initialization=\"$RepresentationID$/init-%llu.mp4\" "
			 "media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"%llu\">\n",
			 set->timeline->timescale,
			 period_media_s < 0 ? (long long)first->epoch_start
					    : llround(period_media_s * set->timeline->timescale),
			 (unsigned long long)first->init_id, (unsigned long long)first->number);
	segment_timeline(out, set->timeline, set->first, epoch);
	ob_strbuf_puts(out, "        </SegmentTemplate>\n");
	for (size_t r = 0; r < set->n_reps; r++) {
		const struct ob_pkg_dash_rep *rep = &set->reps[r];

		ob_strbuf_printf(out, "        <Representation id=\"%s\" bandwidth=\"%ld\" codecs=\"%s\"",
				 rep->id, rep->bandwidth_bps, rep->codecs);
		if (set->video) {
			ob_strbuf_printf(out, " width=\"%d\" height=\"%d\"", rep->width, rep->height);
			if (rep->frame_rate > 0)
				frame_rate(out, rep->frame_rate);
			ob_strbuf_puts(out, "/>\n");
		} else {
			ob_strbuf_printf(out, " audioSamplingRate=\"%d\">\n", rep->sample_rate);
			ob_strbuf_printf(out,
					 "          <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:"
					 "23003:3:audio_channel_configuration:2011\" value=\"%d\"/>\n"
					 "        </Representation>\n",
					 rep->channels > 0 ? rep->channels : 2);
		}
	}
	ob_strbuf_puts(out, "      </AdaptationSet>\n");
}

int ob_pkg_dash_mpd(struct ob_strbuf *out, const struct ob_pkg_mpd *mpd)
{
	const struct ob_pkg_dash_set *main_set = mpd->n_sets ? &mpd->sets[0] : NULL;
	const struct ob_pkg_timeline *tl;
	double origin_s;
	uint32_t epoch;

	if (!main_set)
		return OB_EINVAL;
	for (size_t s = 0; s < mpd->n_sets; s++)
		if (!mpd->sets[s].timeline || mpd->sets[s].first >= mpd->sets[s].timeline->count ||
		    mpd->sets[s].n_reps == 0)
			return OB_EINVAL;
	tl = main_set->timeline;
	ob_strbuf_printf(out,
			 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			 "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" "
			 "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"%s\"",
			 mpd->ended ? "static" : "dynamic");
	iso_time(out, "availabilityStartTime", mpd->availability_start_ms);
	iso_time(out, "publishTime", mpd->publish_ms);
	if (mpd->ended) {
		const struct ob_pkg_segment *last = ob_pkg_timeline_at(tl, tl->count - 1);
		const struct ob_pkg_segment *head = ob_pkg_timeline_at(tl, main_set->first);

		ob_strbuf_printf(out, " mediaPresentationDuration=\"PT%.3fS\"",
				 ob_pkg_timeline_seconds(tl, last->start + last->duration -
								   head->start));
	} else {
		ob_strbuf_printf(out,
				 " minimumUpdatePeriod=\"PT%dS\" timeShiftBufferDepth=\"PT%.3fS\" "
				 "suggestedPresentationDelay=\"PT%dS\"",
				 mpd->segment_seconds, mpd->time_shift_seconds,
				 mpd->segment_seconds * PRESENTATION_DELAY_SEGMENTS);
	}
	ob_strbuf_printf(out, " minBufferTime=\"PT%dS\" maxSegmentDuration=\"PT%dS\">\n",
			 mpd->segment_seconds, mpd->segment_seconds);
	/* One period per epoch of the main timeline, in order. */
	epoch = ob_pkg_timeline_at(tl, main_set->first)->epoch;
	origin_s = ob_pkg_timeline_seconds(tl, ob_pkg_timeline_at(tl, main_set->first)->start);
	for (;;) {
		const struct ob_pkg_segment *start = first_of_epoch(main_set, epoch);
		uint32_t next = epoch;

		if (start) {
			/* The period begins where its epoch began, and presentationTimeOffset
			 * is that same instant, so media time maps to presentation time
			 * one to one and nothing moves as the window slides. */
			double epoch_s = ob_pkg_timeline_seconds(tl, start->epoch_start);
			double period_s = epoch_s;
			double media_s = -1;

			if (mpd->ended) {
				/* A static MPD's presentation starts at its first listed segment
				 * and lasts mediaPresentationDuration: count from there. */
				period_s = epoch_s - origin_s;
				if (period_s < 0) {
					period_s = 0;
					media_s = origin_s;
				}
			}
			ob_strbuf_printf(out, "  <Period id=\"%u\" start=\"PT%.3fS\">\n", epoch,
					 period_s);
			for (size_t s = 0; s < mpd->n_sets; s++)
				adaptation_set(out, &mpd->sets[s], s, epoch, media_s);
			ob_strbuf_puts(out, "  </Period>\n");
		}
		for (size_t i = main_set->first; i < tl->count; i++)
			if (ob_pkg_timeline_at(tl, i)->epoch > epoch) {
				next = ob_pkg_timeline_at(tl, i)->epoch;
				break;
			}
		if (next == epoch)
			break;
		epoch = next;
	}
	ob_strbuf_puts(out, "</MPD>\n");
	return ob_strbuf_failed(out) ? OB_ENOMEM : 0;
}
