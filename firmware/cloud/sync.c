/* The sync thread and the API's way into it: enrollment, polling for desired state with
 * ETags, jitter and backoff, reported state, the event outbox, uploads and the status.
 * docs/control-plane.md is the contract. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloud/internal.h"
#include "core/err.h"
#include "core/events.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"
#include "core/version.h"
#include "engine/engine.h"
#include "generated/autoconf.h"
#include "place.h"
#include "store/store.h"

#define MODULE "cloud"
#define FIRST_POLL_S 60            /* before a bundle sets the interval */
#define BACKOFF_BASE_MS 5000
#define BACKOFF_MAX_MS (3600 * 1000)
#define SLOWEST_POLL_MS (3600 * 1000) /* an unknown or disabled device keeps asking at this */
#define EVENTS_BATCH 500
#define EVENTS_OUTBOX 10000        /* the newest events that wait while the link is down */
#define EVENT_BATCHES_PER_ROUND 20
#define REPORT_EVERY_POLLS 10
#define REQUEST_TIMEOUT_MS 10000
#define BUNDLE_MAX_BYTES (OB_JWS_TEXT_MAX + 16)
#define ENROLL_FILE_MAX (64 * 1024)

/* ---- small helpers ---- */

/* A time as the API shows it, or null for none (new reference). */
static json_t *time_or_null(int64_t ms)
{
	char text[32];

	if (ms <= 0)
		return json_null();
	ob_time_iso8601(ms, text, sizeof(text));
	return json_string(text);
}

