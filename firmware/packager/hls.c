#include <math.h>
#include <stdio.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"
#include "packager/packager.h"

int ob_pkg_hls_multivariant(struct ob_strbuf *out, const struct ob_pkg_variant *variants,
			    size_t n_variants, const struct ob_pkg_audio *audio)
{
	long audio_bps = audio ? audio->bps : 0;

	if (n_variants == 0)
		return OB_EINVAL;
	for (size_t i = 0; i < n_variants; i++)
		if (!variants[i].uri || !variants[i].codecs || variants[i].peak_bps <= 0 ||
		    variants[i].average_bps <= 0 || variants[i].width <= 0 || variants[i].height <= 0)
			return OB_EINVAL;
	if (audio && (!audio->uri || !audio->codecs || audio->bps <= 0))
		return OB_EINVAL;
	ob_strbuf_puts(out, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
	if (audio) {
		ob_strbuf_puts(out, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",");
		if (audio->language)
			ob_strbuf_printf(out, "LANGUAGE=\"%s\",", audio->language);
		ob_strbuf_printf(out, "DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"%d\",URI=\"%s\"\n",
				 audio->channels > 0 ? audio->channels : 2, audio->uri);
	}
	for (size_t i = 0; i < n_variants; i++) {
		const struct ob_pkg_variant *v = &variants[i];

		/* BANDWIDTH counts every stream a player fetches for this variant (RFC 8216
		 * 4.3.4.2), so the audio rendition's bitrate is in it. */
		ob_strbuf_printf(out,
				 "#EXT-X-STREAM-INF:BANDWIDTH=%ld,AVERAGE-BANDWIDTH=%ld,"
				 "RESOLUTION=%dx%d,CODECS=\"%s%s%s\"",
				 v->peak_bps + audio_bps, v->average_bps + audio_bps, v->width,
				 v->height, v->codecs, audio ? "," : "", audio ? audio->codecs : "");
		if (v->frame_rate > 0)
			ob_strbuf_printf(out, ",FRAME-RATE=%.3f", v->frame_rate);
		if (audio)
			ob_strbuf_puts(out, ",AUDIO=\"audio\"");
		ob_strbuf_printf(out, "\n%s\n", v->uri);
	}
	return ob_strbuf_failed(out) ? OB_ENOMEM : 0;
}

static void program_date_time(struct ob_strbuf *out, int64_t wall_ms)
{
	char stamp[32];

	ob_time_iso8601(wall_ms, stamp, sizeof(stamp));
	ob_strbuf_printf(out, "#EXT-X-PROGRAM-DATE-TIME:%s\n", stamp);
}

int ob_pkg_hls_media(struct ob_strbuf *out, const struct ob_pkg_media_playlist *p)
{
	const struct ob_pkg_timeline *tl = p->timeline;
	const struct ob_pkg_segment *first;
	long target = p->target_duration_s;

	if (!tl || p->first >= tl->count)
		return OB_EINVAL;
	/* EXTINF rounded to the nearest second must not exceed the target (RFC 8216 4.3.3.1). */
	for (size_t i = p->first; i < tl->count; i++) {
		long rounded = lround(ob_pkg_timeline_seconds(tl, ob_pkg_timeline_at(tl, i)->duration));

		if (rounded > target)
			target = rounded;
	}
	first = ob_pkg_timeline_at(tl, p->first);
	ob_strbuf_printf(out,
			 "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%ld\n"
			 "#EXT-X-MEDIA-SEQUENCE:%llu\n#EXT-X-DISCONTINUITY-SEQUENCE:%u\n",
			 p->fmp4 ? 7 : 3, target, (unsigned long long)first->number, first->epoch);
	if (p->fmp4)
		ob_strbuf_puts(out, "#EXT-X-INDEPENDENT-SEGMENTS\n");
	for (size_t i = p->first; i < tl->count; i++) {
		const struct ob_pkg_segment *seg = ob_pkg_timeline_at(tl, i);
		bool opens_epoch = i == p->first || seg->epoch != ob_pkg_timeline_at(tl, i - 1)->epoch;

		if (i != p->first && opens_epoch)
			ob_strbuf_puts(out, "#EXT-X-DISCONTINUITY\n");
		if (opens_epoch) {
			if (p->fmp4)
				ob_strbuf_printf(out, "#EXT-X-MAP:URI=\"%s/init-%llu.mp4\"\n", p->dir,
						 (unsigned long long)seg->init_id);
			program_date_time(out, seg->wall_ms);
		}
		ob_strbuf_printf(out, "#EXTINF:%.3f,\n%s/%llu.%s\n",
				 ob_pkg_timeline_seconds(tl, seg->duration), p->dir,
				 (unsigned long long)seg->number, p->fmp4 ? "m4s" : "ts");
	}
	if (p->ended)
		ob_strbuf_puts(out, "#EXT-X-ENDLIST\n");
	return ob_strbuf_failed(out) ? OB_ENOMEM : 0;
}
