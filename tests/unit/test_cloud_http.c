/* The HTTP/1.1 client: the answer parser fed from memory (Content-Length, chunked with
 * extensions and trailers, read to the end, no body for HEAD/204/304, 1xx skipped, every
 * malformed framing refused with its message, the body and header limits at the byte,
 * Retry-After in both forms), URL parsing, request checks (header injection), and real
 * requests against servers this test runs on loopback: plain HTTP (IPv4 and IPv6), a
 * closed port, a silent server and a slow one (timeouts), a peer that hangs up mid-body
 * (no SIGPIPE), and TLS with certificates made at run time (the right CA, a wrong CA, the
 * system's CAs, a wrong name, an expired certificate). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cloud/http.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/util.h"

/* ---- the parser, from memory ---- */

struct mem_reader {
	const char *data;
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

static ssize_t failing_read(void *ctx, unsigned char *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return OB_EIO;
}

static int parse_mem(const char *text, size_t len, bool head, size_t max_body, size_t step,
		     struct ob_http_response *resp, char *err, size_t err_len)
{
	struct mem_reader reader = { .data = text, .len = len, .step = step };

	return ob_cloud_http_parse_response(mem_read, &reader, head, max_body, resp, err, err_len);
}

#define HEAD_OK "HTTP/1.1 200 OK\r\n"
/* A literal and its length, for text with a NUL inside. */
#define WITH_NUL(text) text, sizeof(text) - 1

static const struct parse_case {
	const char *name;
	const char *answer;
	size_t answer_len;      /* 0: strlen(answer) */
	bool head_request;
	size_t max_body;        /* 0: the default, 1 MiB */
	int ret;
	int status;             /* when ret is 0 */
	const char *body;       /* when ret is 0 */
	size_t body_len;        /* 0: strlen(body) */
	const char *message;    /* a part of the error, when ret is not 0 */
} parse_cases[] = {
	/* taken */
	{ "content-length", HEAD_OK "Content-Length: 5\r\n\r\nhello", .status = 200,
	  .body = "hello" },
	{ "bytes past content-length ignored", HEAD_OK "Content-Length: 2\r\n\r\nokEXTRA",
	  .status = 200, .body = "ok" },
	{ "header names in any case", HEAD_OK "cOnTeNt-LeNgTh: 2\r\n\r\nok", .status = 200,
	  .body = "ok" },
	{ "the same length twice", HEAD_OK "Content-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	  .status = 200, .body = "ok" },
	{ "binary body", WITH_NUL(HEAD_OK "Content-Length: 3\r\n\r\na\0b"), .status = 200,
	  .body = "a\0b", .body_len = 3 },
	{ "chunked, extensions, trailers",
	  HEAD_OK "Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n6 ; x=\"y\"\r\n"
		  " world\r\n0;last\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n",
	  .status = 200, .body = "hello world" },
	{ "chunked, hex in both cases", HEAD_OK "Transfer-Encoding: Chunked\r\n\r\n"
	  "a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", .status = 200,
	  .body = "0123456789abcdefghij" },
	{ "chunked, leading zeros", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n"
	  "0000000000000000000000002\r\nok\r\n0\r\n\r\n", .status = 200, .body = "ok" },
	{ "chunked, empty", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", .status = 200,
	  .body = "" },
	{ "read to the end", "HTTP/1.0 200 OK\r\n\r\nuntil the end", .status = 200,
	  .body = "until the end" },
	{ "read to the end, empty", "HTTP/1.1 200 OK\r\n\r\n", .status = 200, .body = "" },
	{ "HEAD has no body", HEAD_OK "Content-Length: 100\r\n\r\n", .head_request = true,
	  .status = 200, .body = "" },
	{ "204 has no body", "HTTP/1.1 204 No Content\r\n\r\nnot a body", .status = 204,
	  .body = "" },
	{ "304 has no body", "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 9"
	  "\r\n\r\n", .status = 304, .body = "" },
	{ "100 Continue, then the answer", "HTTP/1.1 100 Continue\r\n\r\n"
	  HEAD_OK "Content-Length: 2\r\n\r\nok", .status = 200, .body = "ok" },
	{ "103 Early Hints with headers, then the answer", "HTTP/1.1 103 Early Hints\r\n"
	  "Link: </a.css>; rel=preload\r\nContent-Length: 7\r\n\r\n"
	  "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", .status = 201, .body = "ok" },
	{ "no reason phrase", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", .status = 200,
	  .body = "ok" },
	{ "empty reason phrase", "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",
	  .status = 200, .body = "ok" },
	{ "LF without CR", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", .status = 200,
	  .body = "ok" },
	{ "an error status is an answer", "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
	  .status = 503, .body = "busy" },
	{ "whitespace around values", HEAD_OK "Content-Length: \t 2 \t\r\n\r\nok",
	  .status = 200, .body = "ok" },

	/* refused */
	{ "empty", "", .ret = OB_EIO, .message = "no answer came back" },
	{ "HTTP/2", "HTTP/2 200 OK\r\n\r\n", .ret = OB_EIO,
	  .message = "status line \"HTTP/2 200 OK\" is not \"HTTP/1.x NNN reason\"" },
	{ "not HTTP", "ICY 200 OK\r\n\r\n", .ret = OB_EIO, .message = "is not \"HTTP/1.x" },
	{ "status 99", "HTTP/1.1 099 Low\r\n\r\n", .ret = OB_EIO, .message = "status line" },
	{ "status 600", "HTTP/1.1 600 High\r\n\r\n", .ret = OB_EIO, .message = "status line" },
	{ "four digits", "HTTP/1.1 2000 OK\r\n\r\n", .ret = OB_EIO, .message = "status line" },
	{ "no space after the status", "HTTP/1.1 200OK\r\n\r\n", .ret = OB_EIO,
	  .message = "status line" },
	{ "HTTP/1.10", "HTTP/1.10 200 OK\r\n\r\n", .ret = OB_EIO, .message = "status line" },
	{ "control character in the reason", "HTTP/1.1 200 O\x01K\r\n\r\n", .ret = OB_EIO,
	  .message = "status line \"HTTP/1.1 200 O?K\"" },
	{ "obs-fold", HEAD_OK "X-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n", .ret = OB_EIO,
	  .message = "obs-fold" },
	{ "obs-fold with a tab", HEAD_OK "X-A: 1\r\n\tfolded\r\n\r\n", .ret = OB_EIO,
	  .message = "obs-fold" },
	{ "NUL in a header", WITH_NUL(HEAD_OK "X-A: a\0b\r\n\r\n"), .ret = OB_EIO,
	  .message = "NUL byte" },
	{ "NUL in the status line", WITH_NUL("HTTP/1.1 200 O\0K\r\n\r\n"), .ret = OB_EIO,
	  .message = "NUL byte" },
	{ "no colon", HEAD_OK "NoColonHere\r\n\r\n", .ret = OB_EIO,
	  .message = "header line \"NoColonHere\" has no colon" },
	{ "space before the colon", HEAD_OK "Content-Length : 2\r\n\r\nok", .ret = OB_EIO,
	  .message = "header name \"Content-Length \" is not a token" },
	{ "empty header name", HEAD_OK ": 2\r\n\r\nok", .ret = OB_EIO, .message = "not a token" },
	{ "bare CR", HEAD_OK "X-A: a\rb\r\n\r\n", .ret = OB_EIO,
	  .message = "CR that does not end a line" },
	{ "control character in a value", HEAD_OK "X-A: a\x01" "b\r\n\r\n", .ret = OB_EIO,
	  .message = "header X-A holds a control character" },
	{ "two different lengths", HEAD_OK "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
	  .ret = OB_EIO, .message = "two different Content-Lengths (5 and 6)" },
	{ "length not digits", HEAD_OK "Content-Length: 5x\r\n\r\nhello", .ret = OB_EIO,
	  .message = "Content-Length \"5x\" is not a number" },
	{ "negative length", HEAD_OK "Content-Length: -1\r\n\r\n", .ret = OB_EIO,
	  .message = "Content-Length \"-1\" is not a number" },
	{ "empty length", HEAD_OK "Content-Length: \r\n\r\n", .ret = OB_EIO,
	  .message = "Content-Length \"\" is not a number" },
	{ "a list of lengths", HEAD_OK "Content-Length: 2, 2\r\n\r\nok", .ret = OB_EIO,
	  .message = "is not a number" },
	{ "hex length", HEAD_OK "Content-Length: 0x10\r\n\r\n", .ret = OB_EIO,
	  .message = "is not a number" },
	{ "length past 64 bits", HEAD_OK "Content-Length: 99999999999999999999999\r\n\r\n",
	  .ret = OB_ETOOBIG, .message = "Content-Length 99999999999999999999999 is too large" },
	{ "length one past 64 bits", HEAD_OK "Content-Length: 18446744073709551616\r\n\r\n",
	  .ret = OB_ETOOBIG, .message = "is too large" },
	{ "length past the body limit", HEAD_OK "Content-Length: 18446744073709551615\r\n\r\n",
	  .ret = OB_ETOOBIG, .message = "body is over the 1048576 bytes taken" },
	{ "length and chunked", HEAD_OK "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n0\r\n\r\n", .ret = OB_EIO,
	  .message = "both Content-Length and Transfer-Encoding: chunked" },
	{ "gzip transfer coding", HEAD_OK "Transfer-Encoding: gzip\r\n\r\n", .ret = OB_EIO,
	  .message = "Transfer-Encoding \"gzip\" is not taken (only chunked is)" },
	{ "gzip then chunked", HEAD_OK "Transfer-Encoding: gzip, chunked\r\n\r\n", .ret = OB_EIO,
	  .message = "is not taken" },
	{ "chunked twice", HEAD_OK "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
	  "\r\n\r\n0\r\n\r\n", .ret = OB_EIO, .message = "chunked twice" },
	{ "chunk size not hex", HEAD_OK "Transfer-Encoding: chunked\r\n\r\nzz\r\n", .ret = OB_EIO,
	  .message = "the answer's chunk size \"zz\" is not hex" },
	{ "chunk size empty", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n",
	  .ret = OB_EIO, .message = "chunk size \"\" is not hex" },
	{ "chunk size with junk", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n",
	  .ret = OB_EIO, .message = "chunk size \"5 x\" is not hex" },
	{ "chunk size with a sign", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n",
	  .ret = OB_EIO, .message = "is not hex" },
	{ "chunk size past 64 bits", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n"
	  "1ffffffffffffffffffff\r\n", .ret = OB_ETOOBIG, .message = "body is over the" },
	{ "chunk past the limit", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n"
	  "fffffffffffffff0\r\n", .ret = OB_ETOOBIG, .message = "body is over the" },
	{ "chunk not followed by CRLF", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhelloX\r\n0\r\n\r\n", .ret = OB_EIO,
	  .message = "chunk of 5 bytes is not followed by CRLF" },
	{ "chunk cut short", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n5\r\nhel", .ret = OB_EIO,
	  .message = "ended 3 bytes into a chunk of 5" },
	{ "ended after a chunk", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n5\r\nhello",
	  .ret = OB_EIO, .message = "ended inside its chunks" },
	{ "no chunks at all", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n", .ret = OB_EIO,
	  .message = "ended inside its chunk size lines" },
	{ "no end of the trailers", HEAD_OK "Transfer-Encoding: chunked\r\n\r\n0\r\n",
	  .ret = OB_EIO, .message = "ended inside its trailers" },
	{ "body cut short", HEAD_OK "Content-Length: 10\r\n\r\nhello", .ret = OB_EIO,
	  .message = "ended 5 bytes into its body of 10" },
	{ "headers cut short", HEAD_OK "Content-Le", .ret = OB_EIO,
	  .message = "ended inside its status line and headers" },
	{ "no empty line", HEAD_OK "Content-Length: 0\r\n", .ret = OB_EIO,
	  .message = "ended inside its status line and headers" },
	{ "101 not asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
	  .ret = OB_EIO, .message = "switched protocols (101)" },
	{ "only 100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", .ret = OB_EIO,
	  .message = "no answer came back" },
};

static void check_parse_case(const struct parse_case *c, size_t step)
{
	size_t len = c->answer_len ? c->answer_len : strlen(c->answer);
	struct ob_http_response resp;
	char err[256] = "";
	int ret = parse_mem(c->answer, len, c->head_request, c->max_body, step, &resp, err,
			    sizeof(err));

	if (ret != c->ret)
		fail_msg("%s (reads of %zu): got %d (%s), want %d", c->name, step, ret, err,
			 c->ret);
	if (ret == 0) {
		size_t body_len = c->body_len ? c->body_len : strlen(c->body);

		if (resp.status != c->status || !resp.body || resp.body_len != body_len ||
		    memcmp(resp.body, c->body, body_len) != 0 || resp.body[body_len] != '\0')
			fail_msg("%s (reads of %zu): status %d, %zu body bytes", c->name, step,
				 resp.status, resp.body_len);
	} else {
		if (!strstr(err, c->message))
			fail_msg("%s (reads of %zu): message \"%s\" lacks \"%s\"", c->name,
				 step, err, c->message);
		assert_null(resp.body);
		assert_int_equal(resp.body_len, 0);
	}
	ob_cloud_http_response_clear(&resp);
}

/* Each case read whole, a byte at a time, and in odd pieces. */
static void test_parse_table(void **state)
{
	static const size_t steps[] = { 0, 1, 7 };

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(parse_cases); i++)
		for (size_t s = 0; s < OB_ARRAY_SIZE(steps); s++)
			check_parse_case(&parse_cases[i], steps[s]);
}

static int parse_text(const char *text, size_t max_body, struct ob_http_response *resp,
		      char *err, size_t err_len)
{
	return parse_mem(text, strlen(text), false, max_body, 0, resp, err, err_len);
}

/* max_body bytes are taken and one more refused, in each framing. */
static void test_body_limit(void **state)
{
	static const struct {
		const char *at_limit;
		const char *over;
	} framings[] = {
		{ HEAD_OK "Content-Length: 10\r\n\r\n0123456789",
		  HEAD_OK "Content-Length: 11\r\n\r\n0123456789A" },
		{ HEAD_OK "Transfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n",
		  HEAD_OK "Transfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n7\r\n456789A\r\n"
			  "0\r\n\r\n" },
		{ HEAD_OK "\r\n0123456789", HEAD_OK "\r\n0123456789A" },
	};
	struct ob_http_response resp;
	char err[256];

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(framings); i++) {
		assert_int_equal(parse_text(framings[i].at_limit, 10, &resp, err, sizeof(err)), 0);
		assert_int_equal(resp.body_len, 10);
		assert_string_equal(resp.body, "0123456789");
		ob_cloud_http_response_clear(&resp);
		assert_null(resp.body);
		if (parse_text(framings[i].over, 10, &resp, err, sizeof(err)) != OB_ETOOBIG)
			fail_msg("framing %zu: one byte over the limit is taken", i);
		assert_non_null(strstr(err, "body is over the 10 bytes taken"));
		assert_null(resp.body);
	}
}