static void set_result(struct ob_cloud_result *out, int status, const char *code,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_result(struct ob_cloud_result *out, int status, const char *code,
		       const char *fmt, ...)
{
	va_list ap;

	out->status = status;
	ob_strlcpy(out->code, code ? code : "", sizeof(out->code));
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

void ob_cloud_result_clear(struct ob_cloud_result *result)
{
	json_decref(result->body);
	memset(result, 0, sizeof(*result));
}

/* A random whole number of ms in [0, max_ms]. */
static int64_t random_ms(int64_t max_ms)
{
	uint64_t r = 0;

	if (max_ms <= 0 || ob_random_bytes(&r, sizeof(r)) != 0)
		return max_ms > 0 ? max_ms / 2 : 0;
	return (int64_t)(r % (uint64_t)(max_ms + 1));
}

/* The wait before the next poll: the interval with ±20 % jitter, or after errors a full
 * jitter backoff min(base × 2^n, 1 h), never under retry_after_s. */
static int64_t next_wait_ms(int interval_s, int errors, int retry_after_s)
{
	int64_t wait;

	if (errors == 0) {
		int64_t interval = (int64_t)interval_s * 1000;

		wait = interval * 8 / 10 + random_ms(interval * 4 / 10);
	} else {
		int64_t cap = BACKOFF_BASE_MS;

		for (int i = 1; i < errors && cap < BACKOFF_MAX_MS; i++)
			cap *= 2;
		wait = random_ms(cap < BACKOFF_MAX_MS ? cap : BACKOFF_MAX_MS);
	}
	if (retry_after_s > 0 && wait < (int64_t)retry_after_s * 1000)
		wait = (int64_t)retry_after_s * 1000;
	return wait;
}

/* The base URL without a trailing slash, and its path part ("" or "/ottbox"). */
static int base_of(const json_t *config, char *base, size_t base_len, char *path,
		   size_t path_len)
{
	const char *url = json_string_value(json_object_get(config, "url"));
	struct ob_http_url parsed;
	char err[256];
	size_t len;

	if (!url || ob_cloud_http_url_parse(url, &parsed, err, sizeof(err)) != 0)
		return OB_EINVAL;
	ob_strlcpy(base, url, base_len);
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		base[--len] = '\0';
	ob_strlcpy(path, parsed.path, path_len);
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		path[--len] = '\0';
	return 0;
}

int ob_cloud_cp_request(struct ob_cloud *cloud, const json_t *config, const char *method,
			const char *path, const char *content_type, const void *body,
			size_t body_len, struct ob_http_response *resp, char *err,
			size_t err_len)
{
	char base[OB_HTTP_URL_MAX + 1];
	char base_path[OB_HTTP_PATH_MAX + 1];
	char url[OB_HTTP_URL_MAX + 256];
	char full_path[OB_HTTP_PATH_MAX + 256];
	char headers[1600];
	char *token = NULL;
	int ret;

	memset(resp, 0, sizeof(*resp));
	if (base_of(config, base, sizeof(base), base_path, sizeof(base_path)) != 0) {
		snprintf(err, err_len, "the enrollment has no control-plane URL");
		return OB_EINVAL;
	}
	snprintf(url, sizeof(url), "%s%s", base, path);
	snprintf(full_path, sizeof(full_path), "%s%s", base_path, path);
	ret = ob_cloud_identity_device_token(cloud->identity, base, method, full_path,
					     ob_time_wall_ms() / 1000, &token);
	if (ret != 0) {
		snprintf(err, err_len, "no device token: %s", ob_strerror(ret));
		return ret;
	}
	snprintf(headers, sizeof(headers), "Authorization: Device %s\r\n%s%s%s", token,
		 content_type ? "Content-Type: " : "", content_type ? content_type : "",
		 content_type ? "\r\n" : "");
	free(token);
	{
		const char *etag = NULL;
		char with_etag[sizeof(headers) + 2 * OB_HTTP_ETAG_MAX + 32];
		struct ob_http_request request = {
			.method = method,
			.url = url,
			.headers = headers,
			.body = body,
			.body_len = body_len,
			.ca_pem = json_string_value(json_object_get(config, "ca_pem")),
			.timeout_ms = REQUEST_TIMEOUT_MS,
			.max_body = BUNDLE_MAX_BYTES,
		};

		/* GET .../desired asks only for something newer than what the box has. */
		if (strcmp(method, "GET") == 0) {
			struct ob_store_cloud_state state;

			ob_store_cloud_state_get(cloud->deps.store, &state);
			pthread_mutex_lock(&cloud->lock);
			if (state.etag[0] || cloud->refused_etag[0]) {
				snprintf(with_etag, sizeof(with_etag), "%sIf-None-Match: %s%s%s\r\n",
					 headers, state.etag, state.etag[0] && cloud->refused_etag[0]
								      ? ", "
								      : "",
					 cloud->refused_etag);
				etag = with_etag;
			}
			pthread_mutex_unlock(&cloud->lock);
			if (etag)
				request.headers = etag;
		}
		ret = ob_cloud_http_request(&request, resp, err, err_len);
	}
	return ret;
}

/* An ETag that can go back in a header: printable, no quotes inside but its own. */
static bool etag_usable(const char *etag)
{
	for (const char *p = etag; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return false;
	return *etag != '\0';
}

/* Records a contact: ok clears the error, otherwise the error is kept with its time. */
static void record_contact(struct ob_cloud *cloud, bool ok, const char *error)
{
	struct ob_store_cloud_state state;

	ob_store_cloud_state_get(cloud->deps.store, &state);
	if (ok) {
		state.last_contact_ms = ob_time_wall_ms();
		state.last_error[0] = '\0';
		state.last_error_ms = 0;
	} else {
		ob_strlcpy(state.last_error, error ? error : "unknown error", sizeof(state.last_error));
		state.last_error_ms = ob_time_wall_ms();
	}
	ob_store_cloud_state_put(cloud->deps.store, &state);
}

/* The control plane's error message, when its answer carries one. */
static void answer_message(const struct ob_http_response *resp, char *out, size_t len)
{
	json_t *doc = resp->body && resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL)
						   : NULL;
	const json_t *error = json_object_get(doc, "error");
	const char *code = json_string_value(json_object_get(error, "code"));
	const char *message = json_string_value(json_object_get(error, "message"));

	snprintf(out, len, "HTTP %d%s%.64s%s%.300s", resp->status, code ? " " : "",
		 code ? code : "", message ? ": " : "", message ? message : "");
	json_decref(doc);
}

/* ---- enrollment ---- */

static json_t *box_summary(struct ob_cloud *cloud)
{
	json_t *settings = ob_store_settings_get(cloud->deps.store);
	json_t *report = ob_hw_report(false);
	json_t *hardware = json_array();
	const json_t *backend;
	size_t i;
	json_t *box;

	json_array_foreach(report, i, backend)
		json_array_append_new(hardware,
				      json_pack("{s:O, s:b}", "name", json_object_get(backend, "name"),
						"available",
						json_is_true(json_object_get(backend, "available"))));
	box = json_pack("{s:s, s:O, s:o}", "version", OB_VERSION, "box_name",
			json_object_get(settings, "box_name"), "hardware", hardware);
	json_decref(report);
	json_decref(settings);
	return box;
}

/* Sends the enrollment. 0 when the control plane took it (201, or 200); OB_EAUTH when it
 * refused it (a 4xx: the token is wrong, expired or used), with its words in err; another
 * code when it could not be asked. */
static int send_enrollment(struct ob_cloud *cloud, const json_t *config, char *err,
			   size_t err_len)
{
	const char *token = json_string_value(json_object_get(config, "enrollment_token"));
	char base[OB_HTTP_URL_MAX + 1];
	char base_path[OB_HTTP_PATH_MAX + 1];
	char url[OB_HTTP_URL_MAX + 32];
	struct ob_http_response resp = { 0 };
	json_t *box = box_summary(cloud);
	char *jws = NULL;
	int ret;

	if (base_of(config, base, sizeof(base), base_path, sizeof(base_path)) != 0) {
		json_decref(box);
		snprintf(err, err_len, "url: not an http(s) URL");
		return OB_EINVAL;
	}
	ret = ob_cloud_identity_enrollment_jws(cloud->identity, token ? token : "", box,
					       ob_time_wall_ms() / 1000, &jws);
	json_decref(box);
	if (ret != 0) {
		snprintf(err, err_len, "the enrollment could not be signed: %s", ob_strerror(ret));
		return ret;
	}
	snprintf(url, sizeof(url), "%s/v1/enroll", base);
	{
		struct ob_http_request request = {
			.method = "POST",
			.url = url,
			.headers = "Content-Type: application/jose\r\n",
			.body = jws,
			.body_len = strlen(jws),
			.ca_pem = json_string_value(json_object_get(config, "ca_pem")),
			.timeout_ms = REQUEST_TIMEOUT_MS,
		};

		ret = ob_cloud_http_request(&request, &resp, err, err_len);
	}
	free(jws);
	if (ret != 0)
		return ret;
	if (resp.status == 200 || resp.status == 201) {
		ret = 0;
	} else {
		char said[512];

		answer_message(&resp, said, sizeof(said));
		/* 401 and 409 are about the token (wrong, expired, used): the field to fix. */
		snprintf(err, err_len, "%sthe control plane refused the enrollment: %s",
			 resp.status == 401 || resp.status == 409 ? "enrollment_token: " : "", said);
		ret = resp.status >= 400 && resp.status < 500 && resp.status != 429 ? OB_EAUTH
										    : OB_EIO;
	}
	ob_cloud_http_response_clear(&resp);
	return ret;
}

static void enrolled(struct ob_cloud *cloud, const json_t *config)
{
	ob_store_cloud_config_enrolled(cloud->deps.store);
	record_contact(cloud, true, NULL);
	ob_info(MODULE, "enrolled with %s as %s", json_string_value(json_object_get(config, "url")),
		ob_cloud_identity_device_id(cloud->identity));
	ob_event_publish(OB_EVENT_INFO, "cloud.enrolled", NULL,
			 json_pack("{s:O, s:s}", "url", json_object_get(config, "url"), "device_id",
				   ob_cloud_identity_device_id(cloud->identity)),
			 "the box enrolled with the control plane %s as %s",
			 json_string_value(json_object_get(config, "url")),
			 ob_cloud_identity_device_id(cloud->identity));
	pthread_mutex_lock(&cloud->lock);
	cloud->errors_in_row = 0;
	cloud->wake = true;
	cloud->report_due = true;
	pthread_cond_signal(&cloud->wake_cond);
	pthread_mutex_unlock(&cloud->lock);
}

/* Checks an enrollment request and makes the stored form of it. */
static int enrollment_config(const json_t *request, json_t **out, char *err, size_t err_len)
{
	static const struct ob_json_field fields[] = {
		{ "url", OB_JSON_STRING_OR_NULL, false },
		{ "ca_pem", OB_JSON_STRING_OR_NULL, false },
		{ "bundle_keys", OB_JSON_ARRAY, true },
		{ "enrollment_token", OB_JSON_STRING_OR_NULL, false },
	};
	const char *url = json_string_value(json_object_get(request, "url"));
	const char *ca = json_string_value(json_object_get(request, "ca_pem"));
	const char *token = json_string_value(json_object_get(request, "enrollment_token"));
	struct ob_cloud_keyring ring;
	struct ob_http_url parsed;

	*out = NULL;
	if (ob_json_check_fields(request, fields, OB_ARRAY_SIZE(fields), "", err, err_len) != 0)
		return OB_EINVAL;
	if (url && ob_cloud_http_url_parse(url, &parsed, err, err_len) != 0)
		return OB_EINVAL;
	if (url && strchr(url, '?')) {
		snprintf(err, err_len, "url: the control plane's base URL, without a query");
		return OB_EINVAL;
	}
	if (url && (!token || !*token || strlen(token) > 512)) {
		snprintf(err, err_len, "enrollment_token: the one-time token the control plane "
			 "issued for this box (required with a url)");
		return OB_EINVAL;
	}
	if (ca && (strlen(ca) > 64 * 1024 || !strstr(ca, "-----BEGIN CERTIFICATE-----"))) {
		snprintf(err, err_len, "ca_pem: the PEM certificate(s) of the CA that signs the "
			 "control plane's TLS certificate");
		return OB_EINVAL;
	}
	if (ob_cloud_keyring_load(json_object_get(request, "bundle_keys"), &ring, err, err_len) != 0)
		return OB_EINVAL;
	ob_cloud_keyring_clear(&ring);
	*out = json_pack("{s:s?, s:s?, s:O, s:s?, s:s}", "url", url, "ca_pem", ca, "bundle_keys",
			 json_object_get(request, "bundle_keys"), "enrollment_token",
			 url ? token : NULL, "state", url ? "enrolling" : "airgapped");
	return *out ? 0 : OB_ENOMEM;
}

void ob_cloud_enroll(struct ob_cloud *cloud, const json_t *request, const char *actor,
		     const char *remote_addr, struct ob_cloud_result *out)
{
	json_t *config = NULL;
	struct ob_audit audit = {
		.actor = actor,
		.remote_addr = remote_addr,
		.action = "cloud.enroll",
	};
	char err[768];
	int ret;

	memset(out, 0, sizeof(*out));
	if (enrollment_config(request, &config, err, sizeof(err)) != 0) {
		set_result(out, 400, "invalid", "%s", err);
		return;
	}
	audit.target = json_string_value(json_object_get(config, "url"));
	if (json_string_value(json_object_get(config, "url"))) {
		ret = send_enrollment(cloud, config, err, sizeof(err));
		if (ret == OB_EAUTH || ret == OB_EINVAL) {
			set_result(out, ret == OB_EAUTH ? 409 : 400, "refused", "%s", err);
			goto out_free;
		}
		if (ret != 0) {
			/* Kept: the sync thread goes on trying. */
			if (ob_store_cloud_config_put(cloud->deps.store, config, &audit) != 0) {
				set_result(out, 500, "io", "the enrollment could not be stored");
				goto out_free;
			}
			record_contact(cloud, false, err);
			set_result(out, 202, "", "the control plane could not be reached (%s); the "
				   "box keeps trying", err);
			ob_cloud_sync_now(cloud);
			goto out_status;
		}
	}
	if (ob_store_cloud_config_put(cloud->deps.store, config, &audit) != 0) {
		set_result(out, 500, "io", "the enrollment could not be stored");
		goto out_free;
	}
	if (json_string_value(json_object_get(config, "url"))) {
		enrolled(cloud, config);
		set_result(out, 201, "", "enrolled as %s",
			   ob_cloud_identity_device_id(cloud->identity));
	} else {
		ob_event_publish(OB_EVENT_INFO, "cloud.enrolled", NULL,
				 json_pack("{s:n, s:s}", "url", "device_id",
					   ob_cloud_identity_device_id(cloud->identity)),
				 "the box pins %zu bundle signing key(s) and takes bundles by upload "
				 "(air-gapped)",
				 json_array_size(json_object_get(config, "bundle_keys")));
		set_result(out, 201, "", "air-gapped: bundles are taken by upload only");
	}
out_status:
	out->body = ob_cloud_status(cloud);
out_free:
	json_decref(config);
}

void ob_cloud_unenroll(struct ob_cloud *cloud, const char *actor, const char *remote_addr,
		       struct ob_cloud_result *out)
{
	struct ob_audit audit = {
		.actor = actor,
		.remote_addr = remote_addr,
		.action = "cloud.unenroll",
	};
	int ret;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cloud->apply_lock);
	ret = ob_store_cloud_config_delete(cloud->deps.store, &audit);
	pthread_mutex_unlock(&cloud->apply_lock);
	if (ret == OB_ENOTFOUND) {
		set_result(out, 404, "not_found", "the box is not enrolled");
		return;
	}
	if (ret != 0) {
		set_result(out, 500, "io", "the enrollment could not be removed: %s",
			   ob_strerror(ret));
		return;
	}
	pthread_mutex_lock(&cloud->lock);
	cloud->refused_etag[0] = '\0';
	cloud->errors_in_row = 0;
	pthread_mutex_unlock(&cloud->lock);
	ob_event_publish(OB_EVENT_INFO, "cloud.unenrolled", NULL, NULL,
			 "the box left its control plane; what it applied stays");
	set_result(out, 204, "", "unenrolled");
}

/* Enrolls from the board's file when the box is not enrolled. */
static void enroll_from_file(struct ob_cloud *cloud)
{
	json_t *existing = ob_store_cloud_config_get(cloud->deps.store);
	json_t *request = NULL;
	json_t *config = NULL;
	struct ob_audit audit = { .actor = "system", .action = "cloud.enroll",
				  .target = cloud->enroll_file };
	char *text = NULL;
	size_t len = 0;
	char err[768];

	if (existing || !cloud->enroll_file[0] ||
	    ob_read_file(cloud->enroll_file, ENROLL_FILE_MAX, &text, &len) != 0)
		goto out_free;
	request = ob_json_parse_object(text, len, err, sizeof(err));
	if (!request || enrollment_config(request, &config, err, sizeof(err)) != 0) {
		ob_error(MODULE, "%s: not an enrollment the box can use: %s", cloud->enroll_file,
			 err);
		goto out_free;
	}
	if (ob_store_cloud_config_put(cloud->deps.store, config, &audit) == 0)
		ob_info(MODULE, "enrollment taken from %s", cloud->enroll_file);
out_free:
	if (text)
		ob_secure_zero(text, len);
	free(text);
	json_decref(request);
	json_decref(config);
	json_decref(existing);
}

/* ---- reported state and events ---- */

/* The generation in force: the newest applied one, 0 for none. */
static int64_t applied_generation(struct ob_cloud *cloud)
{
	json_t *list = ob_store_cloud_bundles_list(cloud->deps.store, false);
	const json_t *item;
	size_t i;
	int64_t generation = 0;

	json_array_foreach(list, i, item) {
		if (strcmp(json_string_value(json_object_get(item, "status")), "applied") == 0) {
			generation = json_integer_value(json_object_get(item, "generation"));
			break;
		}
	}
	json_decref(list);
	return generation;
}

static int send_report(struct ob_cloud *cloud, const json_t *config)
{
	json_t *settings = ob_store_settings_get(cloud->deps.store);
	json_t *report;
	json_t *commands = ob_store_cloud_commands_list(cloud->deps.store, 20);
	json_t *hardware = box_summary(cloud);
	struct ob_http_response resp = { 0 };
	char path[128];
	char err[512];
	char at[32];
	char *text;
	int64_t generation = applied_generation(cloud);
	int ret;

	ob_time_iso8601(ob_time_wall_ms(), at, sizeof(at));
	pthread_mutex_lock(&cloud->lock);
	if (cloud->report_generation > generation &&
	    strcmp(cloud->report_status, "applied") != 0)
		generation = cloud->report_generation;
	report = json_pack("{s:I, s:s, s:O, s:s, s:s, s:O, s:o, s:O, s:o}", "generation",
			   (json_int_t)generation, "status",
			   cloud->report_status[0] ? cloud->report_status : "none", "errors",
			   cloud->report_errors, "at", at,
			   "version", OB_VERSION, "box_name", json_object_get(settings, "box_name"),
			   "channels", ob_cloud_channel_summary(cloud), "hardware",
			   json_object_get(hardware, "hardware"), "commands", commands);
	pthread_mutex_unlock(&cloud->lock);
	json_decref(settings);
	json_decref(hardware);
	text = report ? json_dumps(report, JSON_COMPACT) : NULL;
	json_decref(report);
	if (!text)
		return OB_ENOMEM;
	snprintf(path, sizeof(path), "/v1/devices/%s/reported",
		 ob_cloud_identity_device_id(cloud->identity));
	ret = ob_cloud_cp_request(cloud, config, "PUT", path, "application/json", text,
				  strlen(text), &resp, err, sizeof(err));
	free(text);
	if (ret == 0 && resp.status != 204 && resp.status != 200) {
		answer_message(&resp, err, sizeof(err));
		ret = OB_EIO;
	}
	if (ret != 0)
		ob_warn(MODULE, "reported state not sent: %s", err);
	ob_cloud_http_response_clear(&resp);
	return ret;
}

/* Sends the events the control plane does not have yet, oldest first, in batches. */
static int flush_events(struct ob_cloud *cloud, const json_t *config)
{
	struct ob_store_cloud_state state;
	char path[128];
	int ret = 0;

	snprintf(path, sizeof(path), "/v1/devices/%s/events",
		 ob_cloud_identity_device_id(cloud->identity));
	ob_store_cloud_state_get(cloud->deps.store, &state);
	for (int round = 0; round < EVENT_BATCHES_PER_ROUND && ret == 0; round++) {
		int64_t last = ob_store_events_last_seq(cloud->deps.store);
		struct ob_http_response resp = { 0 };
		json_t *events;
		json_t *answer;
		char *text;
		char err[512];

		if (last - state.events_acked_seq > EVENTS_OUTBOX) {
			state.events_dropped += last - EVENTS_OUTBOX - state.events_acked_seq;
			state.events_acked_seq = last - EVENTS_OUTBOX;
		}
		if (state.events_acked_seq >= last)
			break;
		if (state.events_acked_seq > 0) {
			events = ob_store_events_list(cloud->deps.store, NULL, 0,
						      state.events_acked_seq, EVENTS_BATCH);
		} else {
			/* Nothing sent yet (a board enrolled before its first event was stored):
			 * "after 0" would read as the newest, so the first ones, turned around. */
			json_t *newest_first = ob_store_events_list(cloud->deps.store, NULL,
								    EVENTS_BATCH + 1, 0, EVENTS_BATCH);

			events = json_array();
			for (size_t i = json_array_size(newest_first); i-- > 0;)
				json_array_append(events, json_array_get(newest_first, i));
			json_decref(newest_first);
		}
		answer = json_pack("{s:o}", "events", events);
		text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
		json_decref(answer);
		if (!text) {
			ret = OB_ENOMEM;
			break;
		}
		ret = ob_cloud_cp_request(cloud, config, "POST", path, "application/json", text,
					  strlen(text), &resp, err, sizeof(err));
		free(text);
		if (ret == 0 && resp.status != 200) {
			answer_message(&resp, err, sizeof(err));
			ret = OB_EIO;
		}
		if (ret == 0) {
			answer = json_loadb(resp.body, resp.body_len, 0, NULL);
			if (json_is_integer(json_object_get(answer, "acked_through")) &&
			    json_integer_value(json_object_get(answer, "acked_through")) >
				    state.events_acked_seq)
				state.events_acked_seq =
					json_integer_value(json_object_get(answer, "acked_through"));
			else
				ret = OB_EIO; /* no progress: try again at the next round */
			json_decref(answer);
		} else {
			ob_warn(MODULE, "events not sent: %s", err);
		}
		ob_cloud_http_response_clear(&resp);
	}
	{
		/* Read again: the poll may have changed the ETag meanwhile. */
		struct ob_store_cloud_state now;

		ob_store_cloud_state_get(cloud->deps.store, &now);
		now.events_acked_seq = state.events_acked_seq;
		now.events_dropped = state.events_dropped;
		ob_store_cloud_state_put(cloud->deps.store, &now);
	}
	return ret;
}

/* ---- one poll ---- */

/* Polls for desired state and applies what came. Returns the wait before the next poll. */
static int64_t poll_once(struct ob_cloud *cloud, const json_t *config)
{
	struct ob_http_response resp = { 0 };
	struct ob_store_cloud_state state;
	char path[128];
	char err[768];
	int retry_after = -1;
	bool ok = false;
	bool slowest = false;
	int ret;

	snprintf(path, sizeof(path), "/v1/devices/%s/desired",
		 ob_cloud_identity_device_id(cloud->identity));
	ret = ob_cloud_cp_request(cloud, config, "GET", path, NULL, NULL, 0, &resp, err,
				  sizeof(err));
	if (ret == 0) {
		retry_after = resp.retry_after_s;
		if (resp.status == 200) {
			struct ob_cloud_outcome result;

			ok = true;
			if (ob_cloud_process_bundle(cloud, resp.body, resp.body_len, resp.etag, "poll",
						    "cloud", NULL, &result) == 0) {
				ob_store_cloud_state_get(cloud->deps.store, &state);
				if (result.poll_interval_s)
					state.poll_interval_s = result.poll_interval_s;
				pthread_mutex_lock(&cloud->lock);
				if (result.fate == OB_CLOUD_FATE_APPLIED ||
				    result.fate == OB_CLOUD_FATE_ALREADY) {
					if (etag_usable(resp.etag))
						ob_strlcpy(state.etag, resp.etag, sizeof(state.etag));
					cloud->refused_etag[0] = '\0';
				} else if (etag_usable(resp.etag)) {
					ob_strlcpy(cloud->refused_etag, resp.etag,
						   sizeof(cloud->refused_etag));
				}
				pthread_mutex_unlock(&cloud->lock);
				ob_store_cloud_state_put(cloud->deps.store, &state);
			}
		} else if (resp.status == 304 || resp.status == 404) {
			ok = true;
		} else {
			answer_message(&resp, err, sizeof(err));
			slowest = resp.status == 401 || resp.status == 403;
		}
	}
	ob_cloud_http_response_clear(&resp);
	record_contact(cloud, ok, err);
	if (!ok)
		ob_warn(MODULE, "polling the control plane failed: %s", err);
	pthread_mutex_lock(&cloud->lock);
	cloud->errors_in_row = ok ? 0 : cloud->errors_in_row + 1;
	cloud->polls_since_report++;
	pthread_mutex_unlock(&cloud->lock);
	ob_store_cloud_state_get(cloud->deps.store, &state);
	if (slowest)
		return SLOWEST_POLL_MS;
	return next_wait_ms(state.poll_interval_s > 0 ? state.poll_interval_s : FIRST_POLL_S,
			    ok ? 0 : cloud->errors_in_row, retry_after);
}

static void reboot_now(struct ob_cloud *cloud)
{
	pthread_mutex_lock(&cloud->lock);
	cloud->reboot_due = false;
	pthread_mutex_unlock(&cloud->lock);
	ob_warn(MODULE, "rebooting, as the control plane asked: %s", CONFIG_CLOUD_REBOOT_COMMAND);
	ob_event_publish(OB_EVENT_WARNING, "box.rebooting", NULL, NULL,
			 "the box reboots, as the control plane asked");
	if (system(CONFIG_CLOUD_REBOOT_COMMAND) != 0)
		ob_error(MODULE, "the reboot command failed: %s", CONFIG_CLOUD_REBOOT_COMMAND);
}

/* Waits up to ms, or until woken or stopped. */
static void nap(struct ob_cloud *cloud, int64_t ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&cloud->lock);
	cloud->next_poll_ms = ob_time_wall_ms() + ms;
	while (!cloud->stopping && !cloud->wake &&
	       pthread_cond_timedwait(&cloud->wake_cond, &cloud->lock, &until) == 0)
		;
	cloud->wake = false;
	cloud->next_poll_ms = 0;
	pthread_mutex_unlock(&cloud->lock);
}

