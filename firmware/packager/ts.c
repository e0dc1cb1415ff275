#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "packager/cmaf.h"

#define IO_BUFFER_SIZE 65536

/* One MPEG-TS muxer per segment, writing into memory: each segment starts with its own
 * PAT and PMT and can be played on its own, as HLS asks. */
struct ob_pkg_ts {
	AVCodecParameters *par;
	AVRational time_base;  /* of the packets given */
	AVFormatContext *mux;  /* the segment being built, or NULL */
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
};

/* libavformat 5.1 passes a non-const buffer; it is only read. */
static int capture_write(void *opaque, uint8_t *buf, int size)
{
	struct ob_pkg_ts *w = opaque;

	if (size <= 0)
		return 0;
	if (w->len + (size_t)size > w->cap) {
		size_t cap = w->cap ? w->cap : 256 * 1024;
		uint8_t *grown;

		while (cap < w->len + (size_t)size)
			cap *= 2;
		grown = realloc(w->data, cap);
		if (!grown) {
			w->failed = true;
			return AVERROR(ENOMEM);
		}
		w->data = grown;
		w->cap = cap;
	}
	memcpy(w->data + w->len, buf, (size_t)size);
	w->len += (size_t)size;
	return size;
}

static void close_mux(struct ob_pkg_ts *w)
{
	if (!w->mux)
		return;
	if (w->mux->pb) {
		av_freep(&w->mux->pb->buffer);
		avio_context_free(&w->mux->pb);
	}
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
	uint8_t *io_buffer;
	AVStream *st;
	AVDictionary *opts = NULL;
	int rc;

	if (avformat_alloc_output_context2(&w->mux, NULL, "mpegts", NULL) < 0 || !w->mux)
		return OB_ENOMEM;
	io_buffer = av_malloc(IO_BUFFER_SIZE);
	if (!io_buffer)
		return OB_ENOMEM;
	w->mux->pb = avio_alloc_context(io_buffer, IO_BUFFER_SIZE, 1, w, NULL, capture_write,
					NULL);
	if (!w->mux->pb) {
		av_free(io_buffer);
		return OB_ENOMEM;
	}
	w->mux->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT;
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
		return w->failed ? OB_ENOMEM : OB_EIO;
	return 0;
}

int ob_pkg_ts_cut(struct ob_pkg_ts *w, uint8_t **seg, size_t *len)
{
	int rc;

	if (!w->mux)
		return OB_EINVAL;
	rc = av_write_trailer(w->mux);
	avio_flush(w->mux->pb);
	close_mux(w);
	if (rc < 0 || w->failed || w->len == 0) {
		free(w->data);
		w->data = NULL;
		w->len = w->cap = 0;
		return w->failed ? OB_ENOMEM : OB_EIO;
	}
	*seg = w->data;
	*len = w->len;
	w->data = NULL;
	w->len = w->cap = 0;
	return 0;
}

void ob_pkg_ts_close(struct ob_pkg_ts **wp)
{
	struct ob_pkg_ts *w = *wp;

	if (!w)
		return;
	close_mux(w);
	avcodec_parameters_free(&w->par);
	free(w->data);
	free(w);
	*wp = NULL;
}