/* An answer with a head of exactly len bytes (status line, headers, empty line). */
static char *answer_with_head_of(size_t len)
{
	static const char start[] = HEAD_OK "Content-Length: 2\r\nX-Pad: ";
	static const char end[] = "\r\n\r\nok";
	size_t pad = len - (sizeof(start) - 1) - 4;
	char *text = malloc(len + 3);

	assert_non_null(text);
	memcpy(text, start, sizeof(start) - 1);
	memset(text + sizeof(start) - 1, 'a', pad);
	memcpy(text + sizeof(start) - 1 + pad, end, sizeof(end));
	assert_int_equal(strlen(text), len + 2);
	return text;
}

static void test_header_limit(void **state)
{
	char *at_limit = answer_with_head_of(OB_HTTP_HEADERS_MAX);
	char *over = answer_with_head_of(OB_HTTP_HEADERS_MAX + 1);
	struct ob_http_response resp;
	char err[256];

	(void)state;
	assert_int_equal(parse_text(at_limit, 0, &resp, err, sizeof(err)), 0);
	assert_string_equal(resp.body, "ok");
	ob_cloud_http_response_clear(&resp);
	assert_int_equal(parse_text(over, 0, &resp, err, sizeof(err)), OB_ETOOBIG);
	assert_non_null(strstr(err, "status line and headers take more than 16384 bytes"));
	assert_null(resp.body);
	free(over);
	free(at_limit);
}

