#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "packager/internal.h"

#define IO_BUFFER_SIZE 65536

/* libavformat 5.1 passes a non-const buffer; it is only read. */
static int sink_write(void *opaque, uint8_t *buf, int size)
{
	struct ob_pkg_memio *sink = opaque;

	if (size <= 0)
		return 0;
	if (sink->len + (size_t)size > sink->cap) {
		size_t cap = sink->cap ? sink->cap : 256 * 1024;
		uint8_t *grown;

		while (cap < sink->len + (size_t)size)
			cap *= 2;
		grown = realloc(sink->data, cap);
		if (!grown) {
			sink->failed = true;
			return AVERROR(ENOMEM);
		}
		sink->data = grown;
		sink->cap = cap;
	}
	memcpy(sink->data + sink->len, buf, (size_t)size);
	sink->len += (size_t)size;
	return size;
}

int ob_pkg_memio_attach(AVFormatContext *mux, struct ob_pkg_memio *sink)
{
	uint8_t *buffer = av_malloc(IO_BUFFER_SIZE);

	if (!buffer)
		return OB_ENOMEM;
	mux->pb = avio_alloc_context(buffer, IO_BUFFER_SIZE, 1, sink, NULL, sink_write, NULL);
	if (!mux->pb) {
		av_free(buffer);
		return OB_ENOMEM;
	}
	mux->flags |= AVFMT_FLAG_CUSTOM_IO;
	return 0;
}

void ob_pkg_memio_detach(AVFormatContext *mux)
{
	if (!mux->pb)
		return;
	av_freep(&mux->pb->buffer);
	avio_context_free(&mux->pb);
}

void ob_pkg_memio_clear(struct ob_pkg_memio *sink)
{
	free(sink->data);
	memset(sink, 0, sizeof(*sink));
}

int ob_pkg_memio_take(AVFormatContext *mux, struct ob_pkg_memio *sink, uint8_t **out,
		      size_t *out_len)
{
	int ret = 0;

	if (mux && mux->pb)
		avio_flush(mux->pb);
	if (sink->failed)
		ret = OB_ENOMEM;
	else if (sink->len == 0)
		ret = OB_EINVAL;
	if (ret != 0) {
		ob_pkg_memio_clear(sink);
		return ret;
	}
	*out = sink->data;
	*out_len = sink->len;
	memset(sink, 0, sizeof(*sink));
	return 0;
}
