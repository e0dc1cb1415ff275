#include "cloud/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rand.h"
#include "core/strbuf.h"
#include "core/util.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BODY (1024 * 1024)
#define METHOD_MAX 16
#define READ_CHUNK 4096
#define CHUNK_LINE_MAX 1024          /* one chunk-size line, extensions included */
#define CHUNK_EXTENSIONS_MAX (16 * 1024) /* chunk extensions of a whole body, all together */
#define INTERIM_MAX 16               /* 1xx answers skipped before the final one */
#define QUOTE_MAX 40                 /* characters of untrusted text quoted in a message */
#define DETAIL_MAX 256
#define WHERE_MAX (OB_HTTP_HOST_MAX + 8) /* "[host]:port" */
#define IMF_FIXDATE_LEN 29           /* "Sun, 06 Nov 1994 08:49:37 GMT" */

static void say(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *err, size_t err_len, const char *fmt, ...)
{
	va_list args;

	if (!err || err_len == 0)
		return;
	va_start(args, fmt);
	vsnprintf(err, err_len, fmt, args);
	va_end(args);
}

/* Untrusted text made fit for a message: at most QUOTE_MAX bytes, printable ASCII as it
 * is and anything else as '?', "..." when cut. out holds QUOTE_MAX + 4 bytes. */
static void quote_text(const char *text, size_t len, char out[QUOTE_MAX + 4])
{
	size_t i;

	for (i = 0; i < len && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)text[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	memcpy(out + i, i < len ? "..." : "", i < len ? 4 : 1);
}

/* An errno as text that can follow "host:port: " ("connection refused"). */
static void errno_text(int errnum, char *out, size_t out_len)
{
	const char *text = strerror_r(errnum, out, out_len);

	if (text != out)
		ob_strlcpy(out, text, out_len);
	if (out[0] >= 'A' && out[0] <= 'Z')
		out[0] = (char)(out[0] - 'A' + 'a');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A tchar of RFC 9110's token. */
static bool is_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *text, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_token_char(text[i]))
			return false;
	return true;
}

/* A byte that may stand in a header value: visible ASCII, SP, HTAB and obs-text. */
static bool is_field_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u == '\t' || (u >= 0x20 && u != 0x7f);
}

/* ---- URLs ---- */

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
	       c == '.' || c == '_';
}

/* The port of a URL: 1 to 65535 in decimal. */
static int parse_port(const char *text, size_t len, unsigned *port, char *err, size_t err_len)
{
	char quoted[QUOTE_MAX + 4];
	unsigned value = 0;

	if (len == 0) {
		say(err, err_len, "url: the port after ':' is empty");
		return OB_EINVAL;
	}
	quote_text(text, len, quoted);
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(text[i])) {
			say(err, err_len, "url: the port \"%s\" is not a number", quoted);
			return OB_EINVAL;
		}
		if (value <= 65535)
			value = value * 10 + (unsigned)(text[i] - '0');
	}
	if (value == 0 || value > 65535) {
		say(err, err_len, "url: the port %s is out of range (1-65535)", quoted);
		return OB_EINVAL;
	}
	*port = value;
	return 0;
}

/* The host of a URL, brackets off: [IPv6], or a name or IPv4 address. */
static int parse_host(const char *text, size_t len, bool bracketed, char *out, char *err,
		      size_t err_len)
{
	struct in6_addr ipv6;

	if (len == 0) {
		say(err, err_len, "url: there is no host");
		return OB_EINVAL;
	}
	if (len > OB_HTTP_HOST_MAX) {
		say(err, err_len, "url: the host is longer than %d characters", OB_HTTP_HOST_MAX);
		return OB_EINVAL;
	}
	memcpy(out, text, len);
	out[len] = '\0';
	if (bracketed) {
		if (inet_pton(AF_INET6, out, &ipv6) != 1) {
			say(err, err_len, "url: \"[%s]\" is not an IPv6 address", out);
			return OB_EINVAL;
		}
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		if (!is_host_char(out[i])) {
			say(err, err_len, "url: the host \"%s\" holds '%c', which no host name has",
			    out, out[i]);
			return OB_EINVAL;
		}
	}
	return 0;
}

int ob_cloud_http_url_parse(const char *url, struct ob_http_url *out, char *err,
			    size_t err_len)
{
	const char *authority;
	const char *authority_end;
	const char *host_end;
	const char *port_text = NULL;
	const char *path;
	bool bracketed = false;
	size_t len;
	int ret = OB_EINVAL;

	memset(out, 0, sizeof(*out));
	if (!url) {
		say(err, err_len, "url: none given");
		goto fail;
	}
	len = strnlen(url, OB_HTTP_URL_MAX + 1);
	if (len > OB_HTTP_URL_MAX) {
		say(err, err_len, "url: longer than %d characters", OB_HTTP_URL_MAX);
		goto fail;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f) {
			say(err, err_len, "url: byte %zu is a space, a control character or not "
			    "ASCII (percent-encode it)", i);
			goto fail;
		}
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		out->tls = true;
		out->port = 443;
		authority = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		out->port = 80;
		authority = url + 7;
	} else {
		say(err, err_len, "url: only http:// and https:// are taken");
		goto fail;
	}
	authority_end = authority + strcspn(authority, "/?#");
	if (memchr(authority, '@', (size_t)(authority_end - authority))) {
		say(err, err_len, "url: user:password@ is not taken; send credentials in a header");
		goto fail;
	}
	if (*authority == '[') {
		const char *close = memchr(authority, ']', (size_t)(authority_end - authority));

		if (!close) {
			say(err, err_len, "url: the IPv6 address has no closing ']'");
			goto fail;
		}
		bracketed = true;
		host_end = close;
		if (close + 1 < authority_end) {
			if (close[1] != ':') {
				say(err, err_len, "url: only a port may follow the IPv6 address");
				goto fail;
			}
			port_text = close + 2;
		}
	} else {
		const char *colon = memchr(authority, ':', (size_t)(authority_end - authority));

		host_end = colon ? colon : authority_end;
		if (colon)
			port_text = colon + 1;
	}
	ret = parse_host(authority + bracketed, (size_t)(host_end - authority - bracketed),
			 bracketed, out->host, err, err_len);
	if (ret == 0 && port_text)
		ret = parse_port(port_text, (size_t)(authority_end - port_text), &out->port, err,
				 err_len);
	if (ret != 0)
		goto fail;
	ret = OB_EINVAL;
	path = authority_end;
	if (strchr(path, '#')) {
		say(err, err_len, "url: a fragment (#...) is never sent; leave it out");
		goto fail;
	}
	if (strlen(path) + (path[0] != '/') > OB_HTTP_PATH_MAX) {
		say(err, err_len, "url: the path is longer than %d characters", OB_HTTP_PATH_MAX);
		goto fail;
	}
	out->path[0] = '/';
	memcpy(out->path + (path[0] != '/'), path, strlen(path) + 1);
	return 0;