/* Bytes a chunked body may spend on anything but data are bounded too. */
static void test_chunk_framing_limits(void **state)
{
	struct ob_http_response resp;
	char err[256];
	char *text = malloc(64 * 1024);
	size_t used;

	(void)state;
	assert_non_null(text);
	/* One chunk-size line over 1024 bytes. */
	used = (size_t)sprintf(text, HEAD_OK "Transfer-Encoding: chunked\r\n\r\n1;");
	memset(text + used, 'x', 1100);
	strcpy(text + used + 1100, "\r\na\r\n0\r\n\r\n");
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), OB_ETOOBIG);
	assert_non_null(strstr(err, "chunk size lines take more than 1024 bytes"));

	/* Many chunks, each with 500 bytes of extensions: 16 KiB of them in all at most. */
	used = (size_t)sprintf(text, HEAD_OK "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 40; i++) {
		memcpy(text + used, "1;", 2);
		memset(text + used + 2, 'x', 498);
		memcpy(text + used + 500, "\r\na\r\n", 5);
		used += 505;
	}
	strcpy(text + used, "0\r\n\r\n");
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), OB_ETOOBIG);
	assert_non_null(strstr(err, "chunk extensions take more than 16384 bytes"));

	/* Trailers over the header limit. */
	used = (size_t)sprintf(text, HEAD_OK "Transfer-Encoding: chunked\r\n\r\n0\r\nX-T: ");
	memset(text + used, 'x', OB_HTTP_HEADERS_MAX);
	strcpy(text + used + OB_HTTP_HEADERS_MAX, "\r\n\r\n");
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), OB_ETOOBIG);
	assert_non_null(strstr(err, "trailers take more than 16384 bytes"));
	assert_null(resp.body);
	free(text);
}

/* Interim answers are skipped, but not without end. */
static void test_interim_answers(void **state)
{
	struct ob_http_response resp;
	char text[2048] = "";
	char err[256];

	(void)state;
	for (int i = 0; i < 16; i++)
		strcat(text, "HTTP/1.1 100 Continue\r\n\r\n");
	strcat(text, HEAD_OK "Content-Length: 2\r\n\r\nok");
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), 0);
	assert_string_equal(resp.body, "ok");
	ob_cloud_http_response_clear(&resp);
	text[0] = '\0';
	for (int i = 0; i < 17; i++)
		strcat(text, "HTTP/1.1 100 Continue\r\n\r\n");
	strcat(text, HEAD_OK "Content-Length: 2\r\n\r\nok");
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), OB_EIO);
	assert_non_null(strstr(err, "more than 16 interim (1xx) answers"));
}

/* ETag and Content-Type are copied whole, and refused rather than cut. */
static void test_etag_and_content_type(void **state)
{
	struct ob_http_response resp;
	char text[1024];
	char etag[OB_HTTP_ETAG_MAX + 2];
	char type[OB_HTTP_CONTENT_TYPE_MAX + 2];
	char err[256];

	(void)state;
	assert_int_equal(parse_text(HEAD_OK "ETag: W/\"v42\"\r\nContent-Type: application/jose; "
				    "charset=utf-8\r\nContent-Length: 0\r\n\r\n", 0, &resp, err,
				    sizeof(err)), 0);
	assert_string_equal(resp.etag, "W/\"v42\"");
	assert_string_equal(resp.content_type, "application/jose; charset=utf-8");
	assert_int_equal(resp.retry_after_s, -1);
	ob_cloud_http_response_clear(&resp);

	/* The last byte that fits, then one more. */
	memset(etag, 'e', OB_HTTP_ETAG_MAX);
	etag[OB_HTTP_ETAG_MAX] = '\0';
	memset(type, 't', OB_HTTP_CONTENT_TYPE_MAX);
	type[OB_HTTP_CONTENT_TYPE_MAX] = '\0';
	snprintf(text, sizeof(text), HEAD_OK "ETag: %s\r\nContent-Type: %s\r\n\r\n", etag, type);
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), 0);
	assert_string_equal(resp.etag, etag);
	assert_string_equal(resp.content_type, type);
	ob_cloud_http_response_clear(&resp);
	strcat(etag, "e");
	snprintf(text, sizeof(text), HEAD_OK "ETag: %s\r\n\r\n", etag);
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), OB_ETOOBIG);
	assert_non_null(strstr(err, "ETag is 256 bytes, over the 255 this client keeps"));
	strcat(type, "t");
	snprintf(text, sizeof(text), HEAD_OK "Content-Type: %s\r\n\r\n", type);
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), OB_ETOOBIG);
	assert_non_null(strstr(err, "Content-Type is 128 bytes, over the 127"));
	assert_string_equal(resp.etag, "");

	/* A 100 Continue's headers are not the answer's. */
	assert_int_equal(parse_text("HTTP/1.1 100 Continue\r\nETag: \"early\"\r\n\r\n" HEAD_OK
				    "Content-Length: 0\r\n\r\n", 0, &resp, err, sizeof(err)), 0);
	assert_string_equal(resp.etag, "");
	ob_cloud_http_response_clear(&resp);
}

static int retry_after_of(const char *value)
{
	struct ob_http_response resp;
	char text[512];
	char err[256];
	int seconds;

	snprintf(text, sizeof(text), "HTTP/1.1 503 Busy\r\nRetry-After: %s\r\n\r\n", value);
	assert_int_equal(parse_text(text, 0, &resp, err, sizeof(err)), 0);
	seconds = resp.retry_after_s;
	ob_cloud_http_response_clear(&resp);
	return seconds;
}

static void http_date(time_t when, char *out, size_t out_len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&when, &tm);
	snprintf(out, out_len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
}