static bool stopping(struct ob_cloud *cloud)
{
	bool stop;

	pthread_mutex_lock(&cloud->lock);
	stop = cloud->stopping;
	pthread_mutex_unlock(&cloud->lock);
	return stop;
}

static void *sync_main(void *arg)
{
	struct ob_cloud *cloud = arg;

	while (!stopping(cloud)) {
		json_t *config = ob_store_cloud_config_get(cloud->deps.store);
		const char *state = json_string_value(json_object_get(config, "state"));
		int64_t wait = SLOWEST_POLL_MS;
		bool report = false;

		if (!config || !json_string_value(json_object_get(config, "url"))) {
			/* Not enrolled, or air-gapped: nothing to ask until someone enrolls. */
			json_decref(config);
			nap(cloud, wait);
			continue;
		}
		if (strcmp(state, "enrolling") == 0) {
			char err[768];
			int ret = send_enrollment(cloud, config, err, sizeof(err));

			if (ret == 0) {
				enrolled(cloud, config);
				json_decref(config);
				continue;
			}
			record_contact(cloud, false, err);
			ob_warn(MODULE, "enrollment with %s: %s",
				json_string_value(json_object_get(config, "url")), err);
			pthread_mutex_lock(&cloud->lock);
			cloud->errors_in_row++;
			wait = ret == OB_EAUTH ? SLOWEST_POLL_MS
					       : next_wait_ms(FIRST_POLL_S, cloud->errors_in_row, -1);
			pthread_mutex_unlock(&cloud->lock);
			json_decref(config);
			nap(cloud, wait);
			continue;
		}
		wait = poll_once(cloud, config);
		if (cloud->errors_in_row == 0)
			flush_events(cloud, config);
		pthread_mutex_lock(&cloud->lock);
		report = cloud->errors_in_row == 0 &&
			 (cloud->report_due || cloud->polls_since_report >= REPORT_EVERY_POLLS);
		pthread_mutex_unlock(&cloud->lock);
		if (report && send_report(cloud, config) == 0) {
			pthread_mutex_lock(&cloud->lock);
			cloud->report_due = false;
			cloud->polls_since_report = 0;
			report = cloud->reboot_due;
			pthread_mutex_unlock(&cloud->lock);
			if (report)
				reboot_now(cloud);
		}
		json_decref(config);
		nap(cloud, wait);
	}
	return NULL;
}