fail:
	memset(out, 0, sizeof(*out));
	return ret;
}

/* ---- the request ---- */

static int check_method(const char *method, char *err, size_t err_len)
{
	size_t len = method ? strnlen(method, METHOD_MAX + 1) : 0;

	if (len == 0 || len > METHOD_MAX) {
		say(err, err_len, "request: the method is missing or longer than %d letters",
		    METHOD_MAX);
		return OB_EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (method[i] < 'A' || method[i] > 'Z') {
			char quoted[QUOTE_MAX + 4];

			quote_text(method, len, quoted);
			say(err, err_len, "request: the method \"%s\" is not an upper-case token",
			    quoted);
			return OB_EINVAL;
		}
	}
	return 0;
}

/* Header names the client writes itself; a caller's copy would contradict them. */
static const char *const client_headers[] = {
	"host", "content-length", "connection", "user-agent", "transfer-encoding", NULL,
};

/* One extra header line, without its CRLF: "Name: value". */
static int check_header_line(const char *line, size_t len, unsigned number, char *err,
			     size_t err_len)
{
	const char *colon = memchr(line, ':', len);
	char name[QUOTE_MAX + 4];

	if (!colon || !is_token(line, (size_t)(colon - line))) {
		quote_text(line, len, name);
		say(err, err_len, "request: header line %u \"%s\" is not \"Name: value\"", number,
		    name);
		return OB_EINVAL;
	}
	quote_text(line, (size_t)(colon - line), name);
	for (size_t i = 0; client_headers[i]; i++) {
		if (strlen(client_headers[i]) == (size_t)(colon - line) &&
		    strncasecmp(line, client_headers[i], (size_t)(colon - line)) == 0) {
			say(err, err_len, "request: the client writes %s itself", name);
			return OB_EINVAL;
		}
	}
	for (const char *c = colon + 1; c < line + len; c++) {
		if (!is_field_char(*c)) {
			say(err, err_len, "request: the value of %s holds a control character",
			    name);
			return OB_EINVAL;
		}
	}
	return 0;
}

/* The caller's extra headers: whole lines, each "Name: value\r\n", with no CR or LF
 * anywhere else (they would start a header or a body of someone else's choosing). */
static int check_headers(const char *headers, char *err, size_t err_len)
{
	unsigned number = 1;
	const char *line;

	if (!headers)
		return 0;
	if (strnlen(headers, OB_HTTP_HEADERS_MAX + 1) > OB_HTTP_HEADERS_MAX) {
		say(err, err_len, "request: the extra headers are longer than %d bytes",
		    OB_HTTP_HEADERS_MAX);
		return OB_EINVAL;
	}
	for (line = headers; *line; number++) {
		size_t len = strcspn(line, "\r\n");
		int ret;

		if (line[len] == '\0') {
			say(err, err_len, "request: header line %u does not end in \\r\\n", number);
			return OB_EINVAL;
		}
		if (line[len] != '\r' || line[len + 1] != '\n') {
			say(err, err_len, "request: header line %u holds a bare CR or LF", number);
			return OB_EINVAL;
		}
		if (len == 0) {
			say(err, err_len,
			    "request: header line %u is empty (it would end the headers)", number);
			return OB_EINVAL;
		}
		ret = check_header_line(line, len, number, err, err_len);
		if (ret != 0)
			return ret;
		line += len + 2;
	}
	return 0;
}

/* The request line, headers and body in one buffer the caller frees. */
static int build_message(const struct ob_http_request *req, const struct ob_http_url *url,
			 unsigned char **out, size_t *out_len, char *err, size_t err_len)
{
	struct ob_strbuf head = { 0 };
	bool ipv6 = strchr(url->host, ':') != NULL;
	bool with_length = req->body || strcmp(req->method, "POST") == 0 ||
			   strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0;
	unsigned char *message;
	int ret = OB_ENOMEM;

	ob_strbuf_printf(&head, "%s %s HTTP/1.1\r\nHost: %s%s%s", req->method, url->path,
			 ipv6 ? "[" : "", url->host, ipv6 ? "]" : "");
	if (url->port != (url->tls ? 443u : 80u))
		ob_strbuf_printf(&head, ":%u", url->port);
	ob_strbuf_puts(&head, "\r\nUser-Agent: ottbox/" OB_VERSION "\r\n");
	if (with_length)
		ob_strbuf_printf(&head, "Content-Length: %zu\r\n", req->body_len);
	ob_strbuf_puts(&head, "Connection: close\r\n");
	if (req->headers)
		ob_strbuf_puts(&head, req->headers);
	ob_strbuf_puts(&head, "\r\n");
	if (ob_strbuf_failed(&head) || req->body_len > SIZE_MAX - head.len)
		goto out_free_head;
	message = malloc(head.len + req->body_len);
	if (!message)
		goto out_free_head;
	memcpy(message, head.data, head.len);
	if (req->body_len)
		memcpy(message + head.len, req->body, req->body_len);
	*out = message;
	*out_len = head.len + req->body_len;
	ret = 0;
out_free_head:
	if (ret != 0)
		say(err, err_len, "request: out of memory for a request of %zu body bytes",
		    req->body_len);
	ob_strbuf_free(&head);
	return ret;
}

/* ---- the connection ---- */