static void test_retry_after(void **state)
{
	char date[64];
	int seconds;

	(void)state;
	assert_int_equal(retry_after_of("120"), 120);
	assert_int_equal(retry_after_of("0"), 0);
	assert_int_equal(retry_after_of("99999999999999999999"), INT_MAX);
	http_date(time(NULL) + 3600, date, sizeof(date));
	seconds = retry_after_of(date);
	if (seconds < 3590 || seconds > 3600)
		fail_msg("Retry-After: %s gave %d s, not about 3600", date, seconds);
	/* A date in the past is now, never a negative wait. */
	assert_int_equal(retry_after_of("Sun, 06 Nov 1994 08:49:37 GMT"), 0);
	/* Unreadable: -1, as when absent. */
	assert_int_equal(retry_after_of("soon"), -1);
	assert_int_equal(retry_after_of("-5"), -1);
	assert_int_equal(retry_after_of("12 s"), -1);
	assert_int_equal(retry_after_of(""), -1);
	assert_int_equal(retry_after_of("Sunday, 06-Nov-94 08:49:37 GMT"), -1); /* RFC 850 */
	assert_int_equal(retry_after_of("Sun Nov  6 08:49:37 1994"), -1);        /* asctime */
	assert_int_equal(retry_after_of("Mon, 30 Feb 2031 00:00:00 GMT"), -1);
	assert_int_equal(retry_after_of("Tue, 29 Feb 2033 00:00:00 GMT"), -1);
	assert_int_equal(retry_after_of("Mon, 06 Nov 2094 24:00:00 GMT"), -1);
	assert_int_equal(retry_after_of("Mon, 06 Nov 2094 08:49:37 UTC"), -1);
	assert_int_equal(retry_after_of("Xyz, 06 Nov 2094 08:49:37 GMT"), -1);
	assert_int_equal(retry_after_of("Mon, 06 Foo 2094 08:49:37 GMT"), -1);
	assert_true(retry_after_of("Mon, 29 Feb 2096 00:00:00 GMT") > 0);
}

static void test_reader_failure(void **state)
{
	struct ob_http_response resp;
	char err[256];

	(void)state;
	assert_int_equal(ob_cloud_http_parse_response(failing_read, NULL, false, 0, &resp, err,
						      sizeof(err)), OB_EIO);
	assert_non_null(strstr(err, "reading the answer failed"));
	assert_null(resp.body);
	ob_cloud_http_response_clear(&resp);
	ob_cloud_http_response_clear(NULL);
}

/* ---- URLs ---- */

static const struct url_case {
	const char *url;
	int ret;
	bool tls;
	const char *host;
	unsigned port;
	const char *path;
	const char *message;
} url_cases[] = {
	{ "http://example.net", 0, false, "example.net", 80, "/", NULL },
	{ "https://cp.example.net/v1/bundle?since=4", 0, true, "cp.example.net", 443,
	  "/v1/bundle?since=4", NULL },
	{ "https://cp.example.net:8443/a/b", 0, true, "cp.example.net", 8443, "/a/b", NULL },
	{ "HTTPS://CP.Example.NET/", 0, true, "CP.Example.NET", 443, "/", NULL },
	{ "http://127.0.0.1:65535", 0, false, "127.0.0.1", 65535, "/", NULL },
	{ "http://127.0.0.1:1/", 0, false, "127.0.0.1", 1, "/", NULL },
	{ "http://[::1]:8080/x", 0, false, "::1", 8080, "/x", NULL },
	{ "https://[2001:db8::1]/", 0, true, "2001:db8::1", 443, "/", NULL },
	{ "https://[2001:db8::1]", 0, true, "2001:db8::1", 443, "/", NULL },
	{ "http://host?q=1", 0, false, "host", 80, "/?q=1", NULL },
	{ "http://host:81?q=1", 0, false, "host", 81, "/?q=1", NULL },
	{ "http://my_host.local./a%20b", 0, false, "my_host.local.", 80, "/a%20b", NULL },
	{ "ftp://example.net/", OB_EINVAL, .message = "only http:// and https:// are taken" },
	{ "example.net/path", OB_EINVAL, .message = "only http://" },
	{ "http:/example.net/", OB_EINVAL, .message = "only http://" },
	{ "", OB_EINVAL, .message = "only http://" },
	{ "http://user:pw@example.net/", OB_EINVAL, .message = "user:password@ is not taken" },
	{ "http://user@example.net/", OB_EINVAL, .message = "user:password@" },
	{ "http://example.net:0/", OB_EINVAL, .message = "port 0 is out of range (1-65535)" },
	{ "http://example.net:65536/", OB_EINVAL, .message = "port 65536 is out of range" },
	{ "http://example.net:99999999999999999999/", OB_EINVAL, .message = "out of range" },
	{ "http://example.net:/", OB_EINVAL, .message = "the port after ':' is empty" },
	{ "http://example.net:8o/", OB_EINVAL, .message = "the port \"8o\" is not a number" },
	{ "http://example.net:-1/", OB_EINVAL, .message = "is not a number" },
	{ "http://example.net:80:81/", OB_EINVAL, .message = "is not a number" },
	{ "http:///path", OB_EINVAL, .message = "there is no host" },
	{ "http://:80/", OB_EINVAL, .message = "there is no host" },
	{ "http://::1/", OB_EINVAL, .message = "there is no host" },
	{ "http://[]/", OB_EINVAL, .message = "there is no host" },
	{ "http://[::1/", OB_EINVAL, .message = "no closing ']'" },
	{ "http://[zz::1]/", OB_EINVAL, .message = "\"[zz::1]\" is not an IPv6 address" },
	{ "http://[127.0.0.1]/", OB_EINVAL, .message = "is not an IPv6 address" },
	{ "http://[fe80::1%25eth0]/", OB_EINVAL, .message = "is not an IPv6 address" },
	{ "http://[::1]x/", OB_EINVAL, .message = "only a port may follow the IPv6 address" },
	{ "http://[::1]:0/", OB_EINVAL, .message = "out of range" },
	{ "http://ex!ample.net/", OB_EINVAL, .message = "holds '!'" },
	{ "http://exa mple.net/", OB_EINVAL, .message = "a space, a control character" },
	{ "http://example.net/a b", OB_EINVAL, .message = "byte 20 is a space" },
	{ "http://example.net/a\r\nX-Evil: 1", OB_EINVAL, .message = "control character" },
	{ "http://example.net/\x7f", OB_EINVAL, .message = "control character" },
	{ "http://ex\xc3\xa9mple.net/", OB_EINVAL, .message = "not ASCII" },
	{ "http://example.net/#top", OB_EINVAL, .message = "a fragment (#...) is never sent" },
	{ "http://example.net#top", OB_EINVAL, .message = "fragment" },
};

static void test_url_parse(void **state)
{
	struct ob_http_url url;
	char err[256];

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(url_cases); i++) {
		const struct url_case *c = &url_cases[i];
		int ret;

		err[0] = '\0';
		ret = ob_cloud_http_url_parse(c->url, &url, err, sizeof(err));
		if (ret != c->ret)
			fail_msg("\"%s\": got %d (%s), want %d", c->url, ret, err, c->ret);
		if (ret == 0 && (url.tls != c->tls || strcmp(url.host, c->host) != 0 ||
				 url.port != c->port || strcmp(url.path, c->path) != 0))
			fail_msg("\"%s\": got tls %d host \"%s\" port %u path \"%s\"", c->url,
				 url.tls, url.host, url.port, url.path);
		if (ret != 0 && !strstr(err, c->message))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", c->url, err, c->message);
		if (ret != 0)
			assert_string_equal(url.host, "");
	}
}

