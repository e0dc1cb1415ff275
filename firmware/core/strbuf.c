#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct ob_strbuf *buf, size_t extra)
{
	size_t need = buf->len + extra + 1;
	size_t cap = buf->cap ? buf->cap : 256;
	char *data;

	if (buf->failed)
		return false;
	if (need <= buf->cap)
		return true;
	while (cap < need)
		cap *= 2;
	data = realloc(buf->data, cap);
	if (!data) {
		buf->failed = true;
		return false;
	}
	buf->data = data;
	buf->cap = cap;
	return true;
}

void ob_strbuf_printf(struct ob_strbuf *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(buf, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf->len += (size_t)n;
}

void ob_strbuf_puts(struct ob_strbuf *buf, const char *text)
{
	size_t n = strlen(text);

	if (!reserve(buf, n))
		return;
	memcpy(buf->data + buf->len, text, n + 1);
	buf->len += n;
}

bool ob_strbuf_failed(const struct ob_strbuf *buf)
{
	return buf->failed;
}

void ob_strbuf_reset(struct ob_strbuf *buf)
{
	buf->len = 0;
	buf->failed = false;
	if (buf->data)
		buf->data[0] = '\0';
}

void ob_strbuf_free(struct ob_strbuf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->failed = false;
}