struct conn {
	char where[WHERE_MAX];        /* "host:port" for messages, IPv6 in brackets */
	const char *host;             /* borrowed from the parsed URL */
	unsigned port;
	int fd;                       /* -1 when not connected */
	int timeout_ms;               /* each connect, handshake step, read and write */
	int total_timeout_ms;
	int64_t deadline_ms;          /* ob_time_mono_ms() by which the request is done */
	const char *doing;            /* for a timeout's message: "waiting for the answer" */
	bool got_bytes;               /* a byte of the answer came */
	int io_error;                 /* an OB_E* code once a read or a write failed */
	char io_message[WHERE_MAX + 2 + DETAIL_MAX]; /* what failed, naming where */
	bool tls;
	unsigned char ip[16];         /* the host as an IP address, for the certificate check */
	size_t ip_len;                /* 4, 16, or 0 when the host is a name */
	mbedtls_x509_crt ca;
	mbedtls_ssl_config tls_conf;
	mbedtls_ssl_context ssl;
};

static void conn_fail(struct conn *conn, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first I/O failure and its message, which names where. */
static void conn_fail(struct conn *conn, int code, const char *fmt, ...)
{
	char detail[DETAIL_MAX];
	va_list args;

	if (conn->io_error)
		return;
	va_start(args, fmt);
	vsnprintf(detail, sizeof(detail), fmt, args);
	va_end(args);
	conn->io_error = code;
	snprintf(conn->io_message, sizeof(conn->io_message), "%s: %s", conn->where, detail);
}

static void conn_init(struct conn *conn, const struct ob_http_url *url, int timeout_ms,
		      int total_timeout_ms)
{
	struct in_addr ipv4;

	memset(conn, 0, sizeof(*conn));
	snprintf(conn->where, sizeof(conn->where), strchr(url->host, ':') ? "[%s]:%u" : "%s:%u",
		 url->host, url->port);
	conn->host = url->host;
	conn->port = url->port;
	conn->fd = -1;
	conn->timeout_ms = timeout_ms;
	conn->total_timeout_ms = total_timeout_ms;
	conn->deadline_ms = ob_time_mono_ms() + total_timeout_ms;
	conn->doing = "connecting";
	conn->tls = url->tls;
	if (inet_pton(AF_INET, url->host, &ipv4) == 1) {
		memcpy(conn->ip, &ipv4, 4);
		conn->ip_len = 4;
	} else if (inet_pton(AF_INET6, url->host, conn->ip) == 1) {
		conn->ip_len = 16;
	}
	mbedtls_x509_crt_init(&conn->ca);
	mbedtls_ssl_config_init(&conn->tls_conf);
	mbedtls_ssl_init(&conn->ssl);
}

static void conn_close(struct conn *conn)
{
	mbedtls_ssl_free(&conn->ssl);
	mbedtls_ssl_config_free(&conn->tls_conf);
	mbedtls_x509_crt_free(&conn->ca);
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
}

/* Waits until fd is ready for events, under the step's timeout and the request's
 * deadline. 0, or OB_EIO with the timeout recorded. */
static int wait_ready(struct conn *conn, int fd, short events)
{
	for (;;) {
		int64_t left = conn->deadline_ms - ob_time_mono_ms();
		int wait = conn->timeout_ms;
		bool whole_request = false;
		struct pollfd pfd = { .fd = fd, .events = events };
		int n;

		if (left < wait) {
			wait = left > 0 ? (int)left : 0;
			whole_request = true;
		}
		n = wait > 0 ? poll(&pfd, 1, wait) : 0;
		if (n > 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			char text[128];

			errno_text(errno, text, sizeof(text));
			conn_fail(conn, OB_EIO, "poll failed %s: %s", conn->doing, text);
		} else if (whole_request) {
			conn_fail(conn, OB_EIO, "timed out after %d ms in all, %s",
				  conn->total_timeout_ms, conn->doing);
		} else {
			conn_fail(conn, OB_EIO, "timed out after %d ms %s", conn->timeout_ms,
				  conn->doing);
		}
		return OB_EIO;
	}
}

/* One send once the socket takes more (so a peer that reads fast cannot keep the request
 * past its deadline either): the bytes sent, or OB_EIO. */
static ssize_t sock_send(struct conn *conn, const unsigned char *data, size_t len)
{
	for (;;) {
		ssize_t n;
		char text[128];

		if (wait_ready(conn, conn->fd, POLLOUT) != 0)
			return OB_EIO;
		n = send(conn->fd, data, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		errno_text(errno, text, sizeof(text));
		conn_fail(conn, OB_EIO, "%s %s", text, conn->doing);
		return OB_EIO;
	}
}

/* One recv once something came: the bytes read, 0 at the end, or OB_EIO. */
static ssize_t sock_recv(struct conn *conn, unsigned char *buf, size_t len)
{
	for (;;) {
		ssize_t n;
		char text[128];

		if (wait_ready(conn, conn->fd, POLLIN) != 0)
			return OB_EIO;
		n = recv(conn->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		errno_text(errno, text, sizeof(text));
		conn_fail(conn, OB_EIO, "%s %s", text, conn->doing);
		return OB_EIO;
	}
}

/* One address: a non-blocking connect under the timeout. The socket, or -1 with the
 * reason recorded in conn. */
static int connect_one(struct conn *conn, const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	socklen_t size = sizeof(int);
	int error = 0;
	char text[128];

	if (fd < 0) {
		error = errno;
		goto fail;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		error = errno;
		goto fail_close;
	}
	if (wait_ready(conn, fd, POLLOUT) != 0)
		goto fail_close;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0)
		error = errno;
	if (error == 0)
		goto out;
fail_close:
	close(fd);
	fd = -1;
fail:
	if (error) {
		errno_text(error, text, sizeof(text));
		conn_fail(conn, OB_EIO, "%s", text);
	}
out:
	return fd;
}

/* Resolves the host and connects to the first of its addresses that answers. */
static int conn_open(struct conn *conn, char *err, size_t err_len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list = NULL;
	char service[8];
	char text[128];
	unsigned tried = 0;
	int rc;
	int ret = OB_EIO;

	snprintf(service, sizeof(service), "%u", conn->port);
	rc = getaddrinfo(conn->host, service, &hints, &list);
	if (rc != 0) {
		if (rc == EAI_SYSTEM)
			errno_text(errno, text, sizeof(text));
		else
			ob_strlcpy(text, gai_strerror(rc), sizeof(text));
		say(err, err_len, "%s: cannot resolve the name (%s)", conn->where, text);
		goto out;
	}
	for (const struct addrinfo *ai = list; ai && conn->fd < 0; ai = ai->ai_next) {
		if (tried > 0 && ob_time_mono_ms() >= conn->deadline_ms)
			break;
		conn->io_error = 0;
		conn->fd = connect_one(conn, ai);
		tried++;
	}
	if (conn->fd < 0) {
		if (tried > 1)
			say(err, err_len, "%s (tried %u addresses)", conn->io_message, tried);
		else
			say(err, err_len, "%s", conn->io_message);
		goto out_free_list;
	}
	conn->io_error = 0;
	ret = 0;
out_free_list:
	freeaddrinfo(list);
out:
	return ret;
}

/* ---- TLS ---- */

/* mbedTLS's BIO over the socket: each call waits under the timeouts itself, so the
 * library never sees WANT_READ or WANT_WRITE. */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t n = sock_send(ctx, buf, len > INT_MAX ? INT_MAX : len);

	return n >= 0 ? (int)n : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t n = sock_recv(ctx, buf, len > INT_MAX ? INT_MAX : len);

	return n >= 0 ? (int)n : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* mbedTLS 2.28 matches a host only against dNSName entries: for an IP literal the leaf
 * must carry the address as an iPAddress entry (RFC 6125), checked here. */
static int verify_ip(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const struct conn *conn = ctx;

	if (depth != 0)
		return 0;
	if (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) {
		for (const mbedtls_x509_sequence *cur = &crt->subject_alt_names; cur;
		     cur = cur->next) {
			if ((cur->buf.tag & MBEDTLS_ASN1_TAG_CLASS_MASK) ==
				    MBEDTLS_ASN1_CONTEXT_SPECIFIC &&
			    (cur->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) ==
				    MBEDTLS_X509_SAN_IP_ADDRESS &&
			    cur->buf.len == conn->ip_len &&
			    memcmp(cur->buf.p, conn->ip, conn->ip_len) == 0)
				return 0;
		}
	}
	*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

/* The CAs to trust: the caller's PEM, or the system's bundle. */
static int tls_load_ca(struct conn *conn, const char *ca_pem, char *err, size_t err_len)
{
	char text[128];
	int rc;

	if (ca_pem && ca_pem[0]) {
		rc = mbedtls_x509_crt_parse(&conn->ca, (const unsigned char *)ca_pem,
					    strlen(ca_pem) + 1);
		if (rc != 0) {
			if (rc < 0)
				mbedtls_strerror(rc, text, sizeof(text));
			else
				snprintf(text, sizeof(text), "%d of its certificates", rc);
			say(err, err_len, "%s: the CA PEM given does not parse (%s)", conn->where,
			    text);
			return OB_EINVAL;
		}
		return 0;
	}
	rc = mbedtls_x509_crt_parse_file(&conn->ca, OB_HTTP_SYSTEM_CA_FILE);
	if (rc < 0 || conn->ca.version == 0) {
		mbedtls_strerror(rc < 0 ? rc : MBEDTLS_ERR_X509_CERT_UNKNOWN_FORMAT, text,
				 sizeof(text));
		say(err, err_len, "%s: cannot load the system's CA certificates from %s (%s)",
		    conn->where, OB_HTTP_SYSTEM_CA_FILE, text);
		return OB_EIO;
	}
	return 0;
}

/* mbedTLS's reasons for a refused certificate, one line each, as "a; b". */
static void verify_reasons(uint32_t flags, char *out, size_t out_len)
{
	char info[512];
	size_t used = 0;
	char *line;
	char *next;

	out[0] = '\0';
	if (mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags) < 0 || !info[0]) {
		snprintf(out, out_len, "flags 0x%x", (unsigned)flags);
		return;
	}
	for (line = info; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] == '\n');
		if (len == 0)
			continue;
		if (line[0] >= 'A' && line[0] <= 'Z')
			line[0] = (char)(line[0] - 'A' + 'a');
		used += (size_t)snprintf(out + used, used < out_len ? out_len - used : 0, "%s%.*s",
					 used ? "; " : "", (int)len, line);
		if (used >= out_len)
			break;
	}
}

