/* The playback origin: GET and HEAD of the files the packager publishes under
 * DATA_DIR/live/<channel>/, with byte ranges, validators, caching and CORS for players and
 * CDNs. A public channel is served under /live/<channel>/ to anyone; a premium one only
 * under /premium/live/<channel>/ and only with a playback token the entitlement module
 * accepts, which the origin then carries into the URIs of the playlists it serves (or into
 * a cookie scoped to the channel). The request path is checked against the few file forms
 * the packager writes before anything on disk is touched. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access/entitle.h"
#include "access/token.h"
#include "api/internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "generated/autoconf.h"

#define MODULE "origin"
#define LIVE_PREFIX "/live/"
#define LIVE_DIR "live"
#define TRACK_DIGITS_MAX 3   /* v0 … v999 */
#define NUMBER_DIGITS_MAX 20 /* any uint64_t */
#define SEND_CHUNK_SMALL 16384          /* on the stack, when the thread's buffer is missing */
#define SEND_CHUNK (512 * 1024)         /* per worker thread: a segment in one or two writes */
#define ECHO_MAX 64          /* characters of a request path quoted back in an error */

/* Premium responses: the same lifetimes, but for the player alone. A rewritten playlist
 * holds the viewer's token, and a shared cache that does not check tokens must not hand a
 * premium segment to anyone; a CDN that enforces the token at its edge can override this. */
#define PREMIUM_PLAYLIST_CACHE "private, max-age=1"
#define PREMIUM_SEGMENT_CACHE "private, max-age=31536000, immutable"
#define PLAYLIST_MAX_BYTES (8 * 1024 * 1024) /* a rewritten playlist is read whole */
#define TOKEN_URI_MAX (3 * OB_TOKEN_MAX_CHARS + 1)
#define DENIED_HEADER "X-Access-Denied"

/* Playlists and the MPD change with every segment, so a CDN may keep them only briefly;
 * one second (rather than no-cache) still lets it answer a crowd of players with one fetch
 * per second instead of passing every poll through to the box. */
#define PLAYLIST_CACHE "public, max-age=1"
/* The packager never reuses a segment name (numbers and init names are unique per run),
 * so once a segment exists its bytes never change. */
#define SEGMENT_CACHE "public, max-age=31536000, immutable"

static const char cors_headers[] =
	"Access-Control-Allow-Origin: *\r\n"
	"Access-Control-Expose-Headers: Content-Length, Content-Range, Date, " DENIED_HEADER "\r\n";

static const char preflight_headers[] =
	"Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
	"Access-Control-Allow-Headers: Range, " OB_TOKEN_NAME_DEFAULT "\r\n"
	"Access-Control-Max-Age: 86400\r\n";

/* One form of file name under a channel's directory. */
struct origin_form {
	const char *pattern;       /* literal text, {track} (v0, a0, …) and {n} (a decimal) */
	const char *mime;          /* Content-Type (for a video track's file) */
	const char *audio_mime;    /* Content-Type for an audio track's file; NULL: mime */
	const char *cache_control;
	bool playlist;
	bool mpd;
};

/* Every file the origin serves, by the packaging options that write it. */
static const struct origin_form forms[] = {
#if defined(CONFIG_PKG_HLS) || defined(CONFIG_PKG_HLS_TS)
	{ .pattern = "master.m3u8", .mime = "application/vnd.apple.mpegurl",
	  .cache_control = PLAYLIST_CACHE, .playlist = true },
#endif
#ifdef CONFIG_PKG_DASH
	{ .pattern = "manifest.mpd", .mime = "application/dash+xml",
	  .cache_control = PLAYLIST_CACHE, .playlist = true, .mpd = true },
#endif
#if defined(CONFIG_PKG_HLS) || defined(CONFIG_PKG_HLS_TS)
	{ .pattern = "{track}.m3u8", .mime = "application/vnd.apple.mpegurl",
	  .cache_control = PLAYLIST_CACHE, .playlist = true },
#endif
#if defined(CONFIG_PKG_HLS) || defined(CONFIG_PKG_DASH)
	{ .pattern = "{track}/init-{n}.mp4", .mime = "video/mp4", .audio_mime = "audio/mp4",
	  .cache_control = SEGMENT_CACHE },
	{ .pattern = "{track}/{n}.m4s", .mime = "video/mp4", .audio_mime = "audio/mp4",
	  .cache_control = SEGMENT_CACHE },
#endif
#ifdef CONFIG_PKG_HLS_TS
	{ .pattern = "master-ts.m3u8", .mime = "application/vnd.apple.mpegurl",
	  .cache_control = PLAYLIST_CACHE, .playlist = true },
	{ .pattern = "{track}-ts.m3u8", .mime = "application/vnd.apple.mpegurl",
	  .cache_control = PLAYLIST_CACHE, .playlist = true },
	{ .pattern = "{track}/{n}.ts", .mime = "video/mp2t", .cache_control = SEGMENT_CACHE },
#endif
	{ .pattern = NULL },
};