static void test_url_limits(void **state)
{
	char url[OB_HTTP_URL_MAX + 64];
	struct ob_http_url parsed;
	char err[256];
	size_t prefix;

	(void)state;
	assert_int_equal(ob_cloud_http_url_parse(NULL, &parsed, err, sizeof(err)), OB_EINVAL);
	/* The path: OB_HTTP_PATH_MAX characters, then one more. */
	prefix = (size_t)sprintf(url, "http://h/");
	memset(url + prefix, 'p', OB_HTTP_PATH_MAX - 1);
	url[prefix + OB_HTTP_PATH_MAX - 1] = '\0';
	assert_int_equal(ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)), 0);
	assert_int_equal(strlen(parsed.path), OB_HTTP_PATH_MAX);
	strcat(url, "p");
	assert_int_equal(ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "the path is longer than 2048"));
	/* A path-less query gains its '/': "?q" of OB_HTTP_PATH_MAX - 1 characters fits. */
	prefix = (size_t)sprintf(url, "http://h?");
	memset(url + prefix, 'q', OB_HTTP_PATH_MAX - 2);
	url[prefix + OB_HTTP_PATH_MAX - 2] = '\0';
	assert_int_equal(ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)), 0);
	assert_int_equal(strlen(parsed.path), OB_HTTP_PATH_MAX);
	strcat(url, "q");
	assert_int_equal(ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)), OB_EINVAL);
	/* The host: 253 characters, then 254. */
	prefix = (size_t)sprintf(url, "https://");
	memset(url + prefix, 'h', OB_HTTP_HOST_MAX);
	strcpy(url + prefix + OB_HTTP_HOST_MAX, ":1/");
	assert_int_equal(ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)), 0);
	assert_int_equal(strlen(parsed.host), OB_HTTP_HOST_MAX);
	memset(url + prefix, 'h', OB_HTTP_HOST_MAX + 1);
	strcpy(url + prefix + OB_HTTP_HOST_MAX + 1, ":1/");
	assert_int_equal(ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "the host is longer than 253"));
	/* The whole URL. */
	memset(url, 'a', sizeof(url) - 1);
	memcpy(url, "http://h/", 9);
	url[OB_HTTP_URL_MAX + 1] = '\0';
	assert_int_equal(ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "longer than 2300"));
}

/* ---- request checks, refused before any connection ---- */

static const struct request_case {
	const char *method;
	const char *headers;
	const char *message;
} request_cases[] = {
	{ "GET", "X-A: 1", "header line 1 does not end in \\r\\n" },
	{ "GET", "X-A: 1\r\nX-B: 2", "header line 2 does not end" },
	{ "GET", "X-A: 1\nX-B: 2\r\n", "header line 1 holds a bare CR or LF" },
	{ "GET", "X-A: 1\r\rX-B: 2\r\n", "bare CR or LF" },
	{ "GET", "X-A: 1\rX-B: 2\r\n", "bare CR or LF" },
	{ "GET", "X-A: 1\r\n\nX-B: 2\r\n", "bare CR or LF" },
	{ "GET", "X-A: 1\r\n\r\nGET /evil HTTP/1.1\r\n", "header line 2 is empty" },
	{ "GET", "\r\n", "is empty" },
	{ "GET", "X-A: 1\r\nEvil\r\n", "header line 2 \"Evil\" is not \"Name: value\"" },
	{ "GET", ": 1\r\n", "is not \"Name: value\"" },
	{ "GET", "X A: 1\r\n", "is not \"Name: value\"" },
	{ "GET", "X-A: a\x01" "b\r\n", "the value of X-A holds a control character" },
	{ "GET", "X-A: a\x7f\r\n", "control character" },
	{ "GET", "Host: evil.example\r\n", "the client writes Host itself" },
	{ "POST", "content-length: 5\r\n", "the client writes content-length itself" },
	{ "POST", "Transfer-Encoding: chunked\r\n", "writes Transfer-Encoding" },
	{ "GET", "Connection: keep-alive\r\n", "writes Connection" },
	{ "GET", "User-Agent: other\r\n", "writes User-Agent" },
	{ "get", NULL, "the method \"get\" is not an upper-case token" },
	{ "GE T", NULL, "is not an upper-case token" },
	{ "GET\r\nX: 1", NULL, "is not an upper-case token" },
	{ "", NULL, "the method is missing" },
	{ NULL, NULL, "the method is missing" },
	{ "ABCDEFGHIJKLMNOPQ", NULL, "longer than 16 letters" },
};

static void test_request_checks(void **state)
{
	struct ob_http_response resp;
	char err[256];

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(request_cases); i++) {
		const struct request_case *c = &request_cases[i];
		struct ob_http_request req = { .method = c->method, .url = "http://127.0.0.1:9/",
					       .headers = c->headers };
		int ret = ob_cloud_http_request(&req, &resp, err, sizeof(err));

		if (ret != OB_EINVAL || !strstr(err, c->message))
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, ret, err, c->message);
		assert_null(resp.body);
	}
	{
		struct ob_http_request req = { .method = "POST", .url = "http://127.0.0.1:9/",
					       .body_len = 5 };

		assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EINVAL);
		assert_non_null(strstr(err, "5 body bytes but no body"));
		req.body_len = 0;
		req.timeout_ms = -1;
		assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EINVAL);
		assert_non_null(strstr(err, "negative"));
		req.timeout_ms = 0;
		req.url = "gopher://127.0.0.1/";
		assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EINVAL);
		assert_non_null(strstr(err, "only http://"));
	}
	assert_int_equal(ob_cloud_http_request(NULL, &resp, err, sizeof(err)), OB_EINVAL);
}

/* ---- loopback servers ---- */

enum serve_mode {
	SERVE_ANSWER,   /* read the request, write the answer, close */
	SERVE_SILENT,   /* read and never answer, until the client goes */
	SERVE_TRICKLE,  /* read the request, then the answer a byte every 100 ms */
	SERVE_HANG_UP,  /* close as soon as the connection is accepted */
	SERVE_BLURT,    /* write the answer unasked (plain), then wait for the client to go */
};

struct server {
	enum serve_mode mode;
	const char *answer;
	int listen_fd;
	unsigned port;
	pthread_t thread;
	mbedtls_ssl_config *tls;   /* NULL for plain HTTP */
	char request[16384];       /* what came, NUL-terminated */
	size_t request_len;
	bool handshake_done;
};

static int server_send(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);

	return n >= 0 ? (int)n : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

