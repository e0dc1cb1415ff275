/* Shared between the packager's own files; not part of its public interface. */
#ifndef OB_PACKAGER_INTERNAL_H
#define OB_PACKAGER_INTERNAL_H

#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes a muxer wrote, in memory, until they are taken. */
struct ob_pkg_memio {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;   /* a write ran out of memory */
};

/* Gives mux (AVFMT_FLAG_CUSTOM_IO set here) an AVIOContext that writes into sink, which
 * must outlive it. 0 or OB_ENOMEM. */
int ob_pkg_memio_attach(AVFormatContext *mux, struct ob_pkg_memio *sink);

/* Frees the AVIOContext attach gave mux (mux itself stays). */
void ob_pkg_memio_detach(AVFormatContext *mux);

/* Flushes mux's buffer and hands the bytes written since the last take to the caller
 * (freed with free()), leaving sink empty. OB_ENOMEM when a write failed, OB_EINVAL when
 * nothing was written. */
int ob_pkg_memio_take(AVFormatContext *mux, struct ob_pkg_memio *sink, uint8_t **out,
		      size_t *out_len);

/* Drops whatever sink holds. */
void ob_pkg_memio_clear(struct ob_pkg_memio *sink);

#endif
