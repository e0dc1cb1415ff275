#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/util.h"
#include "engine/engine.h"

static const struct ob_json_field channel_fields[] = {
	{ "id", OB_JSON_STRING, false },
	{ "name", OB_JSON_STRING, true },
	{ "input", OB_JSON_OBJECT, true },
	{ "ladder", OB_JSON_STRING, false },
	{ "segment_seconds", OB_JSON_INTEGER, false },
	{ "live_window_segments", OB_JSON_INTEGER, false },
	{ "dvr_window_seconds", OB_JSON_INTEGER, false },
	{ "access", OB_JSON_STRING, false },
	{ "risk_class", OB_JSON_STRING, false },
	{ "backend", OB_JSON_STRING, false },
	{ "autostart", OB_JSON_BOOLEAN, false },
	{ "hls_ts", OB_JSON_BOOLEAN, false },
	{ "software_fallback", OB_JSON_BOOLEAN, false },
};

static const struct ob_json_field input_fields[] = {
	{ "url", OB_JSON_STRING, true },
	{ "backup_url", OB_JSON_STRING_OR_NULL, false },
	{ "failover_after_s", OB_JSON_INTEGER, false },
};

static const struct {
	const char *name;
	long long min;
	long long max;
	long long fallback;
	const char *unit;
} channel_ints[] = {
	{ "segment_seconds", 2, 6, 4, "s" },
	{ "live_window_segments", 3, 30, 6, "segments" },
	{ "dvr_window_seconds", 0, 86400, 0, "s (0: no DVR)" },
};

#define DEFAULT_LADDER "720p-3"
#define DEFAULT_FAILOVER_S 3

static const char *const access_classes[] = { "public", "premium", NULL };
/* "auto" and every backend a build may have; drivers-glue says at start which are here. */
static const char *const backends[] = { "auto", "software", "vaapi", "qsv", "nvenc", NULL };

/* The parts of SCHEME://AUTHORITY/PATH?QUERY that the checks need. */
struct url_parts {
	char scheme[16];
	char host[256];
	long port;          /* -1 when absent */
	const char *path;   /* from the '/' after the authority ("" when none) */
	const char *query;  /* after '?', or NULL */
};

static int split_url(const char *url, struct url_parts *u)
{
	const char *colon = strchr(url, ':');
	const char *auth;
	const char *auth_end;
	const char *host_end;
	size_t len;

	memset(u, 0, sizeof(*u));
	u->port = -1;
	if (!colon || colon == url || (size_t)(colon - url) >= sizeof(u->scheme) ||
	    strncmp(colon, "://", 3) != 0)
		return OB_EINVAL;
	for (const char *p = url; p < colon; p++)
		u->scheme[p - url] = (char)tolower((unsigned char)*p);
	auth = colon + 3;
	auth_end = auth + strcspn(auth, "/?");
	u->path = auth_end[0] == '/' ? auth_end : "";
	u->query = strchr(auth_end, '?');
	if (u->query)
		u->query++;
	if (*auth == '[') { /* [IPv6]:port */
		host_end = memchr(auth, ']', (size_t)(auth_end - auth));
		if (!host_end)
			return OB_EINVAL;
		len = (size_t)(host_end - auth - 1);
		if (len >= sizeof(u->host))
			return OB_EINVAL;
		memcpy(u->host, auth + 1, len);
		host_end++;
	} else {
		host_end = memchr(auth, ':', (size_t)(auth_end - auth));
		if (!host_end)
			host_end = auth_end;
		len = (size_t)(host_end - auth);
		if (len >= sizeof(u->host))
			return OB_EINVAL;
		memcpy(u->host, auth, len);
	}
	if (host_end < auth_end) {
		char *end;

		if (*host_end != ':')
			return OB_EINVAL;
		u->port = strtol(host_end + 1, &end, 10);
		if (end != auth_end || end == host_end + 1 || u->port < 1 || u->port > 65535)
			return OB_EINVAL;
	}
	return 0;
}

