/* A small HTTP/1.1 client for the box's own outgoing requests: the control plane (sync,
 * enrollment, reports, events) and webhook deliveries. One request per connection
 * ("Connection: close"), plain TCP or TLS with mbedTLS (certificate verified against a
 * given CA or the system's trust store, host name checked), every step under a timeout,
 * and a bounded response parser that can be fed from memory (tests/fuzz/fuzz_http.c).
 * Thread-safe: each call has its own connection and state. */
#ifndef OB_CLOUD_HTTP_H
#define OB_CLOUD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define OB_HTTP_HOST_MAX 253          /* a DNS name, or an IPv6 address without brackets */
#define OB_HTTP_PATH_MAX 2048         /* path and query of a URL */
#define OB_HTTP_URL_MAX 2300          /* a whole URL */
#define OB_HTTP_HEADERS_MAX (16 * 1024) /* bytes of a response's status line and headers
					 * (CRLFs and the empty line counted), of each 1xx
					 * answer's, of chunked trailers, and of a request's extra
					 * headers */
#define OB_HTTP_ETAG_MAX 255
#define OB_HTTP_CONTENT_TYPE_MAX 127
#define OB_HTTP_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

/* A URL taken apart: http:// or https:// (either case), a host (name, IPv4, or [IPv6]), an
 * optional port, and a path (with its query; "/" when the URL has none). Refused: a
 * user:password@, a fragment, an IPv6 zone, a space, control or non-ASCII byte anywhere
 * (percent-encode them). */
struct ob_http_url {
	bool tls;                             /* https */
	char host[OB_HTTP_HOST_MAX + 1];      /* without the brackets of an IPv6 address */
	unsigned port;                        /* 80 or 443 unless given */
	char path[OB_HTTP_PATH_MAX + 1];      /* starts with '/' */
};

/* Parses an http(s) URL. 0, or OB_EINVAL with a message in err that says what is wrong
 * ("url: only http:// and https:// are taken"). */
int ob_cloud_http_url_parse(const char *url, struct ob_http_url *out, char *err,
			    size_t err_len);

/* One request. Everything is borrowed for the call. */
struct ob_http_request {
	const char *method;       /* "GET", "POST", "PUT" */
	const char *url;          /* http:// or https:// */
	const char *headers;      /* extra header lines, each "Name: value\r\n", or NULL; a bare
				   * CR or LF, an empty line, a control character or a Host,
				   * Content-Length, Connection, User-Agent or Transfer-Encoding
				   * (the client's own) is refused with OB_EINVAL */
	const void *body;         /* request body, or NULL */
	size_t body_len;
	const char *ca_pem;       /* https: PEM of the CA(s) to trust, or NULL/"" for the system's
				   * (OB_HTTP_SYSTEM_CA_FILE). A host name is sent in SNI and
				   * checked against the certificate's dNSName entries; an IP
				   * address is not sent and must be an iPAddress entry */
	int timeout_ms;           /* for the connect, the TLS handshake, and each read and
				   * write; 0 means 10000 */
	int total_timeout_ms;     /* for the whole request; 0 means 4 × timeout_ms */
	size_t max_body;          /* the largest response body taken; 0 means 1 MiB */
};

/* What came back. The client owns body; clear it with ob_cloud_http_response_clear. */
struct ob_http_response {
	int status;                                   /* 100..599 */
	char etag[OB_HTTP_ETAG_MAX + 1];              /* the ETag header as sent, or ""; a
						       * longer one is refused (OB_ETOOBIG),
						       * never cut */
	char content_type[OB_HTTP_CONTENT_TYPE_MAX + 1]; /* or ""; refused likewise */
	int retry_after_s;                            /* Retry-After in seconds (delta form, or
						       * an IMF-fixdate made relative to now,
						       * 0 when past), -1 when absent or
						       * unreadable */
	char *body;                                   /* the body with a NUL after it (not
						       * counted), never NULL after success */
	size_t body_len;
};

/* Sends one request and reads the whole answer. 0 when an HTTP answer came back (any
 * status: the caller decides what 4xx and 5xx mean); otherwise resp is cleared and the
 * result is OB_EINVAL (a bad URL or request), OB_EIO (no connection, the TLS handshake or
 * the certificate check failed, a timeout, a malformed answer), OB_ETOOBIG (an answer over
 * the limits) or OB_ENOMEM, with a message in err naming the host and what failed
 * ("cp.example.net:443: the certificate is not trusted (expired)"). */
int ob_cloud_http_request(const struct ob_http_request *req, struct ob_http_response *resp,
			  char *err, size_t err_len);

/* Frees a response's body and zeroes it (safe on a zeroed or cleared one). */
void ob_cloud_http_response_clear(struct ob_http_response *resp);

/* Reads up to len bytes into buf: the count read, 0 at the end of the stream, or a negative
 * OB_E* code (with its message already in the reader's own state). */
typedef ssize_t (*ob_http_read_fn)(void *ctx, unsigned char *buf, size_t len);

/* Parses an HTTP/1.x answer from a reader: the status line, headers (at most
 * OB_HTTP_HEADERS_MAX bytes, obs-fold refused), then a body framed by chunked transfer
 * coding, Content-Length, or the end of the stream; no body for HEAD, 1xx, 204 and 304.
 * Interim 1xx answers before the final one are skipped (a 101 is refused: no upgrade is
 * ever asked for). Conflicting or malformed framing (two different Content-Lengths, both
 * Content-Length and chunked, a transfer coding other than chunked, a chunk size that is
 * not hex, a body past max_body) is refused. head_request: the request was a HEAD;
 * max_body: 0 means 1 MiB. resp is overwritten (not freed) first. 0, or
 * OB_EIO/OB_ETOOBIG/OB_ENOMEM with a message in err; resp is cleared on failure. */
int ob_cloud_http_parse_response(ob_http_read_fn read, void *ctx, bool head_request,
				 size_t max_body, struct ob_http_response *resp, char *err,
				 size_t err_len);

#endif
