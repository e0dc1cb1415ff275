#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "packager/internal.h"
#include "packager/packager.h"

/* libavformat's MP4 muxer in fragmented mode, writing into memory: one fragment (moof +
 * mdat) per segment, cut when the engine says so, so segment boundaries are ours. */
struct ob_pkg_cmaf {
	AVFormatContext *mux;
	struct ob_pkg_memio sink;  /* bytes written since the last take */
	int64_t packets;           /* in the fragment being built */
};

void ob_pkg_cmaf_close(struct ob_pkg_cmaf **wp)
{
	struct ob_pkg_cmaf *w = *wp;

	if (!w)
		return;
	if (w->mux) {
		ob_pkg_memio_detach(w->mux);
		avformat_free_context(w->mux);
	}
	ob_pkg_memio_clear(&w->sink);
	free(w);
	*wp = NULL;
}

int ob_pkg_cmaf_open(const AVCodecParameters *par, AVRational time_base, struct ob_pkg_cmaf **out,
		     uint8_t **init, size_t *init_len, char *err, size_t err_len)
{
	struct ob_pkg_cmaf *w = calloc(1, sizeof(*w));
	AVDictionary *opts = NULL;
	AVStream *st;
	int rc;
	int ret = OB_ENOMEM;

	*out = NULL;
	if (!w)
		return OB_ENOMEM;
	rc = avformat_alloc_output_context2(&w->mux, NULL, "mp4", NULL);
	if (rc < 0 || !w->mux)
		goto fail;
	if (ob_pkg_memio_attach(w->mux, &w->sink) != 0)
		goto fail;
	w->mux->flags |= AVFMT_FLAG_BITEXACT;
	st = avformat_new_stream(w->mux, NULL);
	if (!st)
		goto fail;
	rc = avcodec_parameters_copy(st->codecpar, par);
	if (rc < 0)
		goto fail;
	/* Apple players want HEVC as hvc1 (parameter sets in the sample entry). */
	st->codecpar->codec_tag = par->codec_id == AV_CODEC_ID_HEVC ? MKTAG('h', 'v', 'c', '1') : 0;
	st->time_base = time_base;
	/* An empty moov (the init segment), fragments only when cut, each moof addressing its
	 * own data, CMAF brands, no sidx or mfra: a live track in segments. Timestamps go out
	 * as they come in (no edit list, no shift to zero), so tfdt is the media time. */
	av_dict_set(&opts, "movflags",
		    "empty_moov+frag_custom+frag_discont+default_base_moof+cmaf+skip_sidx+"
		    "skip_trailer", 0);
	av_dict_set(&opts, "use_editlist", "0", 0);
	av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
	rc = avformat_write_header(w->mux, &opts);
	av_dict_free(&opts);
	if (rc < 0) {
		char averr[AV_ERROR_MAX_STRING_SIZE];

		av_strerror(rc, averr, sizeof(averr));
		snprintf(err, err_len, "the MP4 writer refused the %s track: %s",
			 avcodec_get_name(par->codec_id), averr);
		ret = OB_EIO;
		goto fail;
	}
	ret = ob_pkg_memio_take(w->mux, &w->sink, init, init_len);
	if (ret != 0)
		goto fail;
	*out = w;
	return 0;

fail:
	if (ret == OB_ENOMEM)
		snprintf(err, err_len, "out of memory opening the MP4 writer");
	ob_pkg_cmaf_close(&w);
	return ret;
}

int ob_pkg_cmaf_write(struct ob_pkg_cmaf *w, AVPacket *pkt)
{
	int rc;

	if (pkt->duration <= 0 || pkt->pts == AV_NOPTS_VALUE || pkt->dts == AV_NOPTS_VALUE)
		return OB_EINVAL;
	pkt->stream_index = 0;
	rc = av_write_frame(w->mux, pkt);
	if (rc < 0)
		return w->sink.failed ? OB_ENOMEM : OB_EIO;
	w->packets++;
	return 0;
}

int ob_pkg_cmaf_cut(struct ob_pkg_cmaf *w, uint8_t **seg, size_t *len)
{
	int rc;

	if (w->packets == 0)
		return OB_EINVAL;
	rc = av_write_frame(w->mux, NULL);
	if (rc < 0)
		return w->sink.failed ? OB_ENOMEM : OB_EIO;
	w->packets = 0;
	return ob_pkg_memio_take(w->mux, &w->sink, seg, len);
}

/* avc1.PPCCLL from the first SPS of the extradata (Annex B or avcC). */
static int avc_string(const AVCodecParameters *par, char *out, size_t len)
{
	const uint8_t *p = par->extradata;
	int size = par->extradata_size;
	const uint8_t *sps = NULL;

	if (size >= 7 && p[0] == 1) {
		/* avcC: version, profile, compat, level follow directly. */
		sps = p; /* bytes 1..3 are profile, constraints, level */
	} else {
		for (int i = 0; i + 4 < size; i++)
			if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1 && (p[i + 3] & 0x1f) == 7) {
				sps = p + i + 3; /* NAL header; profile, constraints, level follow */
				if (i + 6 >= size)
					sps = NULL;
				break;
			}
	}
	if (!sps)
		return OB_EINVAL;
	snprintf(out, len, "avc1.%02X%02X%02X", sps[1], sps[2], sps[3]);
	return 0;
}

int ob_pkg_codec_string(const AVCodecParameters *par, char *out, size_t len)
{
	switch (par->codec_id) {
	case AV_CODEC_ID_H264:
		return avc_string(par, out, len);
	case AV_CODEC_ID_HEVC: {
		/* hvc1.<profile>.<compat>.<tier><level>.B0: what the encoder was asked for. */
		int profile = par->profile > 0 ? par->profile : 1;
		int level = par->level > 0 ? par->level : 120;

		snprintf(out, len, "hvc1.%d.%X.L%d.B0", profile, profile == 2 ? 4 : 6, level);
		return 0;
	}
	case AV_CODEC_ID_AAC:
		snprintf(out, len, "mp4a.40.%d", par->profile == FF_PROFILE_AAC_HE ? 5 :
						 par->profile == FF_PROFILE_AAC_HE_V2 ? 29 : 2);
		return 0;
	default:
		return OB_EUNSUPPORTED;
	}
}
