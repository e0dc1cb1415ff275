/* Shared between the cloud module's own files; not part of its public interface. */
#ifndef OB_CLOUD_INTERNAL_H
#define OB_CLOUD_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "access/entitle.h"
#include "cloud/bundle.h"
#include "cloud/cloud.h"
#include "cloud/http.h"
#include "cloud/identity.h"

struct ob_store;

#define OB_CLOUD_COMMAND_ID_MAX 64

/* What a bundle's payload means for this box, checked with the REST API's own rules. */
struct ob_cloud_plan {
	json_t *change;     /* for ob_store_cloud_apply: only the parts the bundle sets */
	json_t *commands;   /* the commands, checked (an array, maybe empty) */
	json_t *summary;    /* what it sets, in words for the event and the audit log */
	bool access;        /* policy, keys, revocations or a channel's class change */
};

/* Checks payload (borrowed) against the box's store and the policy in force, part by
 * part: "access" {"policy", "keys", "revocations"}, "ladders", "channels", "settings",
 * "commands"; any other member is refused. 0 with *out filled, or OB_EINVAL with a message
 * naming the field ("channels[0] (\"news\"): segment_seconds: must be between 2 and 6"),
 * or OB_ENOMEM. Free *out with ob_cloud_plan_clear. */
int ob_cloud_plan_build(struct ob_store *store, const struct ob_access_policy *policy,
			const json_t *payload, int64_t now_ms, struct ob_cloud_plan *out, char *err,
			size_t err_len);

/* Frees a plan and zeroes it. */
void ob_cloud_plan_clear(struct ob_cloud_plan *plan);

/* One command type a bundle may carry: its name and the fields it takes besides "id" and
 * "type". */
struct ob_cloud_command_type {
	const char *name;
	const char *fields[3];    /* required string fields, NULL-terminated */
};

/* The command types, in one table; NULL when name is not one. */
const struct ob_cloud_command_type *ob_cloud_command_type(const char *name);

/* The sync: its dependencies, its thread and what it remembers between polls. */
struct ob_cloud {
	struct ob_cloud_deps deps;
	char data_dir[4096];
	char enroll_file[4096];
	struct ob_cloud_identity *identity;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t apply_lock;    /* one bundle at a time: a poll's or an upload's */
	pthread_mutex_t lock;          /* guards everything below, and wake_cond */
	pthread_cond_t wake_cond;
	bool stopping;
	bool wake;                     /* poll now */
	int errors_in_row;             /* failed contacts in a row: the backoff's n */
	int64_t next_poll_ms;          /* wall clock of the next poll, for the status */
	char refused_etag[OB_HTTP_ETAG_MAX + 1]; /* a refused bundle is not fetched again */
	bool report_due;               /* report at the next chance */
	int polls_since_report;
	char report_status[16];        /* of the last bundle: none, applied, rolled_back, refused */
	json_t *report_errors;         /* its errors: [{"code", "message"}] */
	int64_t report_generation;     /* the generation the refusal or rollback was about */
	bool reboot_due;               /* a reboot command waits for its report to go */
};

/* What became of a bundle. */
enum ob_cloud_fate {
	OB_CLOUD_FATE_APPLIED,
	OB_CLOUD_FATE_ALREADY,         /* that generation is the one applied: nothing to do */
	OB_CLOUD_FATE_REFUSED,
	OB_CLOUD_FATE_ROLLED_BACK,
};

struct ob_cloud_outcome {
	enum ob_cloud_fate fate;
	int64_t generation;            /* 0 when the bundle did not parse */
	enum ob_cloud_refusal refusal; /* for REFUSED */
	int poll_interval_s;           /* the bundle's, 0 when none */
	char message[768];
};

/* Checks, applies and health-checks a bundle (from a poll or an upload), rolls it back
 * when the check fails, runs its commands once, and records what to report. Serialized on
 * apply_lock. Fills *out; returns 0 whatever became of the bundle, OB_ENOMEM/OB_EIO when
 * the store failed. */
int ob_cloud_process_bundle(struct ob_cloud *cloud, const char *text, size_t len,
			    const char *etag, const char *source, const char *actor,
			    const char *remote_addr, struct ob_cloud_outcome *out);

/* Every stored channel as the reported state shows it: [{"id", "state", "reason"}] (new
 * reference). */
json_t *ob_cloud_channel_summary(struct ob_cloud *cloud);

/* Rolls back a bundle left pending by a stop during its health check, at start. */
void ob_cloud_recover_pending(struct ob_cloud *cloud);

/* Sends a request to the enrolled control plane, path under its base URL ("/v1/..."),
 * with a fresh device token. 0 with *resp, or an OB_E* code with a message in err. */
int ob_cloud_cp_request(struct ob_cloud *cloud, const json_t *config, const char *method,
			const char *path, const char *content_type, const void *body,
			size_t body_len, struct ob_http_response *resp, char *err,
			size_t err_len);

#endif