/* The value of name in a query string ("a=1&b=2") into out; false when absent. */
static bool query_value(const char *query, const char *name, char *out, size_t out_len)
{
	size_t name_len = strlen(name);

	while (query && *query) {
		size_t item = strcspn(query, "&");

		if (item > name_len && strncmp(query, name, name_len) == 0 && query[name_len] == '=') {
			size_t value_len = item - name_len - 1;

			if (value_len >= out_len)
				value_len = out_len - 1;
			memcpy(out, query + name_len + 1, value_len);
			out[value_len] = '\0';
			return true;
		}
		query += item + (query[item] == '&');
	}
	return false;
}

static int check_test_pattern(const struct url_parts *u, const char *where, char *err,
			      size_t err_len)
{
	char value[32];
	int width;
	int height;
	int rate;

	if (strcmp(u->host, "pattern") != 0 || u->port != -1 || *u->path) {
		snprintf(err, err_len, "%s: the test source is test://pattern?size=WxH&rate=N", where);
		return OB_EINVAL;
	}
	if (query_value(u->query, "size", value, sizeof(value)) &&
	    (sscanf(value, "%dx%d", &width, &height) != 2 || width < 128 || width > 3840 ||
	     height < 96 || height > 2160 || width % 2 || height % 2)) {
		snprintf(err, err_len, "%s: size must be WIDTHxHEIGHT, even, from 128x96 to 3840x2160",
			 where);
		return OB_EINVAL;
	}
	if (query_value(u->query, "rate", value, sizeof(value)) &&
	    (sscanf(value, "%d", &rate) != 1 || rate < 1 || rate > 120)) {
		snprintf(err, err_len, "%s: rate must be 1 to 120 frames per second", where);
		return OB_EINVAL;
	}
	if (query_value(u->query, "type", value, sizeof(value)) && strcmp(value, "bars") != 0 &&
	    strcmp(value, "moving") != 0) {
		snprintf(err, err_len, "%s: type must be \"bars\" or \"moving\"", where);
		return OB_EINVAL;
	}
	return 0;
}

/* file:NAME names a file in the media library (DATA_DIR/media): relative, no "..". */
static int check_file(const char *url, const char *where, char *err, size_t err_len)
{
	static const char *const queries[] = { "loop=1", "loop=true", "loop=0", "loop=false",
						NULL };
	const char *path = url + strlen("file:");
	size_t len = strcspn(path, "?");

	if (path[len] == '?' && !ob_str_in_list(queries, path + len + 1)) {
		snprintf(err, err_len, "%s: a file input takes only ?loop=1 (play it again at its "
				       "end) or ?loop=0",
			 where);
		return OB_EINVAL;
	}
	if (len == 0 || path[0] == '/' || strstr(path, "//")) {
		snprintf(err, err_len,
			 "%s: a file input names a file in the media library (DATA_DIR/media) by its "
			 "relative path, like file:promo/loop.mp4",
			 where);
		return OB_EINVAL;
	}
	for (const char *p = path, *end = path + len; p < end;) {
		size_t part = strcspn(p, "/?");

		if (p + part > end)
			part = (size_t)(end - p);
		if (part == 2 && strncmp(p, "..", 2) == 0) {
			snprintf(err, err_len, "%s: \"..\" may not appear in a file input's path", where);
			return OB_EINVAL;
		}
		p += part;
		if (p < end && *p == '/')
			p++;
		else
			break;
	}
	return 0;
}