/* Copies text for an error message: at most ECHO_MAX characters, every byte outside
 * printable ASCII and every '"' or '\\' replaced by '?', so the message stays valid UTF-8,
 * short and unambiguous whatever a client sent. */
static void echo_text(const char *text, char *out, size_t out_len)
{
	size_t n = 0;

	for (; *text && n + 1 < out_len && n < ECHO_MAX; text++, n++) {
		unsigned char c = (unsigned char)*text;

		out[n] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
	}
	out[n] = '\0';
	if (*text && out_len > 4 && n + 3 < out_len)
		memcpy(out + n, "...", 4);
}

/* Length of a decimal number without leading zeros at the start of text, at most
 * max_digits long; 0 when there is none. */
static size_t number_len(const char *text, size_t max_digits)
{
	size_t len = strspn(text, "0123456789");

	if (len == 0 || len > max_digits || (len > 1 && text[0] == '0'))
		return 0;
	return len;
}

/* Matches a whole file name against a form; sets *track_kind to 'v' or 'a' when the form
 * has a track ('\0' otherwise). */
static bool form_matches(const char *pattern, const char *name, char *track_kind)
{
	*track_kind = '\0';
	while (*pattern) {
		size_t len;

		if (strncmp(pattern, "{track}", 7) == 0) {
			if (*name != 'v' && *name != 'a')
				return false;
			len = number_len(name + 1, TRACK_DIGITS_MAX);
			if (len == 0)
				return false;
			*track_kind = *name;
			name += 1 + len;
			pattern += 7;
		} else if (strncmp(pattern, "{n}", 3) == 0) {
			len = number_len(name, NUMBER_DIGITS_MAX);
			if (len == 0)
				return false;
			name += len;
			pattern += 3;
		} else if (*pattern++ != *name++) {
			return false;
		}
	}
	return *name == '\0';
}

/* The forms, for an error message: "master.m3u8, manifest.mpd, {track}.m3u8, ...". */
static void list_forms(char *out, size_t out_len)
{
	size_t used = 0;

	out[0] = '\0';
	for (const struct origin_form *f = forms; f->pattern && used < out_len; f++)
		used += (size_t)snprintf(out + used, out_len - used, "%s%s", used ? ", " : "",
					 f->pattern);
}

