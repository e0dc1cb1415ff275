#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "packager/internal.h"
#include "packager/packager.h"

/* One MPEG-TS muxer per segment, writing into memory: each segment starts with its own
 * PAT and PMT and can be played on its own, as HLS asks. */
struct ob_pkg_ts {
	AVCodecParameters *par;
	AVRational time_base;      /* of the packets given */
	AVFormatContext *mux;      /* the segment being built, or NULL */
	struct ob_pkg_memio sink;  /* its bytes */
};

static void close_mux(struct ob_pkg_ts *w)
{
	if (!w->mux)
		return;
	ob_pkg_memio_detach(w->mux);
	avformat_free_context(w->mux);
	w->mux = NULL;
}

int ob_pkg_ts_open(const AVCodecParameters *par, AVRational time_base, struct ob_pkg_ts **out)
{
	struct ob_pkg_ts *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return OB_ENOMEM;
	w->par = avcodec_parameters_alloc();
	if (!w->par || avcodec_parameters_copy(w->par, par) < 0) {
		ob_pkg_ts_close(&w);
		return OB_ENOMEM;
	}
	w->par->codec_tag = 0;
	w->time_base = time_base;
	*out = w;
	return 0;
}

static int open_mux(struct ob_pkg_ts *w)
{
	AVStream *st;
	AVDictionary *opts = NULL;
	int rc;

	if (avformat_alloc_output_context2(&w->mux, NULL, "mpegts", NULL) < 0 || !w->mux)
		return OB_ENOMEM;
	if (ob_pkg_memio_attach(w->mux, &w->sink) != 0)
		return OB_ENOMEM;
	w->mux->flags |= AVFMT_FLAG_BITEXACT;
	st = avformat_new_stream(w->mux, NULL);
	if (!st || avcodec_parameters_copy(st->codecpar, w->par) < 0)
		return OB_ENOMEM;
	st->time_base = w->time_base;
	/* Timestamps as they come (the HLS timeline), no added delay. */
	av_dict_set(&opts, "avoid_negative_ts", "disabled", 0);
	av_dict_set(&opts, "muxdelay", "0", 0);
	rc = avformat_write_header(w->mux, &opts);
	av_dict_free(&opts);
	return rc < 0 ? OB_EIO : 0;
}

int ob_pkg_ts_write(struct ob_pkg_ts *w, const AVPacket *pkt)
{
	AVPacket *copy;
	int rc;

	if (!w->mux) {
		int ret = open_mux(w);

		if (ret != 0) {
			close_mux(w);
			return ret;
		}
	}
	copy = av_packet_clone(pkt);
	if (!copy)
		return OB_ENOMEM;
	copy->stream_index = 0;
	av_packet_rescale_ts(copy, w->time_base, w->mux->streams[0]->time_base);
	rc = av_write_frame(w->mux, copy);
	av_packet_free(&copy);
	if (rc < 0)
		return w->sink.failed ? OB_ENOMEM : OB_EIO;
	return 0;
}

int ob_pkg_ts_cut(struct ob_pkg_ts *w, uint8_t **seg, size_t *len)
{
	int rc;
	int ret;

	if (!w->mux)
		return OB_EINVAL;
	rc = av_write_trailer(w->mux);
	ret = ob_pkg_memio_take(w->mux, &w->sink, seg, len);
	close_mux(w);
	if (ret == 0 && rc < 0) {
		free(*seg);
		*seg = NULL;
		ret = OB_EIO;
	}
	return ret;
}

void ob_pkg_ts_close(struct ob_pkg_ts **wp)
{
	struct ob_pkg_ts *w = *wp;

	if (!w)
		return;
	close_mux(w);
	avcodec_parameters_free(&w->par);
	ob_pkg_memio_clear(&w->sink);
	free(w);
	*wp = NULL;
}