int ob_engine_input_url_check(const char *url, const char *where, char *err, size_t err_len)
{
	struct url_parts u;

	if (ob_utf8_chars(url) < 1 || strlen(url) > 1024 || strpbrk(url, " \t\"'\\<>")) {
		snprintf(err, err_len, "%s: must be a URL of at most 1024 characters, without spaces "
				       "or quotes",
			 where);
		return OB_EINVAL;
	}
	if (strncmp(url, "file:", 5) == 0)
		return check_file(url, where, err, err_len);
	if (split_url(url, &u) != 0) {
		snprintf(err, err_len, "%s: \"%.64s\" is not a URL of the form scheme://host:port/...",
			 where, url);
		return OB_EINVAL;
	}
	if (strcmp(u.scheme, "test") == 0)
		return check_test_pattern(&u, where, err, err_len);
	if (strcmp(u.scheme, "srt") == 0 || strcmp(u.scheme, "udp") == 0) {
		if (u.port == -1) {
			snprintf(err, err_len, "%s: %s needs a port: %s://HOST:PORT (HOST 0.0.0.0 or "
					       "empty to listen%s)",
				 where, u.scheme, u.scheme,
				 strcmp(u.scheme, "udp") == 0 ? ", or a multicast group" : "");
			return OB_EINVAL;
		}
		return 0;
	}
	if (strcmp(u.scheme, "rtmp") == 0) {
		const char *stream = u.path[0] ? strchr(u.path + 1, '/') : NULL;

		if (!u.host[0] || !stream || !stream[1]) {
			snprintf(err, err_len, "%s: RTMP needs rtmp://HOST[:PORT]/APP/STREAM (HOST "
					       "0.0.0.0 to take a publish)",
				 where);
			return OB_EINVAL;
		}
		return 0;
	}
	if (strcmp(u.scheme, "rtsp") == 0 || strcmp(u.scheme, "http") == 0 ||
	    strcmp(u.scheme, "https") == 0) {
		if (!u.host[0]) {
			snprintf(err, err_len, "%s: %s needs a host", where, u.scheme);
			return OB_EINVAL;
		}
		return 0;
	}
	snprintf(err, err_len,
		 "%s: scheme \"%s\" is not an input the box takes; use srt, rtmp, udp, rtsp, http, "
		 "https, file or test",
		 where, u.scheme);
	return OB_EINVAL;
}

static int check_id(const char *id, char *err, size_t err_len)
{
	if (ob_is_slug(id, OB_CHANNEL_ID_MAX))
		return 0;
	snprintf(err, err_len,
		 "id: must be 1 to %d characters of a-z, 0-9, '-' or '_', starting with a "
		 "letter or digit (it is part of the playback URL)",
		 OB_CHANNEL_ID_MAX);
	return OB_EINVAL;
}

static int check_input(const json_t *input, char *err, size_t err_len)
{
	const json_t *backup;
	const json_t *failover;
	int ret;

	ret = ob_json_check_fields(input, input_fields, OB_ARRAY_SIZE(input_fields), "input", err,
				   err_len);
	if (ret == 0)
		ret = ob_engine_input_url_check(json_string_value(json_object_get(input, "url")),
						"input.url", err, err_len);
	if (ret != 0)
		return ret;
	backup = json_object_get(input, "backup_url");
	if (json_is_string(backup)) {
		ret = ob_engine_input_url_check(json_string_value(backup), "input.backup_url", err,
						err_len);
		if (ret != 0)
			return ret;
		if (strcmp(json_string_value(backup),
			   json_string_value(json_object_get(input, "url"))) == 0) {
			snprintf(err, err_len, "input.backup_url: must differ from input.url");
			return OB_EINVAL;
		}
	}
	failover = json_object_get(input, "failover_after_s");
	if (failover && (json_integer_value(failover) < 1 || json_integer_value(failover) > 60)) {
		snprintf(err, err_len, "input.failover_after_s: must be between 1 and 60 s, got %lld",
			 (long long)json_integer_value(failover));
		return OB_EINVAL;
	}
	return 0;
}