/* ---- the API's side ---- */

void ob_cloud_sync_now(struct ob_cloud *cloud)
{
	pthread_mutex_lock(&cloud->lock);
	cloud->wake = true;
	cloud->errors_in_row = 0;
	pthread_cond_signal(&cloud->wake_cond);
	pthread_mutex_unlock(&cloud->lock);
}

void ob_cloud_upload(struct ob_cloud *cloud, const char *jws, size_t len, const char *actor,
		     const char *remote_addr, struct ob_cloud_result *out)
{
	struct ob_cloud_outcome result;
	static const char *const fates[] = {
		[OB_CLOUD_FATE_APPLIED] = "applied",
		[OB_CLOUD_FATE_ALREADY] = "already_applied",
		[OB_CLOUD_FATE_REFUSED] = "refused",
		[OB_CLOUD_FATE_ROLLED_BACK] = "rolled_back",
	};
	int ret;

	memset(out, 0, sizeof(*out));
	/* Whitespace around a pasted bundle is not part of it. */
	while (len > 0 && (jws[len - 1] == '\n' || jws[len - 1] == '\r' || jws[len - 1] == ' '))
		len--;
	while (len > 0 && (*jws == '\n' || *jws == '\r' || *jws == ' ')) {
		jws++;
		len--;
	}
	ret = ob_cloud_process_bundle(cloud, jws, len, NULL, "upload", actor, remote_addr,
				      &result);
	if (ret != 0) {
		set_result(out, 500, "io", "the bundle could not be processed: %s",
			   ob_strerror(ret));
		return;
	}
	switch (result.fate) {
	case OB_CLOUD_FATE_APPLIED:
	case OB_CLOUD_FATE_ALREADY:
		set_result(out, 200, "", "%s", result.message);
		break;
	case OB_CLOUD_FATE_REFUSED:
		set_result(out, 422, ob_cloud_refusal_code(result.refusal), "%s", result.message);
		break;
	case OB_CLOUD_FATE_ROLLED_BACK:
		set_result(out, 409, "rolled_back", "%s", result.message);
		break;
	}
	out->body = json_pack("{s:I, s:s, s:s?, s:s}", "generation", (json_int_t)result.generation,
			      "status", fates[result.fate], "reason",
			      result.fate == OB_CLOUD_FATE_REFUSED
				      ? ob_cloud_refusal_code(result.refusal)
				      : NULL,
			      "message", result.message);
	/* Tell the control plane too, when there is one. */
	ob_cloud_sync_now(cloud);
}