static int server_recv(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t n = recv(*(int *)ctx, buf, len, 0);

	return n >= 0 ? (int)n : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

struct server_conn {
	int fd;
	mbedtls_ssl_context ssl;
	bool tls;
};

static ssize_t conn_recv(struct server_conn *conn, void *buf, size_t len)
{
	int rc;

	if (!conn->tls)
		return recv(conn->fd, buf, len, 0);
	do {
		rc = mbedtls_ssl_read(&conn->ssl, buf, len);
	} while (rc == MBEDTLS_ERR_SSL_WANT_READ);
	return rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? 0 : rc;
}

static bool conn_send(struct server_conn *conn, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = conn->tls ? mbedtls_ssl_write(&conn->ssl, p, len)
				      : send(conn->fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads the request's head and the body its Content-Length announces. */
static void read_request(struct server *s, struct server_conn *conn)
{
	char *end = NULL;
	size_t want = 0;

	while (s->request_len < sizeof(s->request) - 1) {
		ssize_t n = conn_recv(conn, s->request + s->request_len,
				      sizeof(s->request) - 1 - s->request_len);

		if (n <= 0)
			break;
		s->request_len += (size_t)n;
		s->request[s->request_len] = '\0';
		if (!end && (end = strstr(s->request, "\r\n\r\n"))) {
			const char *length = strstr(s->request, "Content-Length: ");

			want = (size_t)(end + 4 - s->request);
			if (length && length < end)
				want += strtoul(length + 16, NULL, 10);
		}
		if (end && s->request_len >= want)
			break;
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct server_conn conn = { .fd = -1, .tls = s->tls != NULL };
	struct pollfd pfd = { .fd = s->listen_fd, .events = POLLIN };
	struct timeval five_s = { .tv_sec = 5 };
	char scratch[4096];
	ssize_t got;

	mbedtls_ssl_init(&conn.ssl);
	if (poll(&pfd, 1, 5000) != 1)
		goto out;
	conn.fd = accept(s->listen_fd, NULL, NULL);
	if (conn.fd < 0)
		goto out;
	if (s->mode == SERVE_HANG_UP)
		goto out;
	setsockopt(conn.fd, SOL_SOCKET, SO_RCVTIMEO, &five_s, sizeof(five_s));
	setsockopt(conn.fd, SOL_SOCKET, SO_SNDTIMEO, &five_s, sizeof(five_s));
	if (s->mode == SERVE_BLURT) {
		conn_send(&conn, s->answer, strlen(s->answer));
		shutdown(conn.fd, SHUT_WR);
		goto silent;
	}
	if (conn.tls) {
		int rc;

		if (s->mode == SERVE_SILENT)
			goto silent;
		if (mbedtls_ssl_setup(&conn.ssl, s->tls) != 0)
			goto out;
		mbedtls_ssl_set_bio(&conn.ssl, &conn.fd, server_send, server_recv, NULL);
		do {
			rc = mbedtls_ssl_handshake(&conn.ssl);
		} while (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE);
		if (rc != 0)
			goto out;
		s->handshake_done = true;
	}
	if (s->mode == SERVE_SILENT)
		goto silent;
	read_request(s, &conn);
	if (s->mode == SERVE_TRICKLE) {
		for (const char *c = s->answer; *c; c++) {
			if (!conn_send(&conn, c, 1))
				break;
			usleep(100 * 1000);
		}
	} else {
		conn_send(&conn, s->answer, strlen(s->answer));
		if (conn.tls)
			mbedtls_ssl_close_notify(&conn.ssl);
	}
	goto out;
silent:
	do {
		got = recv(conn.fd, scratch, sizeof(scratch), 0);
	} while (got > 0);
out:
	mbedtls_ssl_free(&conn.ssl);
	if (conn.fd >= 0)
		close(conn.fd);
	return NULL;
}

/* Listens on an ephemeral loopback port (IPv4, or ::1) and serves one connection in a
 * thread. False when the address family is not there (no IPv6 on this machine). */
static bool server_start(struct server *s, enum serve_mode mode, const char *answer,
			 mbedtls_ssl_config *tls, bool ipv6)
{
	struct sockaddr_storage addr = { 0 };
	socklen_t len = ipv6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->answer = answer;
	s->tls = tls;
	if (ipv6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&addr;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	s->listen_fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 && ipv6)
		return false;
	assert_true(s->listen_fd >= 0);
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->listen_fd, (struct sockaddr *)&addr, len) != 0) {
		assert_true(ipv6);
		close(s->listen_fd);
		return false;
	}
	assert_int_equal(listen(s->listen_fd, 4), 0);
	assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&addr, &len), 0);
	s->port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
			     : ((struct sockaddr_in *)&addr)->sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	return true;
}

static void server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
}

/* A loopback port nothing listens on. */
static unsigned closed_port(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	close(fd);
	return ntohs(addr.sin_port);
}

#define ANSWER_OK "HTTP/1.1 200 OK\r\nETag: \"v2\"\r\nContent-Type: application/jose\r\n" \
	"Content-Length: 5\r\n\r\nhello"

static void test_plain_get(void **state)
{
	struct server s;
	struct ob_http_response resp;
	char url[128];
	char want[512];
	char err[256];
	struct ob_http_request req = { .method = "GET", .url = url,
				       .headers = "If-None-Match: \"v1\"\r\nX-Device: ob-1\r\n" };

	(void)state;
	server_start(&s, SERVE_ANSWER, ANSWER_OK, NULL, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/bundle?since=3", s.port);
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), 0);
	server_stop(&s);
	snprintf(want, sizeof(want), "GET /v1/bundle?since=3 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
		 "User-Agent: ottbox/" OB_VERSION "\r\nConnection: close\r\n"
		 "If-None-Match: \"v1\"\r\nX-Device: ob-1\r\n\r\n", s.port);
	assert_string_equal(s.request, want);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.etag, "\"v2\"");
	assert_string_equal(resp.content_type, "application/jose");
	assert_int_equal(resp.body_len, 5);
	assert_string_equal(resp.body, "hello");
	ob_cloud_http_response_clear(&resp);
}

static void test_plain_post_and_put(void **state)
{
	static const char event[] = "{\"type\":\"channel.up\"}";
	struct server s;
	struct ob_http_response resp;
	char url[128];
	char want[512];
	char err[256];
	struct ob_http_request req = { .method = "POST", .url = url,
				       .headers = "Content-Type: application/json\r\n",
				       .body = event, .body_len = strlen(event) };

	(void)state;
	server_start(&s, SERVE_ANSWER, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
		     NULL, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/events", s.port);
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), 0);
	server_stop(&s);
	snprintf(want, sizeof(want), "POST /events HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
		 "User-Agent: ottbox/" OB_VERSION "\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\nContent-Type: application/json\r\n\r\n%s", s.port,
		 strlen(event), event);
	assert_string_equal(s.request, want);
	assert_int_equal(resp.status, 202);
	assert_int_equal(resp.body_len, 0);
	assert_string_equal(resp.body, "");
	ob_cloud_http_response_clear(&resp);

	/* A PUT with no body still says Content-Length: 0. */
	req.method = "PUT";
	req.headers = NULL;
	req.body = NULL;
	req.body_len = 0;
	server_start(&s, SERVE_ANSWER, "HTTP/1.1 204 No Content\r\n\r\n", NULL, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/state", s.port);
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), 0);
	server_stop(&s);
	assert_non_null(strstr(s.request, "\r\nContent-Length: 0\r\n"));
	assert_int_equal(resp.status, 204);
	ob_cloud_http_response_clear(&resp);
}

