#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/internal.h"
#include "core/err.h"
#include "core/events.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "generated/autoconf.h"
#include "place.h"

#define MODULE "api"
#define MAX_BODY_BYTES ((long long)CONFIG_API_MAX_BODY_KIB * 1024)
/* A bundle uploaded as application/jose: the largest compact JWS a bundle may be. */
#define OB_API_JOSE_MAX_BYTES (512LL * 1024)
#define STOP_GRACE_MS 5000

/* Sent with every API response: nothing here may be cached or framed. */
static const char api_headers[] =
	"Content-Type: application/json\r\n"
	"Cache-Control: no-store\r\n"
	"X-Content-Type-Options: nosniff\r\n";

static const char *reason_phrase(int status)
{
	const char *text = mg_get_response_code_text(NULL, status);

	return text ? text : "";
}

void ob_api_reply_json_headers(struct ob_req *req, int status, const char *extra_headers,
			       json_t *body)
{
	static const char out_of_memory[] =
		"{\"error\":{\"code\":\"no_memory\",\"message\":\"out of memory building "
		"the answer; try again\"}}";
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0;
	/* A HEAD answer has the headers of the GET answer and no body. */
	bool head = req->info && strcmp(req->info->request_method, "HEAD") == 0;

	if (!text && status != 204) {
		status = 500;
		len = sizeof(out_of_memory) - 1;
	}
	req->status = status;
	mg_printf(req->conn, "HTTP/1.1 %d %s\r\n%s%sContent-Length: %zu\r\n\r\n", status,
		  reason_phrase(status), api_headers, extra_headers ? extra_headers : "", len + 1);
	if (!head) {
		mg_write(req->conn, text ? text : out_of_memory, len);
		mg_write(req->conn, "\n", 1);
	}
	if (text)
		ob_secure_zero(text, len);
	free(text);
	json_decref(body);
}

void ob_api_reply_json(struct ob_req *req, int status, json_t *body)
{
	ob_api_reply_json_headers(req, status, NULL, body);
}

void ob_api_reply_error_headers(struct ob_req *req, int status, const char *code,
				const char *extra_headers, const char *message)
{
	ob_api_reply_json_headers(req, status, extra_headers, ob_api_error_body(code, message));
}

void ob_api_reply_error(struct ob_req *req, int status, const char *code, const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ob_api_reply_error_headers(req, status, code, NULL, message);
}

int ob_api_query_int(struct ob_req *req, const char *name, long long min, long long max,
		     long long *value)
{
	const char *query = req->info->query_string;
	char text[32] = "";
	char *end = text;
	long long v = 0;
	int found;

	if (!query)
		return 0;
	found = mg_get_var(query, strlen(query), name, text, sizeof(text));
	if (found == -1)
		return 0; /* not given */
	if (found >= 0) {
		errno = 0;
		v = strtoll(text, &end, 10);
	}
	if (found < 0 || !text[0] || *end || errno == ERANGE || v < min || v > max) {
		ob_api_reply_error(req, 400, "invalid", "%s: must be an integer from %lld to %lld",
				   name, min, max);
		return -1;
	}
	*value = v;
	return 0;
}

int ob_api_query_str(struct ob_req *req, const char *name, char *out, size_t out_len)
{
	const char *query = req->info->query_string;
	int found;

	out[0] = '\0';
	if (!query)
		return 0;
	found = mg_get_var(query, strlen(query), name, out, out_len);
	if (found == -1) {
		out[0] = '\0';
		return 0; /* not given */
	}
	if (found < 0) {
		out[0] = '\0';
		ob_api_reply_error(req, 400, "invalid", "%s: at most %zu characters", name,
				   out_len - 1);
		return -1;
	}
	return 0;
}

void ob_api_reply_err(struct ob_req *req, int err, const char *message)
{
	ob_api_reply_error_headers(req, ob_api_status_for(err), ob_errname(err), NULL, message);
}

