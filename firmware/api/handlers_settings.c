#include "api/internal.h"
#include "core/err.h"

void ob_api_get_settings(struct ob_req *req)
{
	ob_api_reply_json(req, 200, ob_store_settings_get(req->api->store));
}

void ob_api_get_settings_schema(struct ob_req *req)
{
	ob_api_reply_json(req, 200, json_pack("{s:o}", "settings", ob_store_settings_schema()));
}

void ob_api_patch_settings(struct ob_req *req)
{
	struct ob_audit audit = ob_api_audit(req, "settings.update", NULL, NULL);
	char err[512];
	int ret;

	if (json_object_size(req->body) == 0) {
		ob_api_reply_error(req, 400, "invalid",
				   "send at least one setting to change, like {\"box_name\": \"studio-1\"}");
		return;
	}
	ret = ob_store_settings_patch(req->api->store, req->body, &audit, err, sizeof(err));
	if (ret != 0) {
		ob_api_reply_err(req, ret, err);
		return;
	}
	ob_api_reply_json(req, 200, ob_store_settings_get(req->api->store));
}