static void test_plain_ipv6(void **state)
{
	struct server s;
	struct ob_http_response resp;
	char url[128];
	char want[64];
	char err[256];
	struct ob_http_request req = { .method = "GET", .url = url };

	(void)state;
	if (!server_start(&s, SERVE_ANSWER, ANSWER_OK, NULL, true))
		skip();
	snprintf(url, sizeof(url), "http://[::1]:%u/", s.port);
	if (ob_cloud_http_request(&req, &resp, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	server_stop(&s);
	snprintf(want, sizeof(want), "\r\nHost: [::1]:%u\r\n", s.port);
	assert_non_null(strstr(s.request, want));
	assert_string_equal(resp.body, "hello");
	ob_cloud_http_response_clear(&resp);
}

static void test_connection_refused(void **state)
{
	struct ob_http_response resp;
	char url[128];
	char want[64];
	char err[256];
	unsigned port = closed_port();
	struct ob_http_request req = { .method = "GET", .url = url };

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EIO);
	snprintf(want, sizeof(want), "127.0.0.1:%u: connection refused", port);
	assert_string_equal(err, want);
	assert_null(resp.body);

	req.url = "http://name.invalid/";
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EIO);
	assert_non_null(strstr(err, "name.invalid:80: cannot resolve the name"));
}

/* A server that never answers: the read times out, well before the total deadline. */
static void test_timeout_waiting(void **state)
{
	struct server s;
	struct ob_http_response resp;
	char url[128];
	char want[128];
	char err[256];
	struct ob_http_request req = { .method = "GET", .url = url, .timeout_ms = 300 };
	int64_t started;
	int64_t took;

	(void)state;
	server_start(&s, SERVE_SILENT, NULL, NULL, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	started = ob_time_mono_ms();
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EIO);
	took = ob_time_mono_ms() - started;
	server_stop(&s);
	snprintf(want, sizeof(want), "127.0.0.1:%u: timed out after 300 ms waiting for the answer",
		 s.port);
	assert_string_equal(err, want);
	if (took < 280 || took > 2000)
		fail_msg("the timeout of 300 ms took %lld ms", (long long)took);
	assert_null(resp.body);
}

/* A server that answers a byte every 100 ms never trips the 300 ms read timeout, so the
 * total deadline has to stop it. */
static void test_timeout_in_all(void **state)
{
	static const char slow[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
		"0123456789012345678901234567890123456789012345678901234567890123456789";
	struct server s;
	struct ob_http_response resp;
	char url[128];
	char err[256];
	struct ob_http_request req = { .method = "GET", .url = url, .timeout_ms = 300,
				       .total_timeout_ms = 800 };
	int64_t started;
	int64_t took;

	(void)state;
	server_start(&s, SERVE_TRICKLE, slow, NULL, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	started = ob_time_mono_ms();
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EIO);
	took = ob_time_mono_ms() - started;
	server_stop(&s);
	assert_non_null(strstr(err, "timed out after 800 ms in all, reading the answer"));
	if (took < 780 || took > 3000)
		fail_msg("the deadline of 800 ms took %lld ms", (long long)took);
}

/* The peer hangs up while a large body is on its way: an error, not SIGPIPE. */
static void test_peer_hangs_up(void **state)
{
	size_t len = 32u << 20;
	char *body = calloc(1, len);
	struct server s;
	struct ob_http_response resp;
	char url[128];
	char err[256];
	char where[64];
	struct ob_http_request req = { .method = "POST", .url = url, .body = body,
				       .body_len = len, .timeout_ms = 3000 };

	(void)state;
	assert_non_null(body);
	server_start(&s, SERVE_HANG_UP, NULL, NULL, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	snprintf(where, sizeof(where), "127.0.0.1:%u: ", s.port);
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EIO);
	server_stop(&s);
	assert_non_null(strstr(err, where));
	assert_null(resp.body);
	free(body);
}

/* ---- TLS ---- */

struct tls_keys {
	mbedtls_pk_context ca_key;
	mbedtls_pk_context other_ca_key;
	mbedtls_pk_context leaf_key;
	char *ca_pem;
	char *other_ca_pem;
};

static struct tls_keys keys;

static void make_key(mbedtls_pk_context *key)
{
	mbedtls_pk_init(key);
	assert_int_equal(mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
					     ob_random_mbedtls, NULL), 0);
}

struct cert_spec {
	const char *subject;
	mbedtls_pk_context *key;
	const char *issuer;
	mbedtls_pk_context *issuer_key;
	bool ca;
	const char *dns;               /* a dNSName, or NULL */
	const unsigned char *ipv4;     /* an iPAddress, or NULL */
	const char *not_before;
	const char *not_after;
};

/* A certificate in PEM, in a new buffer. */
static char *make_cert(const struct cert_spec *spec)
{
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	unsigned char san[128];
	size_t san_len = 2;
	static int next_serial = 1;
	unsigned char *pem = malloc(4096);

	assert_non_null(pem);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	assert_int_equal(mbedtls_mpi_lset(&serial, next_serial++), 0);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, spec->key);
	mbedtls_x509write_crt_set_issuer_key(&crt, spec->issuer_key);
	assert_int_equal(mbedtls_x509write_crt_set_serial(&crt, &serial), 0);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&crt, spec->subject), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&crt, spec->issuer), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&crt, spec->not_before,
							    spec->not_after), 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&crt, spec->ca, -1), 0);
	assert_int_equal(mbedtls_x509write_crt_set_key_usage(
				 &crt, spec->ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN
						: MBEDTLS_X509_KU_DIGITAL_SIGNATURE), 0);
	if (spec->dns) {
		size_t len = strlen(spec->dns);

		san[san_len++] = 0x82;
		san[san_len++] = (unsigned char)len;
		memcpy(san + san_len, spec->dns, len);
		san_len += len;
	}
	if (spec->ipv4) {
		san[san_len++] = 0x87;
		san[san_len++] = 4;
		memcpy(san + san_len, spec->ipv4, 4);
		san_len += 4;
	}
	if (san_len > 2) {
		san[0] = 0x30;
		san[1] = (unsigned char)(san_len - 2);
		assert_int_equal(mbedtls_x509write_crt_set_extension(
					 &crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
					 MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san,
					 san_len), 0);
	}
	assert_int_equal(mbedtls_x509write_crt_pem(&crt, pem, 4096, ob_random_mbedtls, NULL), 0);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	return (char *)pem;
}

static const unsigned char loopback4[4] = { 127, 0, 0, 1 };

static int tls_setup(void **state)
{
	struct cert_spec ca = { .subject = "CN=ottbox test CA", .issuer = "CN=ottbox test CA",
				.ca = true, .not_before = "20200101000000",
				.not_after = "20491231235959" };

	(void)state;
	make_key(&keys.ca_key);
	make_key(&keys.other_ca_key);
	make_key(&keys.leaf_key);
	ca.key = ca.issuer_key = &keys.ca_key;
	keys.ca_pem = make_cert(&ca);
	ca.subject = ca.issuer = "CN=another CA";
	ca.key = ca.issuer_key = &keys.other_ca_key;
	keys.other_ca_pem = make_cert(&ca);
	return 0;
}

static int tls_teardown(void **state)
{
	(void)state;
	free(keys.ca_pem);
	free(keys.other_ca_pem);
	mbedtls_pk_free(&keys.leaf_key);
	mbedtls_pk_free(&keys.other_ca_key);
	mbedtls_pk_free(&keys.ca_key);
	return 0;
}

/* A TLS server's settings for a leaf certificate our CA signs. */
struct tls_server {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt cert;
};

