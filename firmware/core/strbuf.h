/* A growable text buffer for writing documents (playlists, manifests). An allocation
 * failure is remembered and reported once, at the end, by ob_strbuf_failed. */
#ifndef OB_CORE_STRBUF_H
#define OB_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct ob_strbuf {
	char *data;   /* NUL-terminated text, or NULL before the first write */
	size_t len;   /* bytes of text, without the NUL */
	size_t cap;   /* bytes allocated */
	bool failed;  /* an allocation failed: the text is incomplete */
};

/* Appends formatted text. */
void ob_strbuf_printf(struct ob_strbuf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends a string. */
void ob_strbuf_puts(struct ob_strbuf *buf, const char *text);

/* True when an allocation failed since the buffer was empty. */
bool ob_strbuf_failed(const struct ob_strbuf *buf);

/* Empties the buffer, keeping its memory. */
void ob_strbuf_reset(struct ob_strbuf *buf);

/* Frees the buffer's memory; it can be used again afterwards. */
void ob_strbuf_free(struct ob_strbuf *buf);

#endif