json_t *ob_cloud_status(struct ob_cloud *cloud)
{
	json_t *config = ob_store_cloud_config_get(cloud->deps.store);
	struct ob_store_cloud_state state;
	int64_t last = ob_store_events_last_seq(cloud->deps.store);
	int64_t pending;
	char next[32] = "";
	json_t *status;

	ob_store_cloud_state_get(cloud->deps.store, &state);
	pending = json_string_value(json_object_get(config, "url")) ? last - state.events_acked_seq
								     : 0;
	if (pending < 0)
		pending = 0;
	if (pending > EVENTS_OUTBOX)
		pending = EVENTS_OUTBOX;
	pthread_mutex_lock(&cloud->lock);
	if (cloud->next_poll_ms && json_string_value(json_object_get(config, "url")))
		ob_time_iso8601(cloud->next_poll_ms, next, sizeof(next));
	status = json_pack(
		"{s:s, s:s, s:s?, s:b, s:I, s:I, s:o, s:o, s:s?, s:o, s:s?, s:s?, s:{s:I, s:I, "
		"s:I}, s:s, s:o, s:O?, s:o, s:o}",
		"device_id", ob_cloud_identity_device_id(cloud->identity), "state",
		config ? json_string_value(json_object_get(config, "state")) : "not_enrolled",
		"url", json_string_value(json_object_get(config, "url")), "ca_pinned",
		json_string_value(json_object_get(config, "ca_pem")) != NULL, "pinned_keys",
		(json_int_t)json_array_size(json_object_get(config, "bundle_keys")),
		"applied_generation", (json_int_t)applied_generation(cloud), "enrolled_at",
		time_or_null(json_integer_value(json_object_get(config, "enrolled_ms"))),
		"last_contact", time_or_null(state.last_contact_ms), "last_error",
		state.last_error[0] ? state.last_error : NULL, "last_error_at",
		time_or_null(state.last_error_ms), "etag",
		state.etag[0] ? state.etag : NULL, "next_poll", next[0] ? next : NULL, "outbox",
		"pending", (json_int_t)pending, "dropped", (json_int_t)state.events_dropped,
		"acked_through", (json_int_t)state.events_acked_seq, "last_bundle_status",
		cloud->report_status[0] ? cloud->report_status : "none", "last_bundle_generation",
		json_integer(cloud->report_generation), "last_bundle_errors",
		cloud->report_errors, "poll_interval_s",
		json_integer(state.poll_interval_s > 0 ? state.poll_interval_s : FIRST_POLL_S),
		"errors_in_row", json_integer(cloud->errors_in_row));
	pthread_mutex_unlock(&cloud->lock);
	if (status) {
		json_object_set_new(status, "bundles",
				    ob_store_cloud_bundles_list(cloud->deps.store, false));
		json_object_set_new(status, "commands",
				    ob_store_cloud_commands_list(cloud->deps.store, 20));
	}
	json_decref(config);
	return status;
}

