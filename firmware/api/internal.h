/* Shared between the API's own files; not part of its public interface. */
#ifndef OB_API_INTERNAL_H
#define OB_API_INTERNAL_H

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "access/access.h"
#include "access/entitle.h"
#include "core/strbuf.h"
#include "store/store.h"

#define OB_ROUTE_PARAMS_MAX 2
#define OB_ROUTE_PARAM_LEN 64

enum ob_route_flags {
	OB_ROUTE_PUBLIC = 1u << 0,          /* no authentication */
	OB_ROUTE_DURING_PW_CHANGE = 1u << 1, /* allowed before a forced password change */
	OB_ROUTE_SESSION_ONLY = 1u << 2,    /* only for console sessions, not API keys */
	OB_ROUTE_JOSE_BODY = 1u << 3,       /* also takes an application/jose body (a JWS) */
};

struct ob_api {
	struct mg_context *ctx;
	struct ob_store *store;
	struct ob_sessions *sessions;
	struct ob_ratelimit *login_limits;
	struct ob_entitle *entitle;  /* playback decisions; reloaded after every access change
				      * (borrowed from the config) */
	struct ob_engine *engine;
	struct ob_cloud *cloud;      /* control-plane sync (borrowed), or NULL */
	char data_dir[4096];
	int64_t started_mono_ms;
	int64_t started_wall_ms;
	atomic_int in_flight;  /* API and origin handlers running now */
	atomic_int event_streams; /* GET /api/v1/events/stream answers open now */
	int event_streams_max;    /* each holds a worker thread: a quarter of them at most */
	char tls_listen[128];     /* "ADDR:PORT" of HTTPS, "" when off */
	char tls_cert[4096];      /* the certificate HTTPS serves, "" when off */
	atomic_bool stopping;  /* set at stop: new API and origin requests answer 503 */
};

/* One request as a handler sees it. Lives on the worker thread's stack. */
struct ob_req {
	struct mg_connection *conn;
	const struct mg_request_info *info;
	struct ob_api *api;
	char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN]; /* {name} parts of the path */
	json_t *body;               /* the parsed JSON object for POST/PATCH/PUT, else NULL */
	char *jose;                 /* an OB_ROUTE_JOSE_BODY route's application/jose body (with
				     * a NUL after it), else NULL; freed after the handler */
	size_t jose_len;
	char remote_addr[64];
	bool is_tls;
	/* who is asking, once authenticated */
	bool via_session;
	unsigned perms;
	char actor[64];             /* "user:NAME" or "apikey:ID" for the audit log */
	char role[17];
	int64_t user_id;            /* 0 for API keys */
	char user[33];
	char session_id[OB_SESSION_ID_CHARS + 1];
	struct ob_session_info session;
	int status;                 /* the status that was sent, for the log */
};

typedef void (*ob_api_handler)(struct ob_req *req);

struct ob_route {
	const char *method;
	const char *pattern;   /* "/api/v1/users/{name}": a {…} segment matches one part */
	ob_api_handler handler;
	unsigned perms;        /* OB_PERM_* the caller must hold (0 with OB_ROUTE_PUBLIC) */
	unsigned flags;        /* enum ob_route_flags */
};

/* The route table and its length. */
const struct ob_route *ob_api_routes(size_t *count);

/* Finds the route for method and path. On a match fills params and returns it; otherwise
 * returns NULL with *status 404 (no such path) or 405 (path known, method not), and the
 * methods the path has in allow (comma-separated). */
const struct ob_route *ob_api_route_match(const char *method, const char *path,
					  char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN],
					  int *status, char *allow, size_t allow_len);

/* The HTTP status for an OB_E* code. */
int ob_api_status_for(int err);

/* The error document {"error":{"code","message","field"?}} (new reference); "field" is the
 * field path a validation message starts with ("segment_seconds: must be ..."). */
json_t *ob_api_error_body(const char *code, const char *message);

/* Sends a JSON document with status (takes the reference to body). */
void ob_api_reply_json(struct ob_req *req, int status, json_t *body);

/* Same, with extra header lines (each ending in \r\n) or NULL. */
void ob_api_reply_json_headers(struct ob_req *req, int status, const char *extra_headers,
			       json_t *body);

/* Sends an error document with extra header lines (each ending in \r\n) or NULL. */
void ob_api_reply_error_headers(struct ob_req *req, int status, const char *code,
				const char *extra_headers, const char *message);

