/* Fuzzes the HTTP answer parser: the input is the stream ob_cloud_http_parse_response
 * reads, whole and in small pieces, as the answer to a GET (under a small body limit and
 * the default one) and to a HEAD. Checks what a success promises (a final status, a body
 * within the limit with a NUL after it, no body where none may be, terminated ETag and
 * Content-Type), that a failure leaves the response cleared with a message, and that how
 * the stream is cut into reads changes nothing. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cloud/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SMALL_BODY 64
#define BYTEWISE_MAX (64 * 1024) /* inputs read a byte at a time too, up to this size */

struct mem_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	size_t step;   /* the most bytes one read gives, 0 for as many as asked */
};

static ssize_t mem_read(void *ctx, unsigned char *buf, size_t len)
{
	struct mem_reader *reader = ctx;
	size_t n = reader->len - reader->pos;

	if (n > len)
		n = len;
	if (reader->step && n > reader->step)
		n = reader->step;
	memcpy(buf, reader->data + reader->pos, n);
	reader->pos += n;
	return (ssize_t)n;
}

static int parse(const uint8_t *data, size_t size, size_t step, bool head, size_t max_body,
		 struct ob_http_response *resp)
{
	struct mem_reader reader = { .data = data, .len = size, .step = step };
	char err[256] = "";
	size_t limit = max_body ? max_body : 1024 * 1024;
	int ret = ob_cloud_http_parse_response(mem_read, &reader, head, max_body, resp, err,
					       sizeof(err));

	if (ret != 0) {
		if (!err[0] || resp->body || resp->body_len != 0 || resp->status != 0)
			abort();
		return ret;
	}
	if (resp->status < 200 || resp->status > 599 || !resp->body ||
	    resp->body[resp->body_len] != '\0' || resp->body_len > limit ||
	    resp->body_len > size || resp->retry_after_s < -1 ||
	    !memchr(resp->etag, '\0', sizeof(resp->etag)) ||
	    !memchr(resp->content_type, '\0', sizeof(resp->content_type)))
		abort();
	if ((head || resp->status == 204 || resp->status == 304) && resp->body_len != 0)
		abort();
	return 0;
}

/* The same stream, read in pieces of step bytes, must give the same answer. */
static void compare(const uint8_t *data, size_t size, size_t step, bool head, size_t max_body,
		    int want_ret, const struct ob_http_response *want)
{
	struct ob_http_response resp;
	int ret = parse(data, size, step, head, max_body, &resp);

	if (ret != want_ret)
		abort();
	if (ret == 0 && (resp.status != want->status || resp.body_len != want->body_len ||
			 memcmp(resp.body, want->body, resp.body_len) != 0 ||
			 strcmp(resp.etag, want->etag) != 0 ||
			 strcmp(resp.content_type, want->content_type) != 0))
		abort();
	ob_cloud_http_response_clear(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		bool head;
		size_t max_body;
	} runs[] = { { false, 0 }, { false, SMALL_BODY }, { true, SMALL_BODY } };

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct ob_http_response whole;
		int ret = parse(data, size, 0, runs[i].head, runs[i].max_body, &whole);

		compare(data, size, 7, runs[i].head, runs[i].max_body, ret, &whole);
		if (size <= BYTEWISE_MAX)
			compare(data, size, 1, runs[i].head, runs[i].max_body, ret, &whole);
		ob_cloud_http_response_clear(&whole);
	}
	return 0;
}
