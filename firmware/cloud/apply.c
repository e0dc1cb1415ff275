/* A bundle's way through the box: its envelope and generation checked, its payload
 * checked and applied in one transaction, the channels and access put into effect, a health
 * check, and on failure the rollback to what stood before; then its commands, each id once.
 * docs/control-plane.md ("Applying, health check, rollback", "Commands"). */
#include <errno.h>
#include <mbedtls/sha256.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "cloud/internal.h"
#include "core/err.h"
#include "core/events.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"
#include "core/version.h"
#include "engine/engine.h"
#include "generated/autoconf.h"
#include "place.h"
#include "store/store.h"

#define MODULE "cloud"
#define HEALTH_TICK_MS 250
#define UPDATE_MAX_BYTES (128 * 1024 * 1024)

extern char **environ;

static void outcome(struct ob_cloud_outcome *out, enum ob_cloud_fate fate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void outcome(struct ob_cloud_outcome *out, enum ob_cloud_fate fate, const char *fmt, ...)
{
	va_list ap;

	out->fate = fate;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

/* Remembers what the next reported state says about the last bundle. */
static void note_report(struct ob_cloud *cloud, const char *status, int64_t generation,
			const char *code, const char *message)
{
	pthread_mutex_lock(&cloud->lock);
	ob_strlcpy(cloud->report_status, status, sizeof(cloud->report_status));
	cloud->report_generation = generation;
	json_decref(cloud->report_errors);
	cloud->report_errors = code ? json_pack("[{s:s, s:s}]", "code", code, "message", message)
				    : json_array();
	cloud->report_due = true;
	pthread_mutex_unlock(&cloud->lock);
}

/* ---- channels ---- */

static bool is_running(const char *state)
{
	return state && strcmp(state, "stopped") != 0;
}

json_t *ob_cloud_channel_summary(struct ob_cloud *cloud)
{
	json_t *channels = ob_store_doc_list(cloud->deps.store, OB_STORE_CHANNELS);
	json_t *out = json_array();
	const json_t *channel;
	size_t i;

	json_array_foreach(channels, i, channel) {
		const char *id = json_string_value(json_object_get(channel, "id"));
		json_t *status = id ? ob_engine_status(cloud->deps.engine, id) : NULL;
		const char *reason = json_string_value(json_object_get(status, "reason"));

		if (status)
			json_array_append_new(out, json_pack("{s:s, s:O, s:s}", "id", id, "state",
							     json_object_get(status, "state"),
							     "reason", reason ? reason : ""));
		json_decref(status);
	}
	json_decref(channels);
	return out;
}

/* {id: state} of every stored channel. */
static json_t *channel_states(struct ob_cloud *cloud)
{
	json_t *summary = ob_cloud_channel_summary(cloud);
	json_t *states = json_object();
	const json_t *channel;
	size_t i;

	json_array_foreach(summary, i, channel)
		json_object_set(states, json_string_value(json_object_get(channel, "id")),
				json_object_get(channel, "state"));
	json_decref(summary);
	return states;
}

/* Whether a channel's new document changes what its run does (its name, access class and
 * risk class are the origin's, not the engine's). */
static bool engine_fields_changed(const json_t *before, const json_t *after)
{
	static const char *const origin_only[] = { "name", "access", "risk_class" };
	json_t *a = json_deep_copy(before);
	json_t *b = json_deep_copy(after);
	bool changed;

	for (size_t i = 0; i < OB_ARRAY_SIZE(origin_only); i++) {
		json_object_del(a, origin_only[i]);
		json_object_del(b, origin_only[i]);
	}
	changed = !json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return changed;
}

static void start_channel(struct ob_cloud *cloud, const char *id, bool restart)
{
	char err[512];

	if (restart)
		ob_engine_stop(cloud->deps.engine, id);
	if (ob_engine_start(cloud->deps.engine, id, err, sizeof(err)) != 0)
		ob_warn(MODULE, "channel \"%s\" did not start: %s", id, err);
}

/* Puts the bundle's channels into effect: a running channel whose run changes restarts, a
 * channel that should run (autostart) and does not starts. before holds the documents the
 * bundle replaced. */
static void effect_channels(struct ob_cloud *cloud, const json_t *channels,
			    const json_t *before_docs, const json_t *states)
{
	const char *id;
	json_t *doc;

	json_object_foreach((json_t *)channels, id, doc) {
		const json_t *old = json_object_get(before_docs, id);
		bool running = is_running(json_string_value(json_object_get(states, id)));

		if (running && (!json_is_object(old) || engine_fields_changed(old, doc)))
			start_channel(cloud, id, true);
		else if (!running && json_is_true(json_object_get(doc, "autostart")))
			start_channel(cloud, id, false);
	}
}

/* Puts a rollback's channels back as they ran before the bundle: a channel the bundle made
 * stops, one that ran runs again as it was, one that did not run stops. */
static void effect_rollback_channels(struct ob_cloud *cloud, const json_t *channels,
				     const json_t *states)
{
	const char *id;
	json_t *doc;

	json_object_foreach((json_t *)channels, id, doc) {
		if (json_is_object(doc) && is_running(json_string_value(json_object_get(states, id))))
			start_channel(cloud, id, true);
		else
			ob_engine_stop(cloud->deps.engine, id);
	}
}

static void reload_access(struct ob_cloud *cloud)
{
	char err[256];

	if (ob_access_entitle_reload(cloud->deps.entitle, cloud->deps.store, err, sizeof(err)) != 0)
		ob_error(MODULE, "the playback access state was not reloaded: %s", err);
}

/* ---- the health check ---- */

/* Whether a token the box issues now for one of its premium channels verifies; true when
 * there is no premium channel to try. */
static bool tokens_verify(struct ob_cloud *cloud, char *why, size_t why_len)
{
	json_t *channels = ob_store_doc_list(cloud->deps.store, OB_STORE_CHANNELS);
	const json_t *channel;
	const char *premium = NULL;
	size_t i;
	bool ok = true;

	json_array_foreach(channels, i, channel) {
		const char *access = json_string_value(json_object_get(channel, "access"));

		if (access && strcmp(access, "premium") == 0) {
			premium = json_string_value(json_object_get(channel, "id"));
			break;
		}
	}
	if (premium) {
		struct ob_entitle_issued issued;
		struct ob_entitle_decision decision;
		char path[96];
		char err[256];
		int64_t now_s = ob_time_wall_ms() / 1000;
		struct ob_entitle_issue issue = { .path = path, .ttl_s = 60, .now_s = now_s };

		snprintf(path, sizeof(path), OB_PREMIUM_PREFIX "/live/%s/master.m3u8", premium);
		if (ob_access_entitle_issue(cloud->deps.entitle, &issue, &issued, err,
					    sizeof(err)) != 0) {
			snprintf(why, why_len, "no playback token can be issued for \"%s\": %s",
				 premium, err);
			ok = false;
		} else {
			struct ob_entitle_request request = {
				.path = path,
				.client_addr = "127.0.0.1",
				.token = issued.token,
				.token_len = strlen(issued.token),
				.now_s = now_s,
			};
			enum ob_entitle_result result =
				ob_access_entitle_check(cloud->deps.entitle, &request, &decision);

			/* The policy's networks may leave the box's own address out. */
			ok = result == OB_ENTITLE_OK || result == OB_ENTITLE_ADDRESS;
			if (!ok)
				snprintf(why, why_len, "a token issued for \"%s\" does not verify (%s)",
					 premium, ob_access_entitle_reason(result));
		}
		ob_secure_zero(&issued, sizeof(issued));
	}
	json_decref(channels);
	return ok;
}

/* What each channel must come to after the bundle: "live" for one the bundle set that
 * should run (or "running" when it was degraded before), "running" for one that ran
 * untouched (it must not fail). */
static json_t *health_targets(const json_t *channels, const json_t *states)
{
	json_t *targets = json_object();
	const char *id;
	json_t *value;

	json_object_foreach((json_t *)states, id, value) {
		if (is_running(json_string_value(value)) &&
		    strcmp(json_string_value(value), "failed") != 0)
			json_object_set_new(targets, id, json_string("running"));
	}
	json_object_foreach((json_t *)channels, id, value) {
		const char *before = json_string_value(json_object_get(states, id));

		if (is_running(before) || json_is_true(json_object_get(value, "autostart")))
			json_object_set_new(targets, id,
					    json_string(before && strcmp(before, "degraded") == 0
								? "running"
								: "live"));
		else
			json_object_del(targets, id);
	}
	return targets;
}

static bool box_stopping(struct ob_cloud *cloud)
{
	bool stopping;

	pthread_mutex_lock(&cloud->lock);
	stopping = cloud->stopping;
	pthread_mutex_unlock(&cloud->lock);
	return stopping;
}

/* Waits until every channel meets its target, up to the cloud_health_check_s setting; a
 * channel that fails fails the check at once. 0, OB_EBUSY with what failed in why, or
 * OB_ECONFLICT when the box began to stop first (the bundle stays pending and the next
 * start rolls it back). */
static int health_check(struct ob_cloud *cloud, const json_t *targets, bool tokens_before,
			char *why, size_t why_len)
{
	int64_t deadline = ob_time_mono_ms() +
			   ob_store_setting_int(cloud->deps.store, "cloud_health_check_s") * 1000;

	if (tokens_before && !tokens_verify(cloud, why, why_len))
		return OB_EBUSY;
	for (;;) {
		const char *id;
		json_t *target;
		bool all = true;
		char waiting[256] = "";

		json_object_foreach((json_t *)targets, id, target) {
			json_t *status = ob_engine_status(cloud->deps.engine, id);
			const char *state = json_string_value(json_object_get(status, "state"));
			const char *reason = json_string_value(json_object_get(status, "reason"));
			bool want_live = strcmp(json_string_value(target), "live") == 0;

			if (!state || strcmp(state, "failed") == 0 ||
			    (want_live && strcmp(state, "stopped") == 0)) {
				snprintf(why, why_len, "channel \"%s\" is %s%s%s", id,
					 state ? state : "gone", reason && *reason ? ": " : "",
					 reason ? reason : "");
				json_decref(status);
				return OB_EBUSY;
			}
			if (want_live && strcmp(state, "live") != 0) {
				all = false;
				snprintf(waiting, sizeof(waiting), "channel \"%s\" is still %s%s%.160s",
					 id, state, reason && *reason ? ": " : "", reason ? reason : "");
			}
			json_decref(status);
		}
		if (all)
			return 0;
		if (box_stopping(cloud))
			return OB_ECONFLICT;
		if (ob_time_mono_ms() >= deadline) {
			snprintf(why, why_len, "%s after %lld s (cloud_health_check_s)", waiting,
				 ob_store_setting_int(cloud->deps.store, "cloud_health_check_s"));
			return OB_EBUSY;
		}
		{
			struct timespec tick = { 0, HEALTH_TICK_MS * 1000 * 1000 };

			nanosleep(&tick, NULL);
		}
	}
}

/* ---- commands ---- */

/* Runs "sh -c COMMAND [sh ARG]" and waits for it. 0 when it exits 0. */
static int run_program(const char *command, const char *arg, char *detail, size_t len)
{
	char script[512];
	char *argv[6] = { "/bin/sh", "-c", script, NULL, NULL, NULL };
	pid_t pid;
	int status = 0;
	int rc;

	snprintf(script, sizeof(script), arg ? "%s \"$1\"" : "%s", command);
	if (arg) {
		argv[3] = "sh";
		argv[4] = (char *)arg;
	}
	rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
	if (rc != 0) {
		snprintf(detail, len, "\"%s\" did not start: %s", command, strerror(rc));
		return OB_EIO;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(detail, len, "\"%s\" failed (exit status %d)", command,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return OB_EIO;
	}
	return 0;
}

static bool command_restart_channel(struct ob_cloud *cloud, const json_t *command,
				    const json_t *config, char *detail, size_t len)
{
	const char *id = json_string_value(json_object_get(command, "channel"));
	json_t *doc = NULL;
	char err[512];

	(void)config;
	if (ob_store_doc_get(cloud->deps.store, OB_STORE_CHANNELS, id, &doc) != 0) {
		snprintf(detail, len, "no channel \"%.64s\" on this box", id);
		return false;
	}
	json_decref(doc);
	ob_engine_stop(cloud->deps.engine, id);
	if (ob_engine_start(cloud->deps.engine, id, err, sizeof(err)) != 0) {
		snprintf(detail, len, "channel \"%.64s\" did not start again: %s", id, err);
		return false;
	}
	snprintf(detail, len, "channel \"%.64s\" restarted", id);
	return true;
}

static bool command_reboot(struct ob_cloud *cloud, const json_t *command, const json_t *config,
			   char *detail, size_t len)
{
	(void)command;
	(void)config;
	if (!*CONFIG_CLOUD_REBOOT_COMMAND) {
		snprintf(detail, len, "this build has no reboot command (CONFIG_CLOUD_REBOOT_COMMAND "
			 "is empty); restart the box by hand");
		return false;
	}
	pthread_mutex_lock(&cloud->lock);
	cloud->reboot_due = true;
	cloud->report_due = true;
	pthread_mutex_unlock(&cloud->lock);
	snprintf(detail, len, "rebooting once this result is reported");
	return true;
}

static bool command_rotate_keys(struct ob_cloud *cloud, const json_t *command,
				const json_t *config, char *detail, size_t len)
{
	struct ob_access_key_row keys[OB_ACCESS_KEYS_MAX];
	struct ob_access_key_row row = { 0 };
	struct ob_audit audit = { .actor = "cloud", .action = "access.key.rotate" };
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t count = 0;
	bool ok = false;
	int ret;

	(void)command;
	(void)config;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(row.id, sizeof(row.id), "rot-%.20s", stamp);
	/* A full ring gives up its oldest key that does not sign. */
	if (ob_store_access_keys_load(cloud->deps.store, keys, OB_ARRAY_SIZE(keys), &count) == 0 &&
	    count >= OB_ACCESS_KEYS_MAX) {
		for (size_t i = 0; i < count; i++) {
			if (!keys[i].signing) {
				struct ob_audit retire = { .actor = "cloud",
							   .action = "access.key.delete",
							   .target = keys[i].id };

				ob_store_access_key_delete(cloud->deps.store, keys[i].id, &retire);
				break;
			}
		}
	}
	ob_secure_zero(keys, sizeof(keys));
	row.secret_len = 32;
	ret = ob_random_bytes(row.secret, row.secret_len);
	if (ret == 0) {
		unsigned char digest[32];

		mbedtls_sha256_ret(row.secret, row.secret_len, digest, 0);
		ob_hex_encode(digest, 8, row.fingerprint);
		row.signing = true;
		ob_strlcpy(row.source, "generated", sizeof(row.source));
		ob_strlcpy(row.created_by, "cloud", sizeof(row.created_by));
		row.created_ms = ob_time_wall_ms();
		audit.target = row.id;
		ret = ob_store_access_key_add(cloud->deps.store, &row, &audit);
	}
	if (ret == 0) {
		reload_access(cloud);
		snprintf(detail, len, "token key \"%s\" (fingerprint %s) now signs new tokens; the "
			 "old keys still verify", row.id, row.fingerprint);
		ob_event_publish(OB_EVENT_INFO, "access.changed", NULL,
				 json_pack("{s:s, s:s}", "what", "keys", "actor", "cloud"),
				 "token key \"%s\" made by the control plane's rotation", row.id);
		ok = true;
	} else {
		snprintf(detail, len, "no new token key: %s", ob_strerror(ret));
	}
	ob_secure_zero(&row, sizeof(row));
	return ok;
}

/* The diagnostics bundle: what a support engineer asks for first. Never a secret. */
static json_t *diagnostics(struct ob_cloud *cloud)
{
	json_t *channels = ob_store_doc_list(cloud->deps.store, OB_STORE_CHANNELS);
	json_t *channel;
	size_t i;
	char at[32];

	json_array_foreach(channels, i, channel) {
		const char *id = json_string_value(json_object_get(channel, "id"));

		if (id)
			json_object_set_new(channel, "status", ob_engine_status(cloud->deps.engine, id));
	}
	ob_time_iso8601(ob_time_wall_ms(), at, sizeof(at));
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "at", at, "version",
			 OB_VERSION, "build", OB_BUILD_ID, "device_id",
			 ob_cloud_identity_device_id(cloud->identity), "settings",
			 ob_store_settings_get(cloud->deps.store), "channels", channels, "hardware",
			 ob_hw_report(false), "events",
			 ob_store_events_list(cloud->deps.store, NULL, 0, 0, 500), "sync",
			 ob_cloud_status(cloud));
}

static bool command_diagnostics(struct ob_cloud *cloud, const json_t *command,
				const json_t *config, char *detail, size_t len)
{
	json_t *doc = diagnostics(cloud);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	bool ok = false;

	json_decref(doc);
	if (!text) {
		snprintf(detail, len, "out of memory making the diagnostics");
		return false;
	}
	if (json_string_value(json_object_get(config, "url"))) {
		struct ob_http_response resp = { 0 };
		char path[128];
		char err[512];

		snprintf(path, sizeof(path), "/v1/devices/%s/diagnostics",
			 ob_cloud_identity_device_id(cloud->identity));
		if (ob_cloud_cp_request(cloud, config, "POST", path, "application/json", text,
					strlen(text), &resp, err, sizeof(err)) != 0)
			snprintf(detail, len, "diagnostics not uploaded: %s", err);
		else if (resp.status != 201 && resp.status != 200)
			snprintf(detail, len, "the control plane refused the diagnostics (HTTP %d)",
				 resp.status);
		else
			ok = snprintf(detail, len, "%zu bytes of diagnostics uploaded",
				      strlen(text)) > 0;
		ob_cloud_http_response_clear(&resp);
	} else {
		char path[4200];

		snprintf(path, sizeof(path), "%s/diagnostics", cloud->data_dir);
		ob_mkdir_p(path, 0700);
		snprintf(path, sizeof(path), "%s/diagnostics/%.64s.json", cloud->data_dir,
			 json_string_value(json_object_get(command, "id")));
		if (ob_write_file_atomic(path, text, strlen(text), 0600) == 0)
			ok = snprintf(detail, len, "written to %s (no control plane to upload to)",
				      path) > 0;
		else
			snprintf(detail, len, "diagnostics could not be written to %s", path);
	}
	free(text);
	return ok;
}

static bool command_install_update(struct ob_cloud *cloud, const json_t *command,
				   const json_t *config, char *detail, size_t len)
{
	const char *url = json_string_value(json_object_get(command, "url"));
	const char *sha = json_string_value(json_object_get(command, "sha256"));
	struct ob_http_request request = {
		.method = "GET",
		.url = url,
		.ca_pem = json_string_value(json_object_get(config, "ca_pem")),
		.timeout_ms = 30000,
		.total_timeout_ms = 30 * 60 * 1000,
		.max_body = UPDATE_MAX_BYTES,
	};
	struct ob_http_response resp = { 0 };
	unsigned char digest[32];
	char hex[65];
	char path[4200];
	char err[512];
	bool ok = false;

	ob_event_publish(OB_EVENT_INFO, "update.started", NULL,
			 json_pack("{s:s, s:s}", "url", url, "sha256", sha),
			 "firmware update started: downloading %s", url);
	if (ob_cloud_http_request(&request, &resp, err, sizeof(err)) != 0) {
		snprintf(detail, len, "the update could not be downloaded: %s", err);
		goto out_event;
	}
	if (resp.status != 200) {
		snprintf(detail, len, "the update could not be downloaded: %s answered HTTP %d",
			 url, resp.status);
		goto out_event;
	}
	mbedtls_sha256_ret((const unsigned char *)resp.body, resp.body_len, digest, 0);
	ob_hex_encode(digest, sizeof(digest), hex);
	if (strcasecmp(hex, sha) != 0) {
		snprintf(detail, len, "the download's sha256 is %s, not the %s the command names: "
			 "nothing installed", hex, sha);
		goto out_event;
	}
	snprintf(path, sizeof(path), "%s/updates", cloud->data_dir);
	ob_mkdir_p(path, 0700);
	snprintf(path, sizeof(path), "%s/updates/%.16s.bundle", cloud->data_dir, hex);
	if (ob_write_file_atomic(path, resp.body, resp.body_len, 0600) != 0) {
		snprintf(detail, len, "the update could not be written to %s (is the disk full?)",
			 path);
		goto out_event;
	}
	if (!*CONFIG_CLOUD_UPDATE_COMMAND) {
		snprintf(detail, len, "%zu bytes downloaded to %s and checked, but this build has "
			 "no installer (CONFIG_CLOUD_UPDATE_COMMAND is empty)", resp.body_len, path);
		goto out_event;
	}
	if (run_program(CONFIG_CLOUD_UPDATE_COMMAND, path, detail, len) == 0) {
		snprintf(detail, len, "installed from %s (sha256 %.16s…); it runs after the next "
			 "reboot", url, hex);
		ok = true;
	}
out_event:
	ob_cloud_http_response_clear(&resp);
	ob_event_publish(ok ? OB_EVENT_INFO : OB_EVENT_ERROR, ok ? "update.done" : "update.failed",
			 NULL, json_pack("{s:s, s:s}", "url", url, "detail", detail),
			 "firmware update %s: %s", ok ? "installed" : "failed", detail);
	return ok;
}

static const struct {
	const char *type;
	bool (*run)(struct ob_cloud *cloud, const json_t *command, const json_t *config,
		    char *detail, size_t len);
} command_runners[] = {
	{ "restart_channel", command_restart_channel },
	{ "reboot", command_reboot },
	{ "rotate_token_keys", command_rotate_keys },
	{ "collect_diagnostics", command_diagnostics },
	{ "install_update", command_install_update },
};

/* Runs each command whose id has not run before. */
static void run_commands(struct ob_cloud *cloud, int64_t generation, const json_t *commands)
{
	json_t *config = ob_store_cloud_config_get(cloud->deps.store);
	const json_t *command;
	size_t i;

	json_array_foreach(commands, i, command) {
		const char *id = json_string_value(json_object_get(command, "id"));
		const char *type = json_string_value(json_object_get(command, "type"));
		char detail[768] = "";
		bool done = false;

		if (ob_store_cloud_command_begin(cloud->deps.store, id, generation, type) != 0)
			continue; /* ran before, or the store cannot say: never twice */
		for (size_t r = 0; r < OB_ARRAY_SIZE(command_runners); r++)
			if (strcmp(command_runners[r].type, type) == 0)
				done = command_runners[r].run(cloud, command, config, detail,
							      sizeof(detail));
		ob_store_cloud_command_finish(cloud->deps.store, id, done, detail);
		ob_event_publish(done ? OB_EVENT_INFO : OB_EVENT_WARNING, "cloud.command", NULL,
				 json_pack("{s:s, s:s, s:s, s:s}", "id", id, "type", type, "status",
					   done ? "done" : "failed", "detail", detail),
				 "control-plane command %s (%s) %s: %s", id, type,
				 done ? "done" : "failed", detail);
		pthread_mutex_lock(&cloud->lock);
		cloud->report_due = true;
		pthread_mutex_unlock(&cloud->lock);
	}
	json_decref(config);
}

/* ---- a bundle ---- */

static void refused(struct ob_cloud *cloud, struct ob_cloud_outcome *out, const char *source,
		    enum ob_cloud_refusal refusal, const char *message)
{
	out->refusal = refusal;
	outcome(out, OB_CLOUD_FATE_REFUSED, "%s", message);
	note_report(cloud, "refused", out->generation, ob_cloud_refusal_code(refusal), message);
	ob_event_publish(OB_EVENT_WARNING, "cloud.refused", NULL,
			 json_pack("{s:I, s:s, s:s, s:s}", "generation", (json_int_t)out->generation,
				   "source", source, "reason", ob_cloud_refusal_code(refusal),
				   "message", message),
			 "bundle %lld from the %s refused (%s): %s", (long long)out->generation,
			 strcmp(source, "upload") == 0 ? "upload" : "control plane",
			 ob_cloud_refusal_code(refusal), message);
}

/* The documents of the channels a change sets, as they stand before it. */
static json_t *docs_before(struct ob_cloud *cloud, const json_t *channels)
{
	json_t *docs = json_object();
	const char *id;
	json_t *value;

	json_object_foreach((json_t *)channels, id, value) {
		json_t *doc = NULL;

		(void)value;
		if (ob_store_doc_get(cloud->deps.store, OB_STORE_CHANNELS, id, &doc) == 0)
			json_object_set_new(docs, id, doc);
	}
	return docs;
}

/* Applies a plan whose checks passed; the rest of ob_cloud_process_bundle. */
static int apply_plan(struct ob_cloud *cloud, const struct ob_cloud_bundle *bundle,
		      const struct ob_cloud_plan *plan, const char *text, const char *etag,
		      const char *source, struct ob_audit *audit, struct ob_cloud_outcome *out)
{
	struct ob_store_cloud_bundle row = {
		.generation = bundle->generation,
		.source = source,
		.etag = etag,
		.jws = text,
	};
	const json_t *channels = json_object_get(plan->change, "channels");
	json_t *states = channel_states(cloud);
	json_t *before = docs_before(cloud, channels);
	json_t *targets = health_targets(channels, states);
	json_t *restored = NULL;
	char why[512] = "";
	char err[512] = "";
	bool tokens_before = tokens_verify(cloud, why, sizeof(why));
	int ret;

	ret = ob_store_cloud_apply(cloud->deps.store, &row, plan->change, audit, err, sizeof(err));
	if (ret != 0) {
		/* Nothing changed: the transaction did not commit. */
		outcome(out, OB_CLOUD_FATE_ROLLED_BACK, "generation %lld was not applied: %s",
			(long long)bundle->generation, err);
		note_report(cloud, "rolled_back", bundle->generation, "apply_failed", out->message);
		ob_event_publish(OB_EVENT_ERROR, "cloud.rolled_back", NULL,
				 json_pack("{s:I, s:s, s:s}", "generation",
					   (json_int_t)bundle->generation, "source", source, "error",
					   out->message),
				 "bundle %lld rolled back: %s", (long long)bundle->generation,
				 out->message);
		ret = 0;
		goto out_free;
	}
	if (plan->access)
		reload_access(cloud);
	effect_channels(cloud, channels, before, states);
	why[0] = '\0';
	ret = health_check(cloud, targets, tokens_before, why, sizeof(why));
	if (ret == OB_ECONFLICT) {
		outcome(out, OB_CLOUD_FATE_ROLLED_BACK,
			"the box began to stop during the health check of generation %lld; it is "
			"rolled back at the next start", (long long)bundle->generation);
		ret = 0;
		goto out_free;
	}
	if (ret == 0) {
		ret = ob_store_cloud_confirm(cloud->deps.store, bundle->generation);
		outcome(out, OB_CLOUD_FATE_APPLIED, "generation %lld applied",
			(long long)bundle->generation);
		note_report(cloud, "applied", bundle->generation, NULL, NULL);
		ob_event_publish(OB_EVENT_INFO, "cloud.applied", NULL,
				 json_pack("{s:I, s:s, s:O}", "generation",
					   (json_int_t)bundle->generation, "source", source,
					   "summary", plan->summary),
				 "bundle %lld from the %s applied", (long long)bundle->generation,
				 strcmp(source, "upload") == 0 ? "upload" : "control plane");
		run_commands(cloud, bundle->generation, plan->commands);
		goto out_free;
	}
	/* The bundle broke the box: back to the last-known-good state. */
	{
		struct ob_audit undo = *audit;

		undo.action = "cloud.rollback";
		undo.detail = NULL;
		ret = ob_store_cloud_rollback(cloud->deps.store, bundle->generation, why, &undo,
					      &restored);
	}
	if (ret == 0) {
		reload_access(cloud);
		effect_rollback_channels(cloud, json_object_get(restored, "channels"), states);
	}
	outcome(out, OB_CLOUD_FATE_ROLLED_BACK,
		"generation %lld was applied, failed its health check and was rolled back: %s",
		(long long)bundle->generation, why);
	note_report(cloud, "rolled_back", bundle->generation, "health_check", why);
	ob_event_publish(OB_EVENT_ERROR, "cloud.rolled_back", NULL,
			 json_pack("{s:I, s:s, s:s}", "generation", (json_int_t)bundle->generation,
				   "source", source, "error", why),
			 "bundle %lld rolled back: its health check failed: %s",
			 (long long)bundle->generation, why);
out_free:
	json_decref(restored);
	json_decref(states);
	json_decref(before);
	json_decref(targets);
	return ret;
}

int ob_cloud_process_bundle(struct ob_cloud *cloud, const char *text, size_t len,
			    const char *etag, const char *source, const char *actor,
			    const char *remote_addr, struct ob_cloud_outcome *out)
{
	struct ob_cloud_keyring ring = { 0 };
	struct ob_cloud_bundle bundle = { 0 };
	struct ob_cloud_plan plan = { 0 };
	struct ob_access_policy policy;
	enum ob_cloud_refusal why = OB_CLOUD_ACCEPTED;
	json_t *config;
	json_t *list;
	char err[768];
	char target[48];
	int64_t highest;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cloud->apply_lock);
	config = ob_store_cloud_config_get(cloud->deps.store);
	if (!config || ob_cloud_keyring_load(json_object_get(config, "bundle_keys"), &ring, err,
					     sizeof(err)) != 0) {
		refused(cloud, out, source, OB_CLOUD_UNKNOWN_KEY,
			"the box pins no bundle signing key: enroll it first (POST "
			"/api/v1/cloud/enroll with bundle_keys)");
		goto out_unlock;
	}
	if (ob_cloud_bundle_check(text, len, &ring, ob_cloud_identity_device_id(cloud->identity),
				  ob_time_wall_ms(), &bundle, &why, err, sizeof(err)) != 0) {
		refused(cloud, out, source, why, err);
		goto out_unlock;
	}
	out->generation = bundle.generation;
	out->poll_interval_s = bundle.poll_interval_s;
	highest = ob_store_cloud_highest_generation(cloud->deps.store);
	if (bundle.generation <= highest) {
		bool same = false;
		const json_t *item;
		size_t i;

		/* The same bundle again is the one in force; other contents under a generation
		 * the box has taken are a replay or a control plane gone wrong. */
		list = ob_store_cloud_bundles_list(cloud->deps.store, true);
		json_array_foreach(list, i, item) {
			const char *stored = json_string_value(json_object_get(item, "jws"));

			if (json_integer_value(json_object_get(item, "generation")) ==
				    bundle.generation &&
			    strcmp(json_string_value(json_object_get(item, "status")), "applied") == 0)
				same = stored && strlen(stored) == len && memcmp(stored, text, len) == 0;
		}
		json_decref(list);
		if (same && bundle.generation == highest) {
			/* The same generation again is not an error: it is the one in force. */
			outcome(out, OB_CLOUD_FATE_ALREADY, "generation %lld is already applied",
				(long long)bundle.generation);
		} else {
			snprintf(err, sizeof(err),
				 "generation %lld is not above %lld, the highest this box has taken "
				 "(a replayed or older bundle; the control plane must send a newer "
				 "generation)", (long long)bundle.generation, (long long)highest);
			refused(cloud, out, source, OB_CLOUD_OLD_GENERATION, err);
		}
		goto out_unlock;
	}
	ob_access_entitle_policy(cloud->deps.entitle, &policy);
	ret = ob_cloud_plan_build(cloud->deps.store, &policy, bundle.payload, ob_time_wall_ms(),
				  &plan, err, sizeof(err));
	if (ret == OB_ENOMEM)
		goto out_unlock;
	if (ret != 0) {
		ret = 0;
		refused(cloud, out, source, OB_CLOUD_INVALID, err);
		goto out_unlock;
	}
	snprintf(target, sizeof(target), "generation %lld", (long long)bundle.generation);
	{
		struct ob_audit audit = {
			.actor = actor,
			.remote_addr = remote_addr,
			.action = "cloud.apply",
			.target = target,
			.detail = plan.summary,
		};

		ret = apply_plan(cloud, &bundle, &plan, text, etag, source, &audit, out);
	}
out_unlock:
	pthread_mutex_unlock(&cloud->apply_lock);
	ob_cloud_plan_clear(&plan);
	ob_cloud_bundle_clear(&bundle);
	ob_cloud_keyring_clear(&ring);
	json_decref(config);
	return ret;
}

void ob_cloud_recover_pending(struct ob_cloud *cloud)
{
	int64_t generation = ob_store_cloud_pending(cloud->deps.store);
	struct ob_audit audit = { .actor = "system", .action = "cloud.rollback" };
	json_t *restored = NULL;
	char target[48];

	if (!generation)
		return;
	snprintf(target, sizeof(target), "generation %lld", (long long)generation);
	audit.target = target;
	if (ob_store_cloud_rollback(cloud->deps.store, generation,
				    "the box stopped during the bundle's health check", &audit,
				    &restored) != 0)
		return;
	/* The channels start from the store as it now stands (autostart, after this). */
	json_decref(restored);
	ob_warn(MODULE, "bundle %lld was still in its health check when the box stopped; it was "
		"rolled back", (long long)generation);
	note_report(cloud, "rolled_back", generation, "health_check",
		    "the box stopped during the bundle's health check");
	ob_event_publish(OB_EVENT_ERROR, "cloud.rolled_back", NULL,
			 json_pack("{s:I, s:s, s:s}", "generation", (json_int_t)generation,
				   "source", "restart", "error",
				   "the box stopped during the bundle's health check"),
			 "bundle %lld rolled back: the box stopped during its health check",
			 (long long)generation);
}