static void tls_server_init(struct tls_server *t, const char *dns, const unsigned char *ipv4,
			    bool expired)
{
	struct cert_spec leaf = { .subject = "CN=ottbox test server", .key = &keys.leaf_key,
				  .issuer = "CN=ottbox test CA", .issuer_key = &keys.ca_key,
				  .dns = dns, .ipv4 = ipv4,
				  .not_before = expired ? "20200101000000" : "20210101000000",
				  .not_after = expired ? "20210101000000" : "20491231235959" };
	char *pem = make_cert(&leaf);

	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->cert);
	assert_int_equal(mbedtls_x509_crt_parse(&t->cert, (unsigned char *)pem, strlen(pem) + 1),
			 0);
	free(pem);
	assert_int_equal(mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
						     MBEDTLS_SSL_TRANSPORT_STREAM,
						     MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_rng(&t->conf, ob_random_mbedtls, NULL);
	assert_int_equal(mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &keys.leaf_key), 0);
}

static void tls_server_free(struct tls_server *t)
{
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->cert);
}

/* One https request to a server with the given certificate. */
static int tls_request(const char *host, const char *dns, const unsigned char *ipv4,
		       bool expired, const char *ca_pem, struct server *s,
		       struct ob_http_response *resp, char *err, size_t err_len)
{
	struct tls_server t;
	char url[128];
	struct ob_http_request req = { .method = "GET", .url = url, .ca_pem = ca_pem,
				       .timeout_ms = 5000 };
	int ret;

	tls_server_init(&t, dns, ipv4, expired);
	server_start(s, SERVE_ANSWER, ANSWER_OK, &t.conf, false);
	snprintf(url, sizeof(url), "https://%s:%u/v1/bundle", host, s->port);
	ret = ob_cloud_http_request(&req, resp, err, err_len);
	server_stop(s);
	tls_server_free(&t);
	return ret;
}

static void test_tls_right_ca(void **state)
{
	struct ob_http_response resp;
	struct server s;
	char err[256];

	(void)state;
	/* An IP address, matched against the certificate's iPAddress. */
	if (tls_request("127.0.0.1", "other.example", loopback4, false, keys.ca_pem, &s, &resp,
			err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_true(s.handshake_done);
	assert_non_null(strstr(s.request, "GET /v1/bundle HTTP/1.1\r\nHost: 127.0.0.1:"));
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "hello");
	assert_string_equal(resp.etag, "\"v2\"");
	ob_cloud_http_response_clear(&resp);

	/* A name, matched by mbedTLS against the dNSName. */
	if (tls_request("localhost", "localhost", NULL, false, keys.ca_pem, &s, &resp, err,
			sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(resp.body, "hello");
	ob_cloud_http_response_clear(&resp);
}

static void test_tls_wrong_ca(void **state)
{
	struct ob_http_response resp;
	struct server s;
	char want[128];
	char err[256];

	(void)state;
	assert_int_equal(tls_request("127.0.0.1", NULL, loopback4, false, keys.other_ca_pem, &s,
				     &resp, err, sizeof(err)), OB_EIO);
	snprintf(want, sizeof(want), "127.0.0.1:%u: the certificate is not trusted (", s.port);
	if (strncmp(err, want, strlen(want)) != 0 ||
	    !strstr(err, "not correctly signed by the trusted CA"))
		fail_msg("%s", err);
	assert_false(s.handshake_done);
	assert_int_equal(s.request_len, 0);
	assert_null(resp.body);

	/* The system's CAs do not know the test CA either. */
	assert_int_equal(tls_request("127.0.0.1", NULL, loopback4, false, NULL, &s, &resp, err,
				     sizeof(err)), OB_EIO);
	if (access(OB_HTTP_SYSTEM_CA_FILE, R_OK) == 0)
		assert_non_null(strstr(err, "the certificate is not trusted"));
	else
		assert_non_null(strstr(err, "cannot load the system's CA certificates"));

	/* A CA that does not parse is the caller's mistake. */
	assert_int_equal(ob_cloud_http_request(&(struct ob_http_request){
						       .method = "GET",
						       .url = "https://127.0.0.1:9/",
						       .ca_pem = "not a certificate" },
					       &resp, err, sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "127.0.0.1:9: the CA PEM given does not parse"));
}

static void test_tls_wrong_name(void **state)
{
	struct ob_http_response resp;
	struct server s;
	char err[256];

	(void)state;
	/* An address the certificate does not carry (its dNSName is no match for one). */
	assert_int_equal(tls_request("127.0.0.1", "127.0.0.1", NULL, false, keys.ca_pem, &s,
				     &resp, err, sizeof(err)), OB_EIO);
	if (!strstr(err, "the certificate is not trusted (") || !strstr(err, "CN"))
		fail_msg("%s", err);
	assert_int_equal(s.request_len, 0);
	/* A name the certificate does not carry. */
	assert_int_equal(tls_request("localhost", "other.example", loopback4, false, keys.ca_pem,
				     &s, &resp, err, sizeof(err)), OB_EIO);
	if (!strstr(err, "localhost:") || !strstr(err, "does not match with the expected CN"))
		fail_msg("%s", err);
	assert_int_equal(s.request_len, 0);
	assert_null(resp.body);
}

static void test_tls_expired(void **state)
{
	struct ob_http_response resp;
	struct server s;
	char err[256];

	(void)state;
	assert_int_equal(tls_request("127.0.0.1", NULL, loopback4, true, keys.ca_pem, &s, &resp,
				     err, sizeof(err)), OB_EIO);
	if (!strstr(err, "the certificate is not trusted (") || !strstr(err, "expired"))
		fail_msg("%s", err);
}

static void test_tls_timeout_and_plain_peer(void **state)
{
	struct ob_http_response resp;
	struct server s;
	char url[128];
	char err[256];
	struct ob_http_request req = { .method = "GET", .url = url, .ca_pem = keys.ca_pem,
				       .timeout_ms = 300 };
	struct tls_server t;

	(void)state;
	/* A server that takes the connection and says nothing. */
	tls_server_init(&t, NULL, loopback4, false);
	server_start(&s, SERVE_SILENT, NULL, &t.conf, false);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", s.port);
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EIO);
	server_stop(&s);
	tls_server_free(&t);
	assert_non_null(strstr(err, "timed out after 300 ms in the TLS handshake"));

	/* A plain HTTP server on the other end. */
	server_start(&s, SERVE_BLURT, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
		     NULL, false);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", s.port);
	assert_int_equal(ob_cloud_http_request(&req, &resp, err, sizeof(err)), OB_EIO);
	server_stop(&s);
	if (!strstr(err, "the TLS handshake failed"))
		fail_msg("%s", err);
}

int main(void)
{
	const struct CMUnitTest parser_tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_chunk_framing_limits),
		cmocka_unit_test(test_interim_answers),
		cmocka_unit_test(test_etag_and_content_type),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_reader_failure),
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_url_limits),
		cmocka_unit_test(test_request_checks),
		cmocka_unit_test(test_plain_get),
		cmocka_unit_test(test_plain_post_and_put),
		cmocka_unit_test(test_plain_ipv6),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_timeout_waiting),
		cmocka_unit_test(test_timeout_in_all),
		cmocka_unit_test(test_peer_hangs_up),
	};
	const struct CMUnitTest tls_tests[] = {
		cmocka_unit_test(test_tls_right_ca),
		cmocka_unit_test(test_tls_wrong_ca),
		cmocka_unit_test(test_tls_wrong_name),
		cmocka_unit_test(test_tls_expired),
		cmocka_unit_test(test_tls_timeout_and_plain_peer),
	};
	int ret;

	assert_int_equal(ob_random_init(), 0);
	ret = cmocka_run_group_tests(parser_tests, NULL, NULL);
	ret |= cmocka_run_group_tests(tls_tests, tls_setup, tls_teardown);
	ob_random_free();
	return ret;
}