/* Sends an error with a machine code and a message that says what to fix. */
void ob_api_reply_error(struct ob_req *req, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Sends the error for an OB_E* code with a message. */
void ob_api_reply_err(struct ob_req *req, int err, const char *message);

/* Reads an optional integer query parameter within [min, max] into *value (left as it is
 * when absent); sends 400 and returns nonzero when it is not such an integer. */
int ob_api_query_int(struct ob_req *req, const char *name, long long min, long long max,
		     long long *value);

/* Reads an optional query parameter, decoded, into out ("" when absent); sends 400 and
 * returns nonzero when it is longer than out_len - 1. */
int ob_api_query_str(struct ob_req *req, const char *name, char *out, size_t out_len);

/* Sends 204 No Content, with extra header lines (each ending in \r\n) or NULL. */
void ob_api_reply_empty(struct ob_req *req, const char *extra_headers);

/* For PUT /api/v1/<collection>/{id}: sets the body's "id" from the path when it is left
 * out; sends 400 and returns nonzero when the body names another. */
int ob_api_body_id_from_path(struct ob_req *req);

/* Fills an audit record for this request's caller. */
struct ob_audit ob_api_audit(const struct ob_req *req, const char *action, const char *target,
			     const json_t *detail);

/* Checks that the OpenSSL CivetWeb will load has every function it calls; 0, or
 * OB_EUNSUPPORTED with the reason and the way out in err. */
int ob_api_tls_check_runtime(char *err, size_t err_len);

/* ---- the playback origin (origin.c) ---- */

#define OB_ORIGIN_CHANNEL_MAX 32 /* a channel id: ob_is_slug(id, 32) */
#define OB_ORIGIN_NAME_MAX 48    /* a file name under a channel: "v0/100.m4s" */

/* One file of the origin, as a request path names it. */
struct ob_origin_file {
	char channel[OB_ORIGIN_CHANNEL_MAX + 1];
	char name[OB_ORIGIN_NAME_MAX + 1]; /* under the channel's directory */
	const char *mime;                  /* Content-Type (static) */
	const char *cache_control;         /* Cache-Control value (static) */
	bool playlist;                     /* a playlist or the MPD, not a segment */
	bool mpd;                          /* the DASH MPD */
	bool premium;                      /* asked under /premium/live/ */
};

/* What a Range header asks of a file. */
enum ob_origin_range {
	OB_ORIGIN_RANGE_WHOLE,         /* none, or one to ignore: send the whole file */
	OB_ORIGIN_RANGE_PARTIAL,       /* one satisfiable byte range */
	OB_ORIGIN_RANGE_UNSATISFIABLE, /* starts at or past the end: 416 */
};

/* Checks a request path ("/live/CHANNEL/FILE" or "/premium/live/CHANNEL/FILE", decoded,
 * dot segments kept) against the file forms the packager writes, without touching the
 * disk. 0 with *out filled;
 * OB_EINVAL (bad channel id) or OB_ENOTFOUND (any other path) with a message in err. */
int ob_api_origin_parse_path(const char *path, struct ob_origin_file *out, char *err,
			     size_t err_len);

/* Reads a Range header (or NULL) for a file of size bytes. One byte range gives PARTIAL
 * with the inclusive *first and *last, clamped to the file; a malformed header, another
 * unit, several ranges or last < first give WHOLE (RFC 9110 lets a server ignore them). */
enum ob_origin_range ob_api_origin_range(const char *header, uint64_t size, uint64_t *first,
					 uint64_t *last);

/* Writes a playlist (HLS, mpd false) or an MPD (mpd true) of len bytes into out with the
 * token query "NAME=VALUE" (already URI-safe) added to every URI it holds: HLS URI lines
 * and URI="..." attributes, the MPD's SegmentTemplate media and initialization templates
 * and BaseURL elements. Returns false when out could not grow. */
bool ob_api_origin_carry_token(const char *text, size_t len, bool mpd, const char *query,
			       struct ob_strbuf *out);

/* Writes a token into out as it can travel in a URI query or a cookie: unchanged when
 * every byte is safe there, otherwise every byte but unreserved ones percent-encoded ('='
 * and '~' included), which token extraction decodes once. False when out_len is too small. */
bool ob_api_origin_token_for_uri(const char *token, char *out, size_t out_len);

/* The CivetWeb handler for /live/ and /premium/: GET, HEAD and OPTIONS of DATA_DIR/live;
 * cbdata is the struct ob_api. Returns the status sent. */
int ob_api_origin_request(struct mg_connection *conn, void *cbdata);

/* Handlers, grouped by file. */
void ob_api_get_health(struct ob_req *req);
void ob_api_get_system(struct ob_req *req);
void ob_api_get_hardware(struct ob_req *req);
void ob_api_get_settings(struct ob_req *req);
void ob_api_patch_settings(struct ob_req *req);
void ob_api_get_settings_schema(struct ob_req *req);
void ob_api_post_session(struct ob_req *req);
void ob_api_get_session(struct ob_req *req);
void ob_api_delete_session(struct ob_req *req);
void ob_api_post_session_password(struct ob_req *req);
void ob_api_get_users(struct ob_req *req);
void ob_api_post_users(struct ob_req *req);
void ob_api_get_user(struct ob_req *req);
void ob_api_patch_user(struct ob_req *req);
void ob_api_delete_user(struct ob_req *req);
void ob_api_get_apikeys(struct ob_req *req);
void ob_api_post_apikeys(struct ob_req *req);
void ob_api_delete_apikey(struct ob_req *req);
void ob_api_get_audit(struct ob_req *req);
void ob_api_get_ladders(struct ob_req *req);
void ob_api_post_ladders(struct ob_req *req);
void ob_api_get_ladder(struct ob_req *req);
void ob_api_put_ladder(struct ob_req *req);
void ob_api_delete_ladder(struct ob_req *req);
void ob_api_get_channels(struct ob_req *req);
void ob_api_post_channels(struct ob_req *req);
void ob_api_get_channel(struct ob_req *req);
void ob_api_put_channel(struct ob_req *req);
void ob_api_delete_channel(struct ob_req *req);
void ob_api_post_channel_start(struct ob_req *req);
void ob_api_post_channel_stop(struct ob_req *req);
void ob_api_get_access_policy(struct ob_req *req);
void ob_api_put_access_policy(struct ob_req *req);
void ob_api_get_access_keys(struct ob_req *req);
void ob_api_post_access_keys(struct ob_req *req);
void ob_api_patch_access_key(struct ob_req *req);
void ob_api_delete_access_key(struct ob_req *req);
void ob_api_get_access_revocations(struct ob_req *req);
void ob_api_post_access_revocations(struct ob_req *req);
void ob_api_delete_access_revocation(struct ob_req *req);
void ob_api_get_access_stats(struct ob_req *req);
void ob_api_post_playback_tokens(struct ob_req *req);
void ob_api_get_events(struct ob_req *req);
void ob_api_get_events_stream(struct ob_req *req);
void ob_api_get_cloud(struct ob_req *req);
void ob_api_post_cloud_enroll(struct ob_req *req);
void ob_api_delete_cloud_enrollment(struct ob_req *req);
void ob_api_get_cloud_bundles(struct ob_req *req);
void ob_api_post_cloud_bundles(struct ob_req *req);
void ob_api_post_cloud_sync(struct ob_req *req);
/* handlers_webhooks.c: served only with CONFIG_CLOUD_SYNC */
void ob_api_get_webhooks(struct ob_req *req);
void ob_api_post_webhooks(struct ob_req *req);
void ob_api_get_webhook(struct ob_req *req);
void ob_api_patch_webhook(struct ob_req *req);
void ob_api_delete_webhook(struct ob_req *req);
void ob_api_get_webhook_deliveries(struct ob_req *req);
void ob_api_post_webhook_test(struct ob_req *req);
void ob_api_post_webhook_delivery_retry(struct ob_req *req);

/* A channel as the API shows it: the stored document with "playback" and "status" added.
 * Takes doc and returns it. */
json_t *ob_api_channel_with_status(struct ob_api *api, json_t *doc);

/* Every stored channel as the API shows it (new array). */
json_t *ob_api_channels_with_status(struct ob_api *api);

/* The box's load for the event stream: {"uptime_s", "cpu": {"cores", "load_average",
 * "busy_percent"}, "memory": {...}, "hardware_load": [...]} (new reference). cpu_prev holds
 * the last /proc/stat reading of the caller (zeroed before the first), for busy_percent. */
struct ob_cpu_sample {
	unsigned long long busy;
	unsigned long long total;
};
json_t *ob_api_system_load(struct ob_api *api, struct ob_cpu_sample *cpu_prev);

/* The certificate HTTPS serves, as GET /api/v1/system shows it: {"subject", "issuer",
 * "not_before", "not_after", "sha256", "self_signed"} (new reference), or NULL when it
 * cannot be read. */
json_t *ob_api_tls_cert_info(const char *path);

/* Publishes an event (core/events.h) for a change this request made, with its actor in
 * the event's data; level info. */
void ob_api_event(struct ob_req *req, const char *kind, const char *channel, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));

/* Puts the store's access state (policy, keys, revocations, channels' classes) into effect
 * for the origin after a change; logs when it cannot (the state in force stays). */
void ob_api_access_reload(struct ob_req *req);

#endif
