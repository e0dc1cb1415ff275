#include <stdio.h>

#include "api/internal.h"
#include "core/err.h"
#include "core/events.h"

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
	{
		const char *name;
		json_t *value;
		char names[256] = "";
		size_t used = 0;

		json_object_foreach(req->body, name, value)
			if (used < sizeof(names))
				used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
							 used ? ", " : "", name);
		ob_event_publish(OB_EVENT_INFO, "settings.changed", NULL,
				 json_pack("{s:O, s:s}", "settings", req->body, "actor", req->actor),
				 "settings changed: %s (by %s)", names, req->actor);
	}
	ob_api_reply_json(req, 200, ob_store_settings_get(req->api->store));
}