int ob_engine_channel_validate(const json_t *channel, char *err, size_t err_len)
{
	const json_t *v;
	long chars;
	int ret;

	if (!json_is_object(channel)) {
		snprintf(err, err_len, "a channel must be a JSON object");
		return OB_EINVAL;
	}
	ret = ob_json_check_fields(channel, channel_fields, OB_ARRAY_SIZE(channel_fields), "", err,
				   err_len);
	if (ret != 0)
		return ret;
	v = json_object_get(channel, "id");
	if (v && check_id(json_string_value(v), err, err_len) != 0)
		return OB_EINVAL;
	chars = ob_utf8_chars(json_string_value(json_object_get(channel, "name")));
	if (chars < 1 || chars > 64) {
		snprintf(err, err_len, "name: must be 1 to 64 characters without control characters");
		return OB_EINVAL;
	}
	ret = check_input(json_object_get(channel, "input"), err, err_len);
	if (ret != 0)
		return ret;
	for (size_t i = 0; i < OB_ARRAY_SIZE(channel_ints); i++) {
		v = json_object_get(channel, channel_ints[i].name);
		if (v && (json_integer_value(v) < channel_ints[i].min ||
			  json_integer_value(v) > channel_ints[i].max)) {
			snprintf(err, err_len, "%s: must be between %lld and %lld %s, got %lld",
				 channel_ints[i].name, channel_ints[i].min, channel_ints[i].max,
				 channel_ints[i].unit, (long long)json_integer_value(v));
			return OB_EINVAL;
		}
	}
	{
		long long segment = json_integer_value(json_object_get(channel, "segment_seconds"));
		long long live = json_integer_value(json_object_get(channel, "live_window_segments"));
		long long dvr = json_integer_value(json_object_get(channel, "dvr_window_seconds"));

		segment = segment ? segment : 4;
		live = live ? live : 6;
		if (dvr > 0 && dvr < segment * live) {
			snprintf(err, err_len,
				 "dvr_window_seconds: must be 0 (no DVR) or at least the live window "
				 "(%lld segments of %lld s = %lld s)",
				 live, segment, live * segment);
			return OB_EINVAL;
		}
	}
	v = json_object_get(channel, "ladder");
	if (v && (json_string_length(v) < 1 || json_string_length(v) > OB_LADDER_ID_MAX)) {
		snprintf(err, err_len, "ladder: must name a ladder (GET /api/v1/ladders)");
		return OB_EINVAL;
	}
	v = json_object_get(channel, "access");
	if (v && !ob_str_in_list(access_classes, json_string_value(v))) {
		snprintf(err, err_len, "access: must be \"public\" or \"premium\"");
		return OB_EINVAL;
	}
	v = json_object_get(channel, "risk_class");
	if (v && !ob_is_slug(json_string_value(v), 16)) {
		snprintf(err, err_len,
			 "risk_class: must name a risk class of the access policy (GET "
			 "/api/v1/access/policy), such as \"standard\"");
		return OB_EINVAL;
	}
	v = json_object_get(channel, "backend");
	if (v && !ob_str_in_list(backends, json_string_value(v))) {
		snprintf(err, err_len,
			 "backend: must be \"auto\" (the best one the box has) or one of "
			 "software, vaapi, qsv, nvenc");
		return OB_EINVAL;
	}
	return 0;
}

static void slug_from_name(const char *name, char *out, size_t out_len)
{
	size_t o = 0;
	bool dash = false;

	for (const unsigned char *p = (const unsigned char *)name; *p && o + 1 < out_len; p++) {
		if (isalnum(*p) && *p < 0x80) {
			if (dash && o > 0 && o + 2 < out_len)
				out[o++] = '-';
			out[o++] = (char)tolower(*p);
			dash = false;
		} else {
			dash = true;
		}
	}
	out[o] = '\0';
	if (o == 0)
		ob_strlcpy(out, "channel", out_len);
}

void ob_engine_channel_fill_defaults(json_t *channel)
{
	json_t *input = json_object_get(channel, "input");

	if (!json_object_get(channel, "id")) {
		char id[OB_CHANNEL_ID_MAX + 1];

		slug_from_name(json_string_value(json_object_get(channel, "name")), id, sizeof(id));
		json_object_set_new(channel, "id", json_string(id));
	}
	if (!json_object_get(input, "backup_url"))
		json_object_set_new(input, "backup_url", json_null());
	if (!json_object_get(input, "failover_after_s"))
		json_object_set_new(input, "failover_after_s", json_integer(DEFAULT_FAILOVER_S));
	if (!json_object_get(channel, "ladder"))
		json_object_set_new(channel, "ladder", json_string(DEFAULT_LADDER));
	for (size_t i = 0; i < OB_ARRAY_SIZE(channel_ints); i++)
		if (!json_object_get(channel, channel_ints[i].name))
			json_object_set_new(channel, channel_ints[i].name,
					    json_integer(channel_ints[i].fallback));
	if (!json_object_get(channel, "access"))
		json_object_set_new(channel, "access", json_string("public"));
	if (!json_object_get(channel, "backend"))
		json_object_set_new(channel, "backend", json_string("auto"));
	if (!json_object_get(channel, "autostart"))
		json_object_set_new(channel, "autostart", json_false());
	if (!json_object_get(channel, "hls_ts"))
		json_object_set_new(channel, "hls_ts", json_false());
	if (!json_object_get(channel, "software_fallback"))
		json_object_set_new(channel, "software_fallback", json_true());
}
