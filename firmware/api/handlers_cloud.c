/* /api/v1/cloud: the box's side of its control plane, for the console and a fleet engineer:
 * the sync's status, enrollment, air-gapped bundle uploads and "sync now". */
#include <string.h>

#include "api/internal.h"
#include "cloud/cloud.h"
#include "core/err.h"
#include "core/json.h"
#include "core/util.h"

/* Sends what the sync answered and clears it. */
static void reply_result(struct ob_req *req, struct ob_cloud_result *result)
{
	if (result->status == 204) {
		ob_api_reply_empty(req, NULL);
	} else if (result->status >= 400) {
		ob_api_reply_error(req, result->status, result->code[0] ? result->code : "error",
				   "%s", result->message);
	} else {
		json_t *body = result->body ? json_incref(result->body) : json_object();

		json_object_set_new(body, "message", json_string(result->message));
		ob_api_reply_json(req, result->status, body);
	}
	ob_cloud_result_clear(result);
}

void ob_api_get_cloud(struct ob_req *req)
{
	ob_api_reply_json(req, 200, ob_cloud_status(req->api->cloud));
}

void ob_api_post_cloud_enroll(struct ob_req *req)
{
	struct ob_cloud_result result;

	ob_cloud_enroll(req->api->cloud, req->body, req->actor, req->remote_addr, &result);
	reply_result(req, &result);
}

void ob_api_delete_cloud_enrollment(struct ob_req *req)
{
	struct ob_cloud_result result;

	ob_cloud_unenroll(req->api->cloud, req->actor, req->remote_addr, &result);
	reply_result(req, &result);
}

void ob_api_get_cloud_bundles(struct ob_req *req)
{
	json_t *status = ob_cloud_status(req->api->cloud);

	ob_api_reply_json(req, 200,
			  json_pack("{s:O, s:O}", "bundles", json_object_get(status, "bundles"),
				    "applied_generation",
				    json_object_get(status, "applied_generation")));
	json_decref(status);
}

void ob_api_post_cloud_bundles(struct ob_req *req)
{
	struct ob_cloud_result result;
	const char *text = req->jose;
	size_t len = req->jose_len;

	if (!text) {
		static const struct ob_json_field fields[] = { { "jws", OB_JSON_STRING, true } };
		char err[256];

		if (ob_json_check_fields(req->body, fields, OB_ARRAY_SIZE(fields), "", err,
					 sizeof(err)) != 0) {
			ob_api_reply_error(req, 400, "invalid",
					   "%s (or send the bundle itself with Content-Type: "
					   "application/jose)", err);
			return;
		}
		text = json_string_value(json_object_get(req->body, "jws"));
		len = strlen(text);
	}
	ob_cloud_upload(req->api->cloud, text, len, req->actor, req->remote_addr, &result);
	reply_result(req, &result);
}

void ob_api_post_cloud_sync(struct ob_req *req)
{
	json_t *status = ob_cloud_status(req->api->cloud);
	const char *state = json_string_value(json_object_get(status, "state"));

	if (!state || (strcmp(state, "enrolled") != 0 && strcmp(state, "enrolling") != 0)) {
		ob_api_reply_error(req, 409, "conflict",
				   "the box has no control plane to sync with (%s); enroll it with "
				   "POST /api/v1/cloud/enroll", state ? state : "not enrolled");
		json_decref(status);
		return;
	}
	json_decref(status);
	ob_cloud_sync_now(req->api->cloud);
	ob_api_reply_json(req, 202, json_pack("{s:s}", "message", "the box polls its control "
							      "plane now"));
}
