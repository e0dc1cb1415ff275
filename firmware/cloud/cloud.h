/* The box's side of the control plane (docs/control-plane.md): enrollment, the sync thread
 * that polls for signed desired-state bundles and applies them (one transaction, a health
 * check, rollback to the last-known-good state), the commands bundles carry, reported
 * state, and the event outbox. Air-gapped boxes take the same bundles by upload. */
#ifndef OB_CLOUD_CLOUD_H
#define OB_CLOUD_CLOUD_H

#include <jansson.h>
#include <stddef.h>

struct ob_store;
struct ob_engine;
struct ob_entitle;
struct ob_cloud;

/* What the sync works on; all borrowed, and all outlive it. */
struct ob_cloud_deps {
	struct ob_store *store;
	struct ob_engine *engine;    /* channels to restart, start and check */
	struct ob_entitle *entitle;  /* reloaded after access changes */
	const char *data_dir;        /* DATA_DIR/device/key.pem, diagnostics, updates */
	const char *enroll_file;     /* the board's enrollment (JSON as POST
				      * /api/v1/cloud/enroll takes it), read at start when the
				      * box is not enrolled; NULL or "" for none */
};

/* Opens the device identity (made on first start), rolls back a bundle left pending by a
 * stop in the middle of its health check, and starts the sync thread. 0, or an OB_E* code
 * with a message for the operator in err. The caller owns *out. */
int ob_cloud_start(const struct ob_cloud_deps *deps, struct ob_cloud **out, char *err,
		   size_t err_len);

/* Stops the sync thread (a request in flight ends within its timeouts) and frees it; sets
 * *cloud to NULL. NULL is fine. */
void ob_cloud_stop(struct ob_cloud **cloud);

/* The box's device id ("obx-" and 32 hex digits). */
const char *ob_cloud_box_id(const struct ob_cloud *cloud);

/* The outcome of an API call into the sync: an HTTP status, a machine code and a message
 * that says what to do, and a body for success. */
struct ob_cloud_result {
	int status;          /* 200, 201, 202, 4xx, 5xx */
	char code[32];       /* "invalid", "refused", ... ("" on success) */
	char message[768];
	json_t *body;        /* new reference on success, or NULL */
};

/* Enrolls the box (POST /api/v1/cloud/enroll): request {"url"?, "ca_pem"?, "bundle_keys",
 * "enrollment_token"?} (borrowed). With a url the box sends its enrollment at once and
 * answers with the control plane's verdict (201), or stores it and keeps trying when the
 * control plane cannot be reached (202); without, the box is air-gapped and takes bundles
 * only by upload. actor and remote_addr go to the audit log. */
void ob_cloud_enroll(struct ob_cloud *cloud, const json_t *request, const char *actor,
		     const char *remote_addr, struct ob_cloud_result *out);

/* Forgets the enrollment (DELETE /api/v1/cloud/enrollment): the box stops syncing; what it
 * applied stays. */
void ob_cloud_unenroll(struct ob_cloud *cloud, const char *actor, const char *remote_addr,
		       struct ob_cloud_result *out);

/* Verifies and applies an uploaded bundle (POST /api/v1/cloud/bundles) exactly as a polled
 * one, and answers what became of it: applied, already applied, refused (with the
 * protocol's reason code) or rolled back. */
void ob_cloud_upload(struct ob_cloud *cloud, const char *jws, size_t len, const char *actor,
		     const char *remote_addr, struct ob_cloud_result *out);

/* Asks the sync thread to poll now (POST /api/v1/cloud/sync). */
void ob_cloud_sync_now(struct ob_cloud *cloud);

/* The sync's status for the console and the fleet (new reference): enrollment, device id,
 * applied generation, last contact and error, next poll, outbox, recent bundles and
 * commands. */
json_t *ob_cloud_status(struct ob_cloud *cloud);

/* Frees what a result holds. */
void ob_cloud_result_clear(struct ob_cloud_result *result);

#endif