const char *ob_cloud_box_id(const struct ob_cloud *cloud)
{
	return ob_cloud_identity_device_id(cloud->identity);
}

int ob_cloud_start(const struct ob_cloud_deps *deps, struct ob_cloud **out, char *err,
		   size_t err_len)
{
	struct ob_cloud *cloud = calloc(1, sizeof(*cloud));
	pthread_condattr_t attr;
	bool created = false;
	int ret;

	*out = NULL;
	if (!cloud) {
		snprintf(err, err_len, "out of memory starting the cloud sync");
		return OB_ENOMEM;
	}
	cloud->deps = *deps;
	ob_strlcpy(cloud->data_dir, deps->data_dir, sizeof(cloud->data_dir));
	ob_strlcpy(cloud->enroll_file, deps->enroll_file ? deps->enroll_file : "",
		   sizeof(cloud->enroll_file));
	cloud->deps.data_dir = cloud->data_dir;
	cloud->deps.enroll_file = cloud->enroll_file;
	ret = ob_cloud_identity_open(cloud->data_dir, &cloud->identity, &created, err, err_len);
	if (ret != 0)
		goto fail_free;
	pthread_mutex_init(&cloud->apply_lock, NULL);
	pthread_mutex_init(&cloud->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&cloud->wake_cond, &attr);
	pthread_condattr_destroy(&attr);
	cloud->report_errors = json_array();
	ob_cloud_recover_pending(cloud);
	enroll_from_file(cloud);
	ret = pthread_create(&cloud->thread, NULL, sync_main, cloud);
	if (ret != 0) {
		snprintf(err, err_len, "the cloud sync thread did not start: %s", strerror(ret));
		ret = OB_EIO;
		goto fail_destroy;
	}
	cloud->thread_started = true;
	*out = cloud;
	return 0;

fail_destroy:
	json_decref(cloud->report_errors);
	pthread_cond_destroy(&cloud->wake_cond);
	pthread_mutex_destroy(&cloud->lock);
	pthread_mutex_destroy(&cloud->apply_lock);
	ob_cloud_identity_free(&cloud->identity);
fail_free:
	free(cloud);
	return ret;
}

void ob_cloud_stop(struct ob_cloud **cloudp)
{
	struct ob_cloud *cloud = *cloudp;

	if (!cloud)
		return;
	pthread_mutex_lock(&cloud->lock);
	cloud->stopping = true;
	pthread_cond_signal(&cloud->wake_cond);
	pthread_mutex_unlock(&cloud->lock);
	if (cloud->thread_started)
		pthread_join(cloud->thread, NULL);
	json_decref(cloud->report_errors);
	pthread_cond_destroy(&cloud->wake_cond);
	pthread_mutex_destroy(&cloud->lock);
	pthread_mutex_destroy(&cloud->apply_lock);
	ob_cloud_identity_free(&cloud->identity);
	free(cloud);
	*cloudp = NULL;
}