void ob_api_reply_empty(struct ob_req *req, const char *extra_headers)
{
	req->status = 204;
	mg_printf(req->conn, "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n%s\r\n",
		  extra_headers ? extra_headers : "");
}

int ob_api_body_id_from_path(struct ob_req *req)
{
	const json_t *body_id = json_object_get(req->body, "id");

	if (!body_id)
		return json_object_set_new(req->body, "id", json_string(req->params[0]));
	if (json_is_string(body_id) && strcmp(json_string_value(body_id), req->params[0]) == 0)
		return 0;
	ob_api_reply_error(req, 400, "invalid", "id: must be \"%s\" as in the path, or left out",
			   req->params[0]);
	return -1;
}

struct ob_audit ob_api_audit(const struct ob_req *req, const char *action, const char *target,
			     const json_t *detail)
{
	struct ob_audit audit = {
		.actor = req->actor,
		.remote_addr = req->remote_addr,
		.action = action,
		.target = target,
		.detail = detail,
	};
	return audit;
}

/* True when a Content-Type names application/json, with or without parameters. */
static bool is_json_media_type(const char *type)
{
	size_t len = strlen("application/json");

	if (!type || strncasecmp(type, "application/json", len) != 0)
		return false;
	type += len;
	type += strspn(type, " \t");
	return *type == '\0' || *type == ';';
}

/* True when a Content-Type names application/jose (a compact JWS), parameters allowed. */
static bool is_jose_media_type(const char *type)
{
	size_t len = strlen("application/jose");

	if (!type || strncasecmp(type, "application/jose", len) != 0)
		return false;
	type += len;
	type += strspn(type, " \t");
	return *type == '\0' || *type == ';';
}

/* Reads the whole body, refusing more than limit bytes, into a new NUL-terminated buffer.
 * 0, or sends the error and returns nonzero. */