static int tls_start(struct conn *conn, char *err, size_t err_len)
{
	char text[512];
	int rc;
	int ret = OB_EIO;

	rc = mbedtls_ssl_config_defaults(&conn->tls_conf, MBEDTLS_SSL_IS_CLIENT,
					 MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0)
		goto fail_setup;
	mbedtls_ssl_conf_min_version(&conn->tls_conf, MBEDTLS_SSL_MAJOR_VERSION_3,
				     MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_authmode(&conn->tls_conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&conn->tls_conf, &conn->ca, NULL);
	mbedtls_ssl_conf_rng(&conn->tls_conf, ob_random_mbedtls, NULL);
	if (conn->ip_len)
		mbedtls_ssl_conf_verify(&conn->tls_conf, verify_ip, conn);
	rc = mbedtls_ssl_setup(&conn->ssl, &conn->tls_conf);
	/* A name goes in SNI and is checked by mbedTLS; an address is not sent (RFC 6066)
	 * and verify_ip checks it. NULL is set explicitly: mbedTLS versions that refuse a
	 * verified handshake without a host name take that as the caller checking it. */
	if (rc == 0)
		rc = mbedtls_ssl_set_hostname(&conn->ssl, conn->ip_len ? NULL : conn->host);
	if (rc != 0)
		goto fail_setup;
	mbedtls_ssl_set_bio(&conn->ssl, conn, bio_send, bio_recv, NULL);
	conn->doing = "in the TLS handshake";
	do {
		rc = mbedtls_ssl_handshake(&conn->ssl);
	} while (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE);
	if (rc == 0) {
		ret = 0;
	} else if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		uint32_t flags = mbedtls_ssl_get_verify_result(&conn->ssl);
		bool wrong_name = (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0;

		verify_reasons(flags, text, sizeof(text));
		say(err, err_len, "%s: the certificate is not trusted (%s%s%s)", conn->where, text,
		    wrong_name ? "; it does not name " : "", wrong_name ? conn->host : "");
	} else if (conn->io_error) {
		say(err, err_len, "%s", conn->io_message);
	} else {
		mbedtls_strerror(rc, text, sizeof(text));
		say(err, err_len, "%s: the TLS handshake failed (%s)", conn->where, text);
	}
	goto out;

fail_setup:
	mbedtls_strerror(rc, text, sizeof(text));
	say(err, err_len, "%s: cannot set up TLS (%s)", conn->where, text);
	if (rc == MBEDTLS_ERR_SSL_ALLOC_FAILED)
		ret = OB_ENOMEM;
out:
	return ret;
}

/* ---- talking ---- */

static int conn_write_all(struct conn *conn, const unsigned char *data, size_t len,
			  char *err, size_t err_len)
{
	char text[128];

	conn->doing = "sending the request";
	while (len > 0) {
		ssize_t n;

		if (!conn->tls) {
			n = sock_send(conn, data, len);
		} else {
			n = mbedtls_ssl_write(&conn->ssl, data, len);
			if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
			if (n < 0 && !conn->io_error) {
				mbedtls_strerror((int)n, text, sizeof(text));
				conn_fail(conn, OB_EIO, "TLS failed sending the request (%s)",
					  text);
			}
		}
		if (n < 0) {
			say(err, err_len, "%s", conn->io_message);
			return OB_EIO;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The ob_http_read_fn over a connection; a failure's message is in conn->io_message. */
static ssize_t conn_read(void *ctx, unsigned char *buf, size_t len)
{
	struct conn *conn = ctx;
	int rc;

	conn->doing = conn->got_bytes ? "reading the answer" : "waiting for the answer";
	if (!conn->tls) {
		ssize_t n = sock_recv(conn, buf, len);

		conn->got_bytes |= n > 0;
		return n;
	}
	do {
		rc = mbedtls_ssl_read(&conn->ssl, buf, len > INT_MAX ? INT_MAX : len);
	} while (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE);
	if (rc > 0) {
		conn->got_bytes = true;
		return rc;
	}
	/* The end, with or without close_notify: the framing says whether it came early. */
	if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF)
		return 0;
	if (!conn->io_error) {
		char text[128];

		mbedtls_strerror(rc, text, sizeof(text));
		conn_fail(conn, OB_EIO, "TLS failed %s (%s)", conn->doing, text);
	}
	return OB_EIO;
}

int ob_cloud_http_request(const struct ob_http_request *req, struct ob_http_response *resp,
			  char *err, size_t err_len)
{
	struct ob_http_url url;
	struct conn conn;
	unsigned char *message = NULL;
	size_t message_len = 0;
	char detail[DETAIL_MAX];
	int timeout_ms;
	int64_t total_ms;
	int ret = OB_EINVAL;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	if (err && err_len)
		err[0] = '\0';
	if (!req) {
		say(err, err_len, "request: none given");
		goto out;
	}
	ret = ob_cloud_http_url_parse(req->url, &url, err, err_len);
	if (ret == 0)
		ret = check_method(req->method, err, err_len);
	if (ret == 0)
		ret = check_headers(req->headers, err, err_len);
	if (ret != 0)
		goto out;
	ret = OB_EINVAL;
	if (!req->body && req->body_len > 0) {
		say(err, err_len, "request: %zu body bytes but no body", req->body_len);
		goto out;
	}
	if (req->timeout_ms < 0 || req->total_timeout_ms < 0) {
		say(err, err_len, "request: a timeout is negative");
		goto out;
	}
	timeout_ms = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
	total_ms = req->total_timeout_ms ? req->total_timeout_ms : 4 * (int64_t)timeout_ms;
	if (total_ms > INT_MAX)
		total_ms = INT_MAX;
	ret = build_message(req, &url, &message, &message_len, err, err_len);
	if (ret != 0)
		goto out;
	conn_init(&conn, &url, timeout_ms, (int)total_ms);
	if (url.tls) {
		ret = tls_load_ca(&conn, req->ca_pem, err, err_len);
		if (ret != 0)
			goto out_close_conn;
	}
	ret = conn_open(&conn, err, err_len);
	if (ret == 0 && url.tls)
		ret = tls_start(&conn, err, err_len);
	if (ret == 0)
		ret = conn_write_all(&conn, message, message_len, err, err_len);
	if (ret != 0)
		goto out_close_conn;
	ret = ob_cloud_http_parse_response(conn_read, &conn, strcmp(req->method, "HEAD") == 0,
					   req->max_body ? req->max_body : DEFAULT_MAX_BODY, resp,
					   detail, sizeof(detail));
	if (ret != 0 && conn.io_error)
		say(err, err_len, "%s", conn.io_message);
	else if (ret != 0)
		say(err, err_len, "%s: %s", conn.where, detail);
out_close_conn:
	conn_close(&conn);
	free(message);
out:
	if (ret != 0)
		ob_cloud_http_response_clear(resp);
	return ret;
}

void ob_cloud_http_response_clear(struct ob_http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

/* ---- the answer ---- */

struct reader {
	ob_http_read_fn read;
	void *ctx;
	unsigned char buf[READ_CHUNK];
	size_t pos;                    /* the next byte of buf to use */
	size_t len;                    /* bytes in buf */
	bool eof;
};

struct body {
	char *data;
	size_t len;
	size_t cap;
};

struct parse {
	struct reader in;
	bool head_request;
	size_t max_body;
	struct ob_http_response *resp;
	char *err;
	size_t err_len;
	char line[OB_HTTP_HEADERS_MAX + 1];
	struct body body;
	/* the framing the final answer's headers gave */
	bool has_length;
	uint64_t content_length;
	bool chunked;
};

enum line_result {
	LINE_OK,
	LINE_END,          /* the stream ended first */
	LINE_TOO_LONG,     /* past the byte budget */
	LINE_NUL,
	LINE_BARE_CR,      /* a CR that does not end the line */
	LINE_READ_FAILED,  /* the reader failed; its message is written */
};

static void parse_say(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void parse_say(struct parse *p, const char *fmt, ...)
{
	va_list args;

	if (!p->err || p->err_len == 0)
		return;
	va_start(args, fmt);
	vsnprintf(p->err, p->err_len, fmt, args);
	va_end(args);
}

/* At least one byte buffered: 1, 0 at the end of the stream, or OB_EIO. */
static int reader_fill(struct parse *p)
{
	struct reader *in = &p->in;
	ssize_t n;

	if (in->pos < in->len)
		return 1;
	if (in->eof)
		return 0;
	n = in->read(in->ctx, in->buf, sizeof(in->buf));
	if (n < 0 || (size_t)n > sizeof(in->buf)) {
		parse_say(p, "reading the answer failed (%s)",
			  n > 0 ? "the reader gave more than asked"
				: ob_strerror(n < INT_MIN ? OB_EIO : (int)n));
		return OB_EIO;
	}
	if (n == 0) {
		in->eof = true;
		return 0;
	}
	in->pos = 0;
	in->len = (size_t)n;
	return 1;
}

/* Reads one line ended by LF (a CR before it is dropped) into p->line, taking its bytes
 * (terminator included) from *budget. */
static enum line_result read_line(struct parse *p, size_t *budget, size_t *line_len)
{
	struct reader *in = &p->in;
	size_t used = 0;

	*line_len = 0;
	for (;;) {
		int rc = reader_fill(p);
		const unsigned char *start;
		const unsigned char *lf;
		size_t take;

		if (rc < 0)
			return LINE_READ_FAILED;
		if (rc == 0)
			return LINE_END;
		start = in->buf + in->pos;
		lf = memchr(start, '\n', in->len - in->pos);
		take = lf ? (size_t)(lf - start) + 1 : in->len - in->pos;
		if (take > *budget)
			return LINE_TOO_LONG;
		*budget -= take;
		/* The line fits in p->line: *budget never starts above OB_HTTP_HEADERS_MAX. */
		memcpy(p->line + used, start, take);
		used += take;
		in->pos += take;
		if (lf)
			break;
	}
	used--;
	if (used > 0 && p->line[used - 1] == '\r')
		used--;
	p->line[used] = '\0';
	*line_len = used;
	if (memchr(p->line, '\0', used))
		return LINE_NUL;
	if (memchr(p->line, '\r', used))
		return LINE_BARE_CR;
	return LINE_OK;
}

/* The error for a line that did not read; where names the part ("headers"). */
static int line_error(struct parse *p, enum line_result result, const char *where,
		      size_t limit)
{
	switch (result) {
	case LINE_TOO_LONG:
		parse_say(p, "the answer's %s take more than %zu bytes", where, limit);
		return OB_ETOOBIG;
	case LINE_END:
		parse_say(p, "the answer ended inside its %s", where);
		return OB_EIO;
	case LINE_NUL:
		parse_say(p, "the answer's %s hold a NUL byte", where);
		return OB_EIO;
	case LINE_BARE_CR:
		parse_say(p, "the answer's %s hold a CR that does not end a line", where);
		return OB_EIO;
	case LINE_READ_FAILED:
	case LINE_OK:
		break;
	}
	return OB_EIO;
}

/* "HTTP/1.x NNN reason": the status, or OB_EIO. */
static int parse_status_line(struct parse *p, size_t len)
{
	const char *line = p->line;
	char quoted[QUOTE_MAX + 4];

	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || !is_digit(line[7]) || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || !is_digit(line[10]) || !is_digit(line[11]) ||
	    (len > 12 && line[12] != ' '))
		goto fail;
	for (size_t i = 12; i < len; i++)
		if (!is_field_char(line[i]))
			goto fail;
	p->resp->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	return 0;

fail:
	quote_text(line, len, quoted);
	parse_say(p, "the answer's status line \"%s\" is not \"HTTP/1.x NNN reason\"", quoted);
	return OB_EIO;
}

static int take_content_length(struct parse *p, const char *value, size_t len)
{
	char quoted[QUOTE_MAX + 4];
	uint64_t length = 0;
	size_t i;

	for (i = 0; i < len && is_digit(value[i]); i++) {
		uint64_t digit = (uint64_t)(value[i] - '0');

		if (length > (UINT64_MAX - digit) / 10) {
			quote_text(value, len, quoted);
			parse_say(p, "the answer's Content-Length %s is too large", quoted);
			return OB_ETOOBIG;
		}
		length = length * 10 + digit;
	}
	if (i == 0 || i < len) {
		quote_text(value, len, quoted);
		parse_say(p, "the answer's Content-Length \"%s\" is not a number", quoted);
		return OB_EIO;
	}
	if (p->has_length && p->content_length != length) {
		parse_say(p, "the answer has two different Content-Lengths (%llu and %llu)",
			  (unsigned long long)p->content_length, (unsigned long long)length);
		return OB_EIO;
	}
	p->has_length = true;
	p->content_length = length;
	return 0;
}

static int take_transfer_encoding(struct parse *p, const char *value, size_t len)
{
	if (len != 7 || strncasecmp(value, "chunked", 7) != 0) {
		char quoted[QUOTE_MAX + 4];

		quote_text(value, len, quoted);
		parse_say(p, "the answer's Transfer-Encoding \"%s\" is not taken (only chunked is)",
			  quoted);
		return OB_EIO;
	}
	if (p->chunked) {
		parse_say(p, "the answer is chunked twice");
		return OB_EIO;
	}
	p->chunked = true;
	return 0;
}

/* Copies a header value whole into a field of cap bytes, or refuses it (never cut: a cut
 * ETag could match another one). */
static int take_whole(struct parse *p, const char *name, const char *value, size_t len,
		      char *field, size_t cap)
{
	if (len >= cap) {
		parse_say(p, "the answer's %s is %zu bytes, over the %zu this client keeps", name,
			  len, cap - 1);
		return OB_ETOOBIG;
	}
	memcpy(field, value, len);
	field[len] = '\0';
	return 0;
}

static int take_etag(struct parse *p, const char *value, size_t len)
{
	return take_whole(p, "ETag", value, len, p->resp->etag, sizeof(p->resp->etag));
}

static int take_content_type(struct parse *p, const char *value, size_t len)
{
	return take_whole(p, "Content-Type", value, len, p->resp->content_type,
			  sizeof(p->resp->content_type));
}

static int two_digits(const char *text, int *out)
{
	if (!is_digit(text[0]) || !is_digit(text[1]))
		return -1;
	*out = (text[0] - '0') * 10 + (text[1] - '0');
	return 0;
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t year, int month, int day)
{
	int64_t era;
	int64_t year_of_era;
	int64_t day_of_year;
	int64_t day_of_era;

	year -= month <= 2;
	era = (year >= 0 ? year : year - 399) / 400;
	year_of_era = year - era * 400;
	day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
	return era * 146097 + day_of_era - 719468;
}

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") as seconds since the epoch, or -1. */
static int64_t parse_imf_fixdate(const char *text, size_t len)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const int month_days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int day, month = -1, hour, minute, second, century, year_in_century;
	bool day_name = false;
	int year;

	if (len != IMF_FIXDATE_LEN || text[3] != ',' || text[4] != ' ' || text[7] != ' ' ||
	    text[11] != ' ' || text[16] != ' ' || text[19] != ':' || text[22] != ':' ||
	    memcmp(text + 25, " GMT", 4) != 0)
		return -1;
	for (int i = 0; i < 7; i++)
		day_name |= memcmp(text, days + 3 * i, 3) == 0;
	if (!day_name)
		return -1;
	for (int i = 0; i < 12; i++)
		if (memcmp(text + 8, months + 3 * i, 3) == 0)
			month = i + 1;
	if (month < 0 || two_digits(text + 5, &day) || two_digits(text + 12, &century) ||
	    two_digits(text + 14, &year_in_century) || two_digits(text + 17, &hour) ||
	    two_digits(text + 20, &minute) || two_digits(text + 23, &second))
		return -1;
	year = century * 100 + year_in_century;
	if (day < 1 || day > month_days[month - 1] || hour > 23 || minute > 59 || second > 60)
		return -1;
	if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return -1;
	return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
}

static int take_retry_after(struct parse *p, const char *value, size_t len)
{
	int64_t seconds = 0;
	int64_t when;
	size_t i;

	for (i = 0; i < len && is_digit(value[i]); i++)
		if (seconds < INT_MAX)
			seconds = seconds * 10 + (value[i] - '0');
	if (len > 0 && i == len) {
		p->resp->retry_after_s = seconds > INT_MAX ? INT_MAX : (int)seconds;
		return 0;
	}
	when = parse_imf_fixdate(value, len);
	if (when < 0) {
		p->resp->retry_after_s = -1;
		return 0;
	}
	seconds = when - (int64_t)time(NULL);
	p->resp->retry_after_s = seconds < 0 ? 0 : seconds > INT_MAX ? INT_MAX : (int)seconds;
	return 0;
}

/* The headers the parser acts on; the others are read and dropped. */
static const struct {
	const char *name;
	int (*take)(struct parse *p, const char *value, size_t len);
} header_table[] = {
	{ .name = "content-length", .take = take_content_length },
	{ .name = "transfer-encoding", .take = take_transfer_encoding },
	{ .name = "etag", .take = take_etag },
	{ .name = "content-type", .take = take_content_type },
	{ .name = "retry-after", .take = take_retry_after },
};

/* One "Name: value" line of p->line. */
static int parse_header_line(struct parse *p, size_t len)
{
	const char *line = p->line;
	const char *colon;
	const char *value;
	const char *value_end;
	char quoted[QUOTE_MAX + 4];
	size_t name_len;

	if (line[0] == ' ' || line[0] == '\t') {
		parse_say(p, "the answer's headers fold a line (obs-fold), which is refused");
		return OB_EIO;
	}
	colon = memchr(line, ':', len);
	if (!colon) {
		quote_text(line, len, quoted);
		parse_say(p, "the answer's header line \"%s\" has no colon", quoted);
		return OB_EIO;
	}
	name_len = (size_t)(colon - line);
	quote_text(line, name_len, quoted);
	if (!is_token(line, name_len)) {
		parse_say(p, "the answer's header name \"%s\" is not a token", quoted);
		return OB_EIO;
	}
	value = colon + 1;
	value_end = line + len;
	while (value < value_end && (*value == ' ' || *value == '\t'))
		value++;
	while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
		value_end--;
	for (const char *c = value; c < value_end; c++) {
		if (!is_field_char(*c)) {
			parse_say(p, "the answer's header %s holds a control character", quoted);
			return OB_EIO;
		}
	}
	for (size_t i = 0; i < OB_ARRAY_SIZE(header_table); i++)
		if (strlen(header_table[i].name) == name_len &&
		    strncasecmp(line, header_table[i].name, name_len) == 0)
			return header_table[i].take(p, value, (size_t)(value_end - value));
	return 0;
}

/* One head: the status line and headers up to the empty line, in OB_HTTP_HEADERS_MAX
 * bytes. What an earlier (1xx) head said is forgotten. */
static int parse_head(struct parse *p)
{
	size_t budget = OB_HTTP_HEADERS_MAX;
	enum line_result result;
	size_t len;
	int ret;

	p->resp->etag[0] = '\0';
	p->resp->content_type[0] = '\0';
	p->resp->retry_after_s = -1;
	p->has_length = false;
	p->content_length = 0;
	p->chunked = false;
	result = read_line(p, &budget, &len);
	if (result == LINE_END && budget == OB_HTTP_HEADERS_MAX) {
		parse_say(p, "no answer came back (the connection closed first)");
		return OB_EIO;
	}
	if (result != LINE_OK)
		return line_error(p, result, "status line and headers", OB_HTTP_HEADERS_MAX);
	ret = parse_status_line(p, len);
	while (ret == 0) {
		result = read_line(p, &budget, &len);
		if (result != LINE_OK)
			return line_error(p, result, "status line and headers",
					  OB_HTTP_HEADERS_MAX);
		if (len == 0)
			break;
		ret = parse_header_line(p, len);
	}
	if (ret == 0 && p->has_length && p->chunked) {
		parse_say(p, "the answer has both Content-Length and Transfer-Encoding: chunked");
		ret = OB_EIO;
	}
	return ret;
}

/* Room for need bytes and a NUL; need never passes max_body. */
static int body_reserve(struct parse *p, size_t need)
{
	struct body *body = &p->body;
	size_t cap;
	char *data;

	if (need + 1 <= body->cap)
		return 0;
	cap = body->cap ? body->cap * 2 : 256;
	if (cap < need + 1)
		cap = need + 1;
	if (cap > p->max_body + 1)
		cap = p->max_body + 1;
	data = realloc(body->data, cap);
	if (!data) {
		parse_say(p, "out of memory for an answer of %zu bytes", need);
		return OB_ENOMEM;
	}
	body->data = data;
	body->cap = cap;
	return 0;
}

/* Appends n bytes of the stream to the body: 0, or OB_EIO when it ended first. */
static int read_exact(struct parse *p, size_t n, const char *what)
{
	size_t want = n;

	while (n > 0) {
		int rc = reader_fill(p);
		size_t take;

		if (rc < 0)
			return rc;
		if (rc == 0) {
			parse_say(p, "the answer ended %zu bytes into %s of %zu", want - n, what,
				  want);
			return OB_EIO;
		}
		take = p->in.len - p->in.pos;
		if (take > n)
			take = n;
		memcpy(p->body.data + p->body.len, p->in.buf + p->in.pos, take);
		p->in.pos += take;
		p->body.len += take;
		n -= take;
	}
	return 0;
}

static int too_big(struct parse *p)
{
	parse_say(p, "the answer's body is over the %zu bytes taken", p->max_body);
	return OB_ETOOBIG;
}

static int read_length_body(struct parse *p)
{
	int ret;

	if (p->content_length > p->max_body)
		return too_big(p);
	ret = body_reserve(p, (size_t)p->content_length);
	if (ret == 0)
		ret = read_exact(p, (size_t)p->content_length, "its body");
	return ret;
}

/* A chunk-size line: hex, then optional whitespace and ";extensions", which are dropped. */
static int parse_chunk_size(struct parse *p, size_t len, size_t *extensions_left,
			    size_t *size)
{
	const char *line = p->line;
	size_t value = 0;
	size_t i = 0;
	size_t rest;

	for (; i < len && ob_hex_digit(line[i]) >= 0; i++) {
		if (value > (p->max_body - p->body.len) >> 4)
			return too_big(p);
		value = value << 4 | (size_t)ob_hex_digit(line[i]);
	}
	rest = i;
	while (rest < len && (line[rest] == ' ' || line[rest] == '\t'))
		rest++;
	if (i == 0 || (rest < len && line[rest] != ';')) {
		char quoted[QUOTE_MAX + 4];

		quote_text(line, strcspn(line, ";"), quoted);
		parse_say(p, "the answer's chunk size \"%s\" is not hex", quoted);
		return OB_EIO;
	}
	if (len - i > *extensions_left) {
		parse_say(p, "the answer's chunk extensions take more than %d bytes",
			  CHUNK_EXTENSIONS_MAX);
		return OB_ETOOBIG;
	}
	*extensions_left -= len - i;
	if (value > p->max_body - p->body.len)
		return too_big(p);
	*size = value;
	return 0;
}

static int read_chunked_body(struct parse *p)
{
	size_t extensions_left = CHUNK_EXTENSIONS_MAX;
	size_t trailer_budget = OB_HTTP_HEADERS_MAX;
	enum line_result result;
	size_t len;
	size_t size;

	for (;;) {
		size_t budget = CHUNK_LINE_MAX;
		int ret;

		result = read_line(p, &budget, &len);
		if (result != LINE_OK)
			return line_error(p, result, "chunk size lines", CHUNK_LINE_MAX);
		ret = parse_chunk_size(p, len, &extensions_left, &size);
		if (ret != 0)
			return ret;
		if (size == 0)
			break;
		ret = body_reserve(p, p->body.len + size);
		if (ret == 0)
			ret = read_exact(p, size, "a chunk");
		if (ret != 0)
			return ret;
		budget = 2;
		result = read_line(p, &budget, &len);
		if (result == LINE_END || result == LINE_READ_FAILED)
			return line_error(p, result, "chunks", 0);
		if (result != LINE_OK || len != 0) {
			parse_say(p, "the answer's chunk of %zu bytes is not followed by CRLF",
				  size);
			return OB_EIO;
		}
	}
	/* Trailer fields are read and dropped, up to the empty line. */
	do {
		result = read_line(p, &trailer_budget, &len);
		if (result != LINE_OK)
			return line_error(p, result, "trailers", OB_HTTP_HEADERS_MAX);
	} while (len != 0);
	return 0;
}

static int read_body_to_end(struct parse *p)
{
	for (;;) {
		int rc = reader_fill(p);
		size_t take;

		if (rc <= 0)
			return rc;
		take = p->in.len - p->in.pos;
		if (take > p->max_body - p->body.len)
			return too_big(p);
		rc = body_reserve(p, p->body.len + take);
		if (rc != 0)
			return rc;
		memcpy(p->body.data + p->body.len, p->in.buf + p->in.pos, take);
		p->body.len += take;
		p->in.pos += take;
	}
}

int ob_cloud_http_parse_response(ob_http_read_fn read, void *ctx, bool head_request,
				 size_t max_body, struct ob_http_response *resp, char *err,
				 size_t err_len)
{
	struct parse *p;
	int interim = 0;
	int ret;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	p = calloc(1, sizeof(*p));
	if (!p) {
		say(err, err_len, "out of memory for the answer's parser");
		return OB_ENOMEM;
	}
	p->in.read = read;
	p->in.ctx = ctx;
	p->head_request = head_request;
	p->max_body = max_body ? max_body : DEFAULT_MAX_BODY;
	if (p->max_body > SIZE_MAX / 2)
		p->max_body = SIZE_MAX / 2;
	p->resp = resp;
	p->err = err;
	p->err_len = err_len;
	for (;;) {
		ret = parse_head(p);
		if (ret != 0)
			goto out_free_parser;
		if (resp->status >= 200)
			break;
		if (resp->status == 101) {
			parse_say(p, "the answer switched protocols (101), which was not "
				  "asked for");
			ret = OB_EIO;
			goto out_free_parser;
		}
		if (++interim > INTERIM_MAX) {
			parse_say(p, "the answer sent more than %d interim (1xx) answers",
				  INTERIM_MAX);
			ret = OB_EIO;
			goto out_free_parser;
		}
	}
	if (head_request || resp->status == 204 || resp->status == 304)
		ret = body_reserve(p, 0);
	else if (p->chunked)
		ret = read_chunked_body(p);
	else if (p->has_length)
		ret = read_length_body(p);
	else
		ret = read_body_to_end(p);
	if (ret == 0 && !p->body.data)
		ret = body_reserve(p, 0);
	if (ret != 0)
		goto out_free_parser;
	p->body.data[p->body.len] = '\0';
	resp->body = p->body.data;
	resp->body_len = p->body.len;
	p->body.data = NULL;
out_free_parser:
	free(p->body.data);
	free(p);
	if (ret != 0)
		ob_cloud_http_response_clear(resp);
	return ret;
}