int ob_api_origin_parse_path(const char *path, struct ob_origin_file *out, char *err,
			     size_t err_len)
{
	const char *channel;
	const char *name;
	const char *prefix;
	size_t channel_len;
	char echo[ECHO_MAX + 4];
	char known[256];
	bool premium = strncmp(path, OB_PREMIUM_PREFIX LIVE_PREFIX,
			       strlen(OB_PREMIUM_PREFIX LIVE_PREFIX)) == 0;

	memset(out, 0, sizeof(*out));
	prefix = premium ? OB_PREMIUM_PREFIX LIVE_PREFIX : LIVE_PREFIX;
	if (strncmp(path, prefix, strlen(prefix)) != 0) {
		echo_text(path, echo, sizeof(echo));
		snprintf(err, err_len, "\"%s\" is not under %s or %s", echo, LIVE_PREFIX,
			 OB_PREMIUM_PREFIX LIVE_PREFIX);
		return OB_ENOTFOUND;
	}
	out->premium = premium;
	channel = path + strlen(prefix);
	channel_len = strcspn(channel, "/");
	if (channel_len == 0 || channel_len > OB_ORIGIN_CHANNEL_MAX) {
		echo_text(channel, echo, sizeof(echo));
		snprintf(err, err_len,
			 "no channel id in \"%s\": ask for %sCHANNEL/master.m3u8, CHANNEL being "
			 "1 to %d characters of a-z, 0-9, - and _", echo, prefix,
			 OB_ORIGIN_CHANNEL_MAX);
		return OB_EINVAL;
	}
	memcpy(out->channel, channel, channel_len);
	out->channel[channel_len] = '\0';
	if (!ob_is_slug(out->channel, OB_ORIGIN_CHANNEL_MAX)) {
		echo_text(out->channel, echo, sizeof(echo));
		snprintf(err, err_len,
			 "\"%s\" is not a channel id (1 to %d characters of a-z, 0-9, - and _, "
			 "starting with a letter or digit)", echo, OB_ORIGIN_CHANNEL_MAX);
		out->channel[0] = '\0';
		return OB_EINVAL;
	}
	name = channel + channel_len + (channel[channel_len] == '/');
	if (strlen(name) <= OB_ORIGIN_NAME_MAX) {
		for (const struct origin_form *f = forms; f->pattern; f++) {
			char track_kind;

			if (!form_matches(f->pattern, name, &track_kind))
				continue;
			ob_strlcpy(out->name, name, sizeof(out->name));
			out->mime = track_kind == 'a' && f->audio_mime ? f->audio_mime : f->mime;
			out->cache_control = premium ? (f->playlist ? PREMIUM_PLAYLIST_CACHE
								    : PREMIUM_SEGMENT_CACHE)
						     : f->cache_control;
			out->playlist = f->playlist;
			out->mpd = f->mpd;
			return 0;
		}
	}
	echo_text(name, echo, sizeof(echo));
	list_forms(known, sizeof(known));
	snprintf(err, err_len,
		 "\"%s\" is not a file a live channel has: ask for one of %s under %s%s/ "
		 "({track} is v0, v1, ... or a0; {n} a number)", echo, known, prefix,
		 out->channel);
	out->channel[0] = '\0';
	return OB_ENOTFOUND;
}

/* Reads a decimal number at *text, advancing past it; saturates at UINT64_MAX. False when
 * there is no digit. */
static bool parse_u64(const char **text, uint64_t *value)
{
	const char *p = *text;

	*value = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		*value = *value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : *value * 10 + digit;
	}
	*text = p;
	return true;
}

enum ob_origin_range ob_api_origin_range(const char *header, uint64_t size, uint64_t *first,
					 uint64_t *last)
{
	const char *p = header;
	uint64_t a = 0;
	uint64_t b = UINT64_MAX;

	if (!header || strncasecmp(p, "bytes=", 6) != 0)
		return OB_ORIGIN_RANGE_WHOLE;
	p += 6;
	p += strspn(p, " \t");
	if (*p == '-') {
		/* The last b bytes. */
		p++;
		if (!parse_u64(&p, &b))
			return OB_ORIGIN_RANGE_WHOLE;
		p += strspn(p, " \t");
		if (*p != '\0')
			return OB_ORIGIN_RANGE_WHOLE;
		if (b == 0 || size == 0)
			return OB_ORIGIN_RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return OB_ORIGIN_RANGE_PARTIAL;
	}
	if (!parse_u64(&p, &a) || *p++ != '-')
		return OB_ORIGIN_RANGE_WHOLE;
	if (*p >= '0' && *p <= '9')
		parse_u64(&p, &b);
	p += strspn(p, " \t");
	/* Several ranges, another syntax or last < first: ignored, as RFC 9110 lets a server
	 * do; the whole file answers. */
	if (*p != '\0' || b < a)
		return OB_ORIGIN_RANGE_WHOLE;
	if (a >= size)
		return OB_ORIGIN_RANGE_UNSATISFIABLE;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return OB_ORIGIN_RANGE_PARTIAL;
}