static int read_raw_body(struct ob_req *req, long long limit, char **out, size_t *out_len)
{
	char *buf;
	size_t used = 0;

	*out = NULL;
	if (req->info->content_length > limit) {
		ob_api_reply_error(req, 413, "too_large",
				   "request body of %lld bytes is over the limit of %lld bytes",
				   req->info->content_length, limit);
		return -1;
	}
	buf = malloc((size_t)limit + 1);
	if (!buf) {
		ob_api_reply_err(req, OB_ENOMEM, "out of memory reading the request");
		return -1;
	}
	for (;;) {
		int n = mg_read(req->conn, buf + used, (size_t)limit + 1 - used);

		if (n < 0) {
			ob_api_reply_error(req, 400, "bad_request", "request body could not be read");
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > (size_t)limit) {
			ob_api_reply_error(req, 413, "too_large",
					   "request body is over the limit of %lld bytes", limit);
			free(buf);
			return -1;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*out_len = used;
	return 0;
}

/* Reads the body of a request: a JSON object into req->body, or for a route that takes
 * one, an application/jose body into req->jose. 0, or sends the error and returns
 * nonzero. */
static int read_body(struct ob_req *req, const struct ob_route *route)
{
	const char *type = mg_get_header(req->conn, "Content-Type");
	long long declared = req->info->content_length;
	char err[512];
	char *buf;
	size_t used = 0;
	int ret;

	if ((route->flags & OB_ROUTE_JOSE_BODY) && is_jose_media_type(type))
		return read_raw_body(req, OB_API_JOSE_MAX_BYTES, &req->jose, &req->jose_len);
	if (declared > MAX_BODY_BYTES) {
		ob_api_reply_error(req, 413, "too_large",
				   "request body of %lld bytes is over the limit of %lld bytes",
				   declared, MAX_BODY_BYTES);
		return -1;
	}
	if (declared <= 0 && !type) {
		/* An action without a body (POST .../start) reads as an empty object. */
		req->body = json_object();
		return req->body ? 0 : -1;
	}
	if (!is_json_media_type(type)) {
		ob_api_reply_error(req, 415, "unsupported_media_type",
				   (route->flags & OB_ROUTE_JOSE_BODY)
					   ? "send the body as JSON with Content-Type: "
					     "application/json, or the JWS with Content-Type: "
					     "application/jose"
					   : "send the body as JSON with Content-Type: application/json");
		return -1;
	}
	ret = read_raw_body(req, MAX_BODY_BYTES, &buf, &used);
	if (ret != 0)
		return ret;
	req->body = ob_json_parse_object(buf, used, err, sizeof(err));
	free(buf);
	if (!req->body) {
		ob_api_reply_error(req, 400, "invalid_json", "%s", err);
		return -1;
	}
	return 0;
}

static bool is_state_changing(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

static const char www_authenticate[] = "WWW-Authenticate: Bearer realm=\"ottbox\"\r\n";

static void reply_unauthenticated(struct ob_req *req, const char *message)
{
	ob_api_reply_error_headers(req, 401, "unauthenticated", www_authenticate, message);
}

static int authenticate_apikey(struct ob_req *req, const char *token)
{
	struct ob_apikey key;
	unsigned char presented[32];
	char id[OB_APIKEY_ID_LEN + 1];
	int ret = OB_EAUTH;

	if (ob_access_apikey_parse(token, id, presented) == 0)
		ret = ob_store_apikey_get(req->api->store, id, &key);
	if (ret != 0 && ret != OB_EAUTH && ret != OB_ENOTFOUND) {
		ob_api_reply_err(req, ret, "the API key cannot be checked right now; try again");
		return -1;
	}
	if (ret != 0 || !ob_ct_equal(presented, key.secret_sha256, sizeof(presented)) ||
	    ob_access_role_perms(key.role, &req->perms) != 0) {
		reply_unauthenticated(req,
				      "the API key is not valid (revoked, mistyped or never issued)");
		return -1;
	}
	snprintf(req->actor, sizeof(req->actor), "apikey:%s", key.id);
	ob_strlcpy(req->role, key.role, sizeof(req->role));
	return 0;
}

static int authenticate_session(struct ob_req *req, const char *cookies,
				const struct ob_route *route)
{
	struct ob_store *store = req->api->store;
	int id_len = cookies ? mg_get_cookie(cookies, "ob_session", req->session_id,
					     sizeof(req->session_id))
			     : -1;

	if (id_len < 0) {
		reply_unauthenticated(req, "log in (POST /api/v1/session) or send an API key in "
					   "Authorization: Bearer");
		return -1;
	}
	if (id_len != OB_SESSION_ID_CHARS ||
	    ob_access_session_lookup(req->api->sessions, req->session_id, ob_time_mono_ms(),
				     ob_store_setting_int(store, "session_idle_timeout_s") * 1000,
				     ob_store_setting_int(store, "session_absolute_timeout_s") * 1000,
				     &req->session) != 0) {
		reply_unauthenticated(req, "the session has expired or ended; log in again");
		return -1;
	}
	req->via_session = true;
	req->user_id = req->session.user_id;
	ob_strlcpy(req->user, req->session.user, sizeof(req->user));
	ob_strlcpy(req->role, req->session.role, sizeof(req->role));
	snprintf(req->actor, sizeof(req->actor), "user:%s", req->session.user);
	if (ob_access_role_perms(req->session.role, &req->perms) != 0)
		req->perms = 0;
	if (is_state_changing(req->info->request_method)) {
		const char *csrf = mg_get_header(req->conn, "X-CSRF-Token");

		if (!csrf || strlen(csrf) != OB_CSRF_CHARS ||
		    !ob_ct_equal(csrf, req->session.csrf, OB_CSRF_CHARS)) {
			ob_api_reply_error(req, 403, "csrf",
					   "missing or wrong X-CSRF-Token header; send the "
					   "csrf_token from the login answer (or GET /api/v1/session)");
			return -1;
		}
	}
	if (req->session.must_change_password && !(route->flags & OB_ROUTE_DURING_PW_CHANGE)) {
		ob_api_reply_error(req, 403, "password_change_required",
				   "change the one-time password first: POST "
				   "/api/v1/session/password with current_password and "
				   "new_password");
		return -1;
	}
	return 0;
}

/* Establishes who is asking and whether they may; sends the denial and returns nonzero. */
static int authorize(struct ob_req *req, const struct ob_route *route)
{
	const char *authorization = mg_get_header(req->conn, "Authorization");

	if (route->flags & OB_ROUTE_PUBLIC)
		return 0;
	if (authorization) {
		if (strncasecmp(authorization, "Bearer ", 7) != 0) {
			reply_unauthenticated(req, "Authorization must be \"Bearer <API key>\"");
			return -1;
		}
		if (route->flags & OB_ROUTE_SESSION_ONLY) {
			ob_api_reply_error(req, 403, "forbidden",
					   "%s %s is for console sessions, not API keys",
					   route->method, route->pattern);
			return -1;
		}
		if (authenticate_apikey(req, authorization + 7) != 0)
			return -1;
	} else if (authenticate_session(req, mg_get_header(req->conn, "Cookie"), route) != 0) {
		return -1;
	}
	if ((req->perms & route->perms) != route->perms) {
		ob_api_reply_error(req, 403, "forbidden", "%s %s needs the %s role; you are %s",
				   route->method, route->pattern,
				   route->perms & OB_PERM_ADMIN ? "admin"
				   : route->perms & OB_PERM_OPERATE ? "operator"
				   : route->perms & OB_PERM_ISSUE ? "issuer, operator or admin"
								   : "viewer",
				   req->role);
		return -1;
	}
	return 0;
}

static int api_request(struct mg_connection *conn, void *cbdata)
{
	struct ob_req req = {
		.conn = conn,
		.info = mg_get_request_info(conn),
		.api = cbdata,
	};
	char allow[64];
	const struct ob_route *route;
	int64_t started = ob_time_mono_ms();
	int status = 0;

	atomic_fetch_add(&req.api->in_flight, 1);
	ob_strlcpy(req.remote_addr, req.info->remote_addr, sizeof(req.remote_addr));
	req.is_tls = req.info->is_ssl != 0;
	if (atomic_load(&req.api->stopping)) {
		ob_api_reply_error_headers(&req, 503, "stopping", "Connection: close\r\n",
					   "the box is stopping; try again in a moment");
		goto out;
	}
	route = ob_api_route_match(req.info->request_method, req.info->local_uri, req.params,
				   &status, allow, sizeof(allow));
	if (!route && status == 405) {
		char header[96];

		snprintf(header, sizeof(header), "Allow: %s\r\n", allow);
		ob_api_reply_error_headers(&req, 405, "method_not_allowed", header,
				  "this path answers only to the listed methods (see the Allow "
				  "header)");
		goto out;
	}
	if (!route) {
		ob_api_reply_error(&req, 404, "not_found", "no such endpoint: %s (see docs/openapi.yaml)",
				   req.info->local_uri);
		goto out;
	}
	if (authorize(&req, route) != 0)
		goto out;
	if ((strcmp(route->method, "POST") == 0 || strcmp(route->method, "PATCH") == 0 ||
	     strcmp(route->method, "PUT") == 0) &&
	    read_body(&req, route) != 0)
		goto out;
	route->handler(&req);
out:
	ob_debug(MODULE, "%s %s %s -> %d (%lld ms) by %s", req.remote_addr, req.info->request_method,
		 req.info->local_uri, req.status, (long long)(ob_time_mono_ms() - started),
		 req.actor[0] ? req.actor : "anonymous");
	json_decref(req.body);
	free(req.jose);
	ob_secure_zero(req.session_id, sizeof(req.session_id));
	ob_secure_zero(&req.session, sizeof(req.session));
	atomic_fetch_sub(&req.api->in_flight, 1);
	return req.status ? req.status : 500;
}

static int log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	ob_warn("http", "%s", message);
	return 1;
}

static int append_port(char *ports, size_t len, const char *addr, bool tls, char *err,
		       size_t err_len)
{
	size_t used = strlen(ports);
	const char *colon = addr ? strrchr(addr, ':') : NULL;

	if (!addr || !*addr)
		return 0;
	if (!colon || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
		snprintf(err, err_len, "listen address \"%s\" must be ADDR:PORT, like 127.0.0.1:8080",
			 addr);
		return OB_EINVAL;
	}
	snprintf(ports + used, len - used, "%s%s%s", used ? "," : "", addr, tls ? "s" : "");
	return 0;
}

int ob_api_start(const struct ob_api_config *config, struct ob_store *store,
		 struct ob_api **out, char *err, size_t err_len)
{
	struct mg_callbacks callbacks = { .log_message = log_message };
	struct ob_api *api;
	char ports[256] = "";
	char threads[16];
	char cert[4200] = "";
	const char *options[32];
	size_t n = 0;
	struct mg_init_data init = { 0 };
	struct mg_error_data error = { 0 };
	char start_err[256] = "";
	int ret;

	*out = NULL;
	ret = append_port(ports, sizeof(ports), config->listen, false, err, err_len);
	if (ret == 0)
		ret = append_port(ports, sizeof(ports), config->listen_tls, true, err, err_len);
	if (ret != 0)
		return ret;
	if (!ports[0]) {
		snprintf(err, err_len, "nothing to listen on: give --listen or --listen-tls");
		return OB_EINVAL;
	}
#ifndef CONFIG_HTTPS
	if (config->listen_tls && *config->listen_tls) {
		snprintf(err, err_len, "this firmware is built without HTTPS (CONFIG_HTTPS)");
		return OB_EUNSUPPORTED;
	}
#else
	if (config->listen_tls && *config->listen_tls) {
		char host[256] = "ottbox";

		gethostname(host, sizeof(host) - 1);
		ret = ob_api_tls_ensure_cert(config->data_dir, host, cert, sizeof(cert), err, err_len);
		if (ret != 0)
			return ret;
		if (!mg_check_feature(MG_FEATURES_TLS)) {
			snprintf(err, err_len, "CivetWeb on this system has no TLS support");
			return OB_EUNSUPPORTED;
		}
		ret = ob_api_tls_check_runtime(err, err_len);
		if (ret != 0)
			return ret;
	}
#endif
	api = calloc(1, sizeof(*api));
	if (!api) {
		snprintf(err, err_len, "out of memory starting the API");
		return OB_ENOMEM;
	}
	api->store = store;
	api->engine = config->engine;
	api->entitle = config->entitle;
	api->cloud = config->cloud;
	api->started_mono_ms = ob_time_mono_ms();
	api->started_wall_ms = ob_time_wall_ms();
	ob_strlcpy(api->data_dir, config->data_dir, sizeof(api->data_dir));
	if (config->listen_tls && *config->listen_tls) {
		ob_strlcpy(api->tls_listen, config->listen_tls, sizeof(api->tls_listen));
		ob_strlcpy(api->tls_cert, cert, sizeof(api->tls_cert));
	}
	/* An event stream holds its worker thread for as long as it is open: a quarter of the
	 * threads at most, so players and API calls always find one. */
	api->event_streams_max = (config->threads > 0 ? config->threads : 16) / 4;
	if (api->event_streams_max < 1)
		api->event_streams_max = 1;
	api->sessions = ob_access_sessions_new(1024);
	api->login_limits = ob_access_ratelimit_new(4096);
	/* The box's probe report, made now (not at the first request) and kept by
	 * drivers-glue: GET /hardware serves it and admission places channels by it. */
	json_decref(ob_hw_report(false));
	if (!api->entitle) {
		snprintf(err, err_len, "the API needs the playback access state (a bug)");
		ret = OB_EINTERNAL;
		goto fail_free;
	}
	if (!api->sessions || !api->login_limits) {
		snprintf(err, err_len, "out of memory starting the API");
		ret = OB_ENOMEM;
		goto fail_free;
	}
	snprintf(threads, sizeof(threads), "%d", config->threads > 0 ? config->threads : 16);
	options[n++] = "listening_ports";
	options[n++] = ports;
	options[n++] = "num_threads";
	options[n++] = threads;
	options[n++] = "request_timeout_ms";
	options[n++] = "30000";
	options[n++] = "enable_keep_alive";
	options[n++] = "yes";
	/* Without it, Nagle's algorithm holds the last part of each answer until the client's
	 * delayed ACK (up to 40 ms): a player's segment, or an API answer, waits for nothing. */
	options[n++] = "tcp_nodelay";
	options[n++] = "1";
	options[n++] = "enable_directory_listing";
	options[n++] = "no";
	options[n++] = "additional_header";
	/* No inline script and no worker anywhere; hls.js (the console's preview) runs on the
	 * page and feeds the video element from blob: media sources. */
	options[n++] = "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
		       "Referrer-Policy: no-referrer\r\nContent-Security-Policy: default-src "
		       "'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
		       "object-src 'none'; frame-ancestors 'none'; "
		       "base-uri 'none'; form-action 'self'";
	/* CORS is each handler's own (the origin allows every site, the API none). CivetWeb's
	 * defaults would answer every preflight itself, /api included, approving any method
	 * and header for any site, and label the console's files Access-Control-Allow-Origin: *. */
	options[n++] = "access_control_allow_origin";
	options[n++] = "";
	options[n++] = "access_control_allow_methods";
	options[n++] = "";
	if (config->www_dir && *config->www_dir) {
		options[n++] = "document_root";
		options[n++] = config->www_dir;
	}
	if (cert[0]) {
		options[n++] = "ssl_certificate";
		options[n++] = cert;
		options[n++] = "ssl_protocol_version";
		options[n++] = "4"; /* TLS 1.2 and newer */
		options[n++] = "ssl_short_trust";
		options[n++] = "no";
	}
	options[n] = NULL;
	init.callbacks = &callbacks;
	init.user_data = api;
	init.configuration_options = options;
	error.text = start_err;
	error.text_buffer_size = sizeof(start_err);
	api->ctx = mg_start2(&init, &error);
	if (!api->ctx) {
		snprintf(err, err_len, "HTTP server did not start on %s: %s", ports,
			 start_err[0] ? start_err : "see the messages above");
		ret = OB_EIO;
		goto fail_free;
	}
	mg_set_request_handler(api->ctx, "/api", api_request, api);
	mg_set_request_handler(api->ctx, "/live/", ob_api_origin_request, api);
	mg_set_request_handler(api->ctx, OB_PREMIUM_PREFIX "/", ob_api_origin_request, api);
	ob_info(MODULE, "listening on %s%s%s", ports, config->www_dir ? ", console from " : "",
		config->www_dir ? config->www_dir : "");
	*out = api;
	return 0;

fail_free:
	ob_access_ratelimit_free(&api->login_limits);
	ob_access_sessions_free(&api->sessions);
	free(api);
	return ret;
}

void ob_api_stop(struct ob_api **apip)
{
	struct ob_api *api = *apip;

	if (!api)
		return;
	/* Let the requests in flight finish and send their answers (CivetWeb drops writes
	 * once mg_stop begins), then stop the server. */
	atomic_store(&api->stopping, true);
	ob_events_wake_all(); /* event streams see `stopping` now, not at their next tick */
	{
		int64_t deadline = ob_time_mono_ms() + STOP_GRACE_MS;
		const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };

		while (atomic_load(&api->in_flight) > 0 && ob_time_mono_ms() < deadline)
			nanosleep(&tick, NULL);
		if (atomic_load(&api->in_flight) > 0)
			ob_warn(MODULE, "%d requests still running after %d s; stopping anyway",
				atomic_load(&api->in_flight), STOP_GRACE_MS / 1000);
	}
	mg_stop(api->ctx);
	ob_access_ratelimit_free(&api->login_limits);
	ob_access_sessions_free(&api->sessions);
	free(api);
	*apip = NULL;
	ob_info(MODULE, "HTTP server stopped");
}