/* An HTTP date (RFC 9110 IMF-fixdate) into out (at least 30 bytes). */
static void http_date(time_t when, char *out, size_t out_len)
{
	struct tm tm;

	if (!gmtime_r(&when, &tm) || strftime(out, out_len, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		ob_strlcpy(out, "Thu, 01 Jan 1970 00:00:00 GMT", out_len);
}

/* Sends an error document with the origin's headers (Date, CORS) and more (or NULL). */
static void reply_error(struct ob_req *req, int status, const char *code, const char *more,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_error(struct ob_req *req, int status, const char *code, const char *more,
			const char *fmt, ...)
{
	char message[768];
	char headers[512];
	char date[40];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	http_date(time(NULL), date, sizeof(date));
	snprintf(headers, sizeof(headers), "Date: %s\r\n%s%s", date, cors_headers,
		 more ? more : "");
	ob_api_reply_error_headers(req, status, code, headers, message);
}

/* What an allowed premium request carries on into its response. */
struct carry {
	char uri_token[TOKEN_URI_MAX];  /* the token as it travels in a URI query or a cookie */
	bool rewrite;                   /* write it into the URIs of a playlist or the MPD */
	bool set_cookie;                /* set it as a cookie scoped to the channel */
	int64_t max_age_s;              /* the cookie's lifetime: until the token expires */
};

/* Bytes that may stand in a token carried in a URI query, an HLS attribute, an XML
 * attribute and a cookie alike. */
static bool uri_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-._~!*/:=@", c) != NULL;
}

bool ob_api_origin_token_for_uri(const char *token, char *out, size_t out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(token);
	bool all_safe = true;
	size_t n = 0;

	for (size_t i = 0; i < len && all_safe; i++)
		all_safe = uri_safe((unsigned char)token[i]);
	if (all_safe)
		return ob_strlcpy(out, token, out_len) == 0;
	/* Encoded whole, '=' included: a value without a literal '=' is decoded once when the
	 * token comes back. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)token[i];
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';

		if (n + (plain ? 1 : 3) >= out_len)
			return false;
		if (plain) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return true;
}

/* Appends text[0..len) to out. */
static void put_slice(struct ob_strbuf *out, const char *text, size_t len)
{
	if (len > 0)
		ob_strbuf_printf(out, "%.*s", (int)len, text);
}

/* Appends a URI (uri_len bytes) with the token query added, separated by sep_plain ("?")
 * or, when the URI has a query already, by sep_more ("&" or "&amp;"). */
static void put_uri(struct ob_strbuf *out, const char *uri, size_t uri_len, const char *query,
		    const char *sep_more)
{
	put_slice(out, uri, uri_len);
	ob_strbuf_puts(out, memchr(uri, '?', uri_len) ? sep_more : "?");
	ob_strbuf_puts(out, query);
}

/* Appends one line with the token added to every value of the attributes named in attrs
 * (each written with its opening quote, such as "URI=\"" or " media=\""). */
static void carry_attributes(struct ob_strbuf *out, const char *p, const char *end,
			     const char *const *attrs, const char *query, const char *sep_more)
{
	while (p < end) {
		const char *hit = NULL;
		size_t hit_len = 0;

		for (const char *const *a = attrs; *a; a++) {
			size_t alen = strlen(*a);

			for (const char *q = p; q + alen <= end; q++)
				if (memcmp(q, *a, alen) == 0) {
					if (!hit || q < hit) {
						hit = q;
						hit_len = alen;
					}
					break;
				}
		}
		if (!hit) {
			put_slice(out, p, (size_t)(end - p));
			return;
		}
		{
			const char *value = hit + hit_len;
			const char *close = memchr(value, '"', (size_t)(end - value));

			put_slice(out, p, (size_t)(value - p));
			if (!close) {
				put_slice(out, value, (size_t)(end - value));
				return;
			}
			put_uri(out, value, (size_t)(close - value), query, sep_more);
			p = close;
		}
	}
}

bool ob_api_origin_carry_token(const char *text, size_t len, bool mpd, const char *query,
			       struct ob_strbuf *out)
{
	static const char *const hls_attrs[] = { "URI=\"", NULL };
	static const char *const mpd_attrs[] = { " media=\"", " initialization=\"", NULL };
	const char *p = text;
	const char *end = text + len;

	ob_strbuf_reset(out);
	ob_strbuf_puts(out, "");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *content_end = line_end;

		if (content_end > p && content_end[-1] == '\r')
			content_end--;
		if (mpd)
			carry_attributes(out, p, content_end, mpd_attrs, query, "&amp;");
		else if (*p == '#')
			carry_attributes(out, p, content_end, hls_attrs, query, "&");
		else if (strspn(p, " \t") < (size_t)(content_end - p))
			put_uri(out, p, (size_t)(content_end - p), query, "&");
		put_slice(out, content_end, (size_t)(line_end - content_end));
		if (nl)
			ob_strbuf_puts(out, "\n");
		p = nl ? nl + 1 : end;
	}
	return !ob_strbuf_failed(out);
}

/* Sends the refusal of a premium request: 401 without a token, 403 otherwise, the reason
 * in a header, nothing cached. */
static void deny(struct ob_req *req, const struct ob_entitle_decision *decision)
{
	char headers[256];
	bool missing = decision->result == OB_ENTITLE_MISSING;

	snprintf(headers, sizeof(headers), "%s: %s\r\n%s",
		 DENIED_HEADER, ob_access_entitle_reason(decision->result),
		 missing ? "WWW-Authenticate: EdgeAuth token=\"" OB_TOKEN_NAME_DEFAULT "\"\r\n" : "");
	reply_error(req, missing ? 401 : 403, "access_denied", headers, "%s", decision->message);
}

/* Decides whether this request may read this file: the channel must exist and be asked
 * under the prefix of its class; premium content needs a token the entitlement module
 * accepts. Returns true to serve (with *carry filled for premium content); otherwise has
 * sent the refusal. */
static bool access_allowed(struct ob_req *req, const struct ob_origin_file *file,
			   const char *path, struct carry *carry)
{
	struct ob_entitle *ent = req->api->entitle;
	enum ob_access_class access = ob_access_entitle_content(ent, file->channel, NULL);
	char token[OB_TOKEN_MAX_CHARS + 1];
	enum ob_token_location where = OB_TOKEN_FROM_NONE;
	struct ob_entitle_decision decision;
	struct ob_entitle_request request = {
		.path = path,
		.client_addr = req->remote_addr,
		.now_s = ob_time_wall_ms() / 1000,
	};
	int ret;

	memset(carry, 0, sizeof(*carry));
	if (access == OB_CLASS_UNKNOWN) {
		reply_error(req, 404, "not_found", NULL, "there is no channel \"%s\" on this box",
			    file->channel);
		return false;
	}
	if ((access == OB_CLASS_PREMIUM) != file->premium) {
		if (access == OB_CLASS_PREMIUM)
			reply_error(req, 404, "not_found", NULL,
				    "channel \"%s\" is not public: it plays under "
				    OB_PREMIUM_PREFIX LIVE_PREFIX "%s/ with a playback token",
				    file->channel, file->channel);
		else
			reply_error(req, 404, "not_found", NULL,
				    "channel \"%s\" is public: it plays under " LIVE_PREFIX "%s/",
				    file->channel, file->channel);
		return false;
	}
	if (!file->premium)
		return true;
	ret = ob_access_token_extract(NULL, req->info->query_string,
				      mg_get_header(req->conn, "Cookie"),
				      mg_get_header(req->conn, OB_TOKEN_NAME_DEFAULT), token,
				      sizeof(token), &where);
	if (ret == 0) {
		request.token = token;
		request.token_len = strlen(token);
	} else if (ret != OB_ENOTFOUND) {
		request.unreadable = true;
	}
	if (ob_access_entitle_check(ent, &request, &decision) != OB_ENTITLE_OK) {
		deny(req, &decision);
		return false;
	}
	if (!ob_api_origin_token_for_uri(token, carry->uri_token, sizeof(carry->uri_token))) {
		reply_error(req, 400, "invalid", NULL, "the playback token is too long to carry on");
		return false;
	}
	carry->rewrite = decision.transport == OB_TRANSPORT_QUERY;
	carry->set_cookie = decision.transport == OB_TRANSPORT_COOKIE &&
			    where != OB_TOKEN_FROM_COOKIE;
	carry->max_age_s = decision.expiry - request.now_s;
	if (carry->max_age_s < 0)
		carry->max_age_s = 0;
	return true;
}

/* A strong validator of the file as it is on disk. The packager publishes by rename, so a
 * new version of a playlist is a new inode. */
static void make_etag(const struct stat *st, char *out, size_t out_len)
{
	snprintf(out, out_len, "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
		 (unsigned long long)st->st_size,
		 (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
			 (unsigned long long)st->st_mtim.tv_nsec);
}

/* True when an If-None-Match list names etag (weak comparison) or is "*". */
static bool etag_listed(const char *list, const char *etag)
{
	size_t etag_len = strlen(etag);

	while (*list) {
		size_t len;

		list += strspn(list, " \t,");
		if (strncmp(list, "W/", 2) == 0)
			list += 2;
		len = strcspn(list, ", \t");
		if ((len == 1 && list[0] == '*') ||
		    (len == etag_len && strncmp(list, etag, len) == 0))
			return true;
		list += len;
	}
	return false;
}

/* True when the request's validators say the client's copy is current (answer 304). */
static bool not_modified(struct mg_connection *conn, const struct stat *st, const char *etag)
{
	const char *none_match = mg_get_header(conn, "If-None-Match");
	const char *since = mg_get_header(conn, "If-Modified-Since");
	struct tm tm = { 0 };
	const char *end;

	if (none_match)
		return etag_listed(none_match, etag);
	if (!since)
		return false;
	end = strptime(since, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return end && *end == '\0' && st->st_mtim.tv_sec <= timegm(&tm);
}

static pthread_key_t send_buffer_key;
static pthread_once_t send_buffer_once = PTHREAD_ONCE_INIT;
static bool send_buffer_ready;

static void send_buffer_init(void)
{
	send_buffer_ready = pthread_key_create(&send_buffer_key, free) == 0;
}

/* The calling worker thread's copy buffer (SEND_CHUNK bytes, freed when the thread ends),
 * or NULL. Few large writes instead of many small ones: each system call costs. */
static char *send_buffer(void)
{
	char *buf;

	pthread_once(&send_buffer_once, send_buffer_init);
	if (!send_buffer_ready)
		return NULL;
	buf = pthread_getspecific(send_buffer_key);
	if (!buf) {
		buf = malloc(SEND_CHUNK);
		if (buf && pthread_setspecific(send_buffer_key, buf) != 0) {
			free(buf);
			buf = NULL;
		}
	}
	return buf;
}

/* Copies len bytes from offset of fd to the client. 0, or OB_EIO when the file ended
 * early or the client went away. */
static int send_body(struct mg_connection *conn, int fd, uint64_t offset, uint64_t len,
		     bool *client_gone)
{
	char small[SEND_CHUNK_SMALL];
	char *buf = send_buffer();
	size_t buf_len = buf ? SEND_CHUNK : sizeof(small);

	if (!buf)
		buf = small;
	*client_gone = false;
	while (len > 0) {
		size_t want = len < buf_len ? (size_t)len : buf_len;
		ssize_t got = pread(fd, buf, want, (off_t)offset);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return OB_EIO;
		if (mg_write(conn, buf, (size_t)got) != (int)got) {
			*client_gone = true;
			return OB_EIO;
		}
		offset += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

/* Reads a whole file of size bytes from fd into a new buffer (*out, NUL-terminated). */
static int read_whole(int fd, uint64_t size, char **out)
{
	char *text = malloc((size_t)size + 1);
	size_t done = 0;

	if (!text)
		return OB_ENOMEM;
	while (done < size) {
		ssize_t got = pread(fd, text + done, (size_t)size - done, (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			free(text);
			return OB_EIO;
		}
		done += (size_t)got;
	}
	text[done] = '\0';
	*out = text;
	return 0;
}

/* Answers a GET or HEAD of a premium playlist or MPD with the viewer's token written into
 * its URIs. Its validator is the file's with the token's hash, so a client's cached copy
 * with another token is not taken for this one; ranges are ignored (the whole document). */
static void serve_rewritten(struct ob_req *req, const struct ob_origin_file *file, int fd,
			    const struct stat *st, const char *file_etag, const struct carry *carry)
{
	struct ob_strbuf body = { 0 };
	char query[TOKEN_URI_MAX + sizeof(OB_TOKEN_NAME_DEFAULT) + 1];
	char etag[96];
	char modified[40];
	char date[40];
	char *text = NULL;
	uint64_t token_hash = 0xcbf29ce484222325ull;
	bool head = strcmp(req->info->request_method, "HEAD") == 0;

	if ((uint64_t)st->st_size > PLAYLIST_MAX_BYTES ||
	    read_whole(fd, (uint64_t)st->st_size, &text) != 0) {
		reply_error(req, 503, "io_error", NULL,
			    "channel \"%s\": %s cannot be read right now; try again", file->channel,
			    file->name);
		return;
	}
	snprintf(query, sizeof(query), OB_TOKEN_NAME_DEFAULT "=%s", carry->uri_token);
	if (!ob_api_origin_carry_token(text, (size_t)st->st_size, file->mpd, query, &body)) {
		reply_error(req, 503, "io_error", NULL,
			    "channel \"%s\": no memory to serve %s; try again", file->channel,
			    file->name);
		goto out_free;
	}
	for (const char *c = carry->uri_token; *c; c++)
		token_hash = (token_hash ^ (unsigned char)*c) * 0x100000001b3ull;
	/* "ino-size-mtime" + "-t" + the token's hash, inside the quotes */
	snprintf(etag, sizeof(etag), "%.*s-t%016llx\"", (int)strlen(file_etag) - 1, file_etag,
		 (unsigned long long)token_hash);
	http_date(st->st_mtim.tv_sec, modified, sizeof(modified));
	http_date(time(NULL), date, sizeof(date));
	if (not_modified(req->conn, st, etag)) {
		req->status = 304;
		mg_printf(req->conn,
			  "HTTP/1.1 304 Not Modified\r\nDate: %s\r\nCache-Control: %s\r\n"
			  "ETag: %s\r\nLast-Modified: %s\r\n%s\r\n",
			  date, file->cache_control, etag, modified, cors_headers);
		goto out_free;
	}
	req->status = 200;
	mg_printf(req->conn,
		  "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		  "Cache-Control: %s\r\nETag: %s\r\nLast-Modified: %s\r\n"
		  "X-Content-Type-Options: nosniff\r\n%s\r\n",
		  date, file->mime, body.len, file->cache_control, etag, modified, cors_headers);
	if (!head && body.len > 0 && mg_write(req->conn, body.data, body.len) != (int)body.len)
		ob_debug(MODULE, "%s left during %s/%s", req->remote_addr, file->channel,
			 file->name);
out_free:
	ob_strbuf_free(&body);
	free(text);
}

/* Answers a GET or HEAD for a file that passed the path and access checks; carry is NULL
 * for public content. */
static void serve_file(struct ob_req *req, const struct ob_origin_file *file,
		       const struct carry *carry)
{
	char path[4096 + 128];
	char etag[64];
	char modified[40];
	char date[40];
	char content_range[96] = "";
	char cookie[TOKEN_URI_MAX + 256] = "";
	char echo[ECHO_MAX + 4];
	bool head = strcmp(req->info->request_method, "HEAD") == 0;
	uint64_t first = 0;
	uint64_t last = 0;
	uint64_t size;
	struct stat st;
	enum ob_origin_range range;
	bool client_gone;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s/%s/%s", req->api->data_dir, LIVE_DIR,
		     file->channel, file->name) >= (int)sizeof(path)) {
		reply_error(req, 500, "internal", NULL, "the data directory path is too long");
		return;
	}
	/* Opened once and read through this descriptor only: a file the packager deletes
	 * after this point is still sent whole. O_NONBLOCK so a FIFO cannot hang the thread;
	 * O_NOFOLLOW so a link planted in the live tree is not followed. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != ELOOP) {
		ob_warn(MODULE, "cannot open %s: %s", path, strerror(errno));
		reply_error(req, 503, "io_error", NULL,
			    "channel \"%s\": %s cannot be read right now; try again",
			    file->channel, file->name);
		return;
	}
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		if (file->playlist)
			reply_error(req, 404, "not_found", NULL,
				    "no channel \"%s\" is live here (its playlists appear once "
				    "every rendition has its first segment)", file->channel);
		else
			reply_error(req, 404, "not_found", NULL,
				    "channel \"%s\" has no %s (segments leave the live window "
				    "after a while; reload the playlist)", file->channel,
				    file->name);
		return;
	}
	size = (uint64_t)st.st_size;
	make_etag(&st, etag, sizeof(etag));
	if (carry && carry->rewrite && file->playlist) {
		serve_rewritten(req, file, fd, &st, etag, carry);
		goto out_close;
	}
	if (carry && carry->set_cookie && file->playlist)
		snprintf(cookie, sizeof(cookie),
			 "Set-Cookie: " OB_TOKEN_NAME_DEFAULT "=%s; Path=" OB_PREMIUM_PREFIX
			 LIVE_PREFIX "%s/; Max-Age=%lld; HttpOnly; %s\r\n",
			 carry->uri_token, file->channel, (long long)carry->max_age_s,
			 req->info->is_ssl ? "Secure; SameSite=None" : "SameSite=Lax");
	http_date(st.st_mtim.tv_sec, modified, sizeof(modified));
	http_date(time(NULL), date, sizeof(date));
	if (not_modified(req->conn, &st, etag)) {
		req->status = 304;
		mg_printf(req->conn,
			  "HTTP/1.1 304 Not Modified\r\nDate: %s\r\nCache-Control: %s\r\n"
			  "ETag: %s\r\nLast-Modified: %s\r\n%s\r\n",
			  date, file->cache_control, etag, modified, cors_headers);
		goto out_close;
	}
	range = ob_api_origin_range(mg_get_header(req->conn, "Range"), size, &first, &last);
	if (range != OB_ORIGIN_RANGE_WHOLE) {
		const char *if_range = mg_get_header(req->conn, "If-Range");

		/* A range of another version of the file is no use: send this one whole. */
		if (if_range && strcmp(if_range, etag) != 0 && strcmp(if_range, modified) != 0)
			range = OB_ORIGIN_RANGE_WHOLE;
	}
	if (range == OB_ORIGIN_RANGE_UNSATISFIABLE) {
		snprintf(content_range, sizeof(content_range), "Content-Range: bytes */%llu\r\n",
			 (unsigned long long)size);
		echo_text(mg_get_header(req->conn, "Range"), echo, sizeof(echo));
		reply_error(req, 416, "range_not_satisfiable", content_range,
			    "the range \"%s\" starts at or past the end of %s (%llu bytes)", echo,
			    file->name, (unsigned long long)size);
		goto out_close;
	}
	if (range == OB_ORIGIN_RANGE_PARTIAL)
		snprintf(content_range, sizeof(content_range),
			 "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)first,
			 (unsigned long long)last, (unsigned long long)size);
	else if (size > 0)
		last = size - 1;
	req->status = range == OB_ORIGIN_RANGE_PARTIAL ? 206 : 200;
	mg_printf(req->conn,
		  "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %llu\r\n%s"
		  "Accept-Ranges: bytes\r\nCache-Control: %s\r\nETag: %s\r\nLast-Modified: %s\r\n"
		  "X-Content-Type-Options: nosniff\r\n%s%s\r\n",
		  req->status, req->status == 206 ? "Partial Content" : "OK", date, file->mime,
		  (unsigned long long)(size ? last - first + 1 : 0), content_range,
		  file->cache_control, etag, modified, cookie, cors_headers);
	if (head || size == 0)
		goto out_close;
	if (send_body(req->conn, fd, first, last - first + 1, &client_gone) != 0) {
		if (client_gone)
			ob_debug(MODULE, "%s left during %s/%s", req->remote_addr, file->channel,
				 file->name);
		else
			ob_warn(MODULE, "%s ended before its %llu bytes were sent", path,
				(unsigned long long)(last - first + 1));
	}
out_close:
	close(fd);
}

int ob_api_origin_request(struct mg_connection *conn, void *cbdata)
{
	struct ob_req req = {
		.conn = conn,
		.info = mg_get_request_info(conn),
		.api = cbdata,
	};
	struct ob_origin_file file;
	struct carry carry;
	const char *method = req.info->request_method;
	/* Decoded but with dot segments and doubled slashes kept, so the check sees them. */
	const char *path = req.info->local_uri_raw ? req.info->local_uri_raw : req.info->local_uri;
	char err[512];
	int64_t started = ob_time_mono_ms();

	atomic_fetch_add(&req.api->in_flight, 1);
	ob_strlcpy(req.remote_addr, req.info->remote_addr, sizeof(req.remote_addr));
	if (atomic_load(&req.api->stopping)) {
		reply_error(&req, 503, "stopping", "Connection: close\r\n",
			    "the box is stopping; try again in a moment");
		goto out;
	}
	if (strcmp(method, "OPTIONS") == 0) {
		char headers[512];

		snprintf(headers, sizeof(headers), "%s%s", cors_headers, preflight_headers);
		ob_api_reply_empty(&req, headers);
		goto out;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		reply_error(&req, 405, "method_not_allowed", "Allow: GET, HEAD, OPTIONS\r\n",
			    "%s files are read-only: use GET or HEAD", LIVE_PREFIX);
		goto out;
	}
	if (ob_api_origin_parse_path(path ? path : "", &file, err, sizeof(err)) != 0) {
		reply_error(&req, 404, "not_found", NULL, "%s", err);
		goto out;
	}
	if (!access_allowed(&req, &file, path, &carry))
		goto out;
	serve_file(&req, &file, file.premium ? &carry : NULL);
out:
	ob_debug(MODULE, "%s %s %s -> %d (%lld ms)", req.remote_addr, method,
		 req.info->local_uri, req.status, (long long)(ob_time_mono_ms() - started));
	atomic_fetch_sub(&req.api->in_flight, 1);
	return req.status ? req.status : 500;
}
