#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/err.h"
#include "engine/engine.h"

/* The stored ladder or the built-in one with this id (new reference), or NULL. */
static json_t *find_ladder(struct ob_req *req, const char *id, int *err)
{
	json_t *ladder = ob_engine_ladder_preset(id);

	*err = 0;
	if (ladder)
		return ladder;
	*err = ob_store_doc_get(req->api->store, OB_STORE_LADDERS, id, &ladder);
	if (ladder)
		json_object_set_new(ladder, "builtin", json_false());
	return ladder;
}

void ob_api_get_ladders(struct ob_req *req)
{
	json_t *all = ob_engine_ladder_presets();
	json_t *stored = ob_store_doc_list(req->api->store, OB_STORE_LADDERS);
	size_t i;
	json_t *ladder;

	json_array_foreach(stored, i, ladder)
		json_object_set_new(ladder, "builtin", json_false());
	json_array_extend(all, stored);
	json_decref(stored);
	ob_api_reply_json(req, 200, json_pack("{s:o}", "ladders", all));
}

void ob_api_get_ladder(struct ob_req *req)
{
	int err;
	json_t *ladder = find_ladder(req, req->params[0], &err);

	if (ladder)
		ob_api_reply_json(req, 200, ladder);
	else if (err == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found", "no ladder \"%s\"", req->params[0]);
	else
		ob_api_reply_err(req, err, "the ladder cannot be read");
}

/* Validates the body as a ladder, fills its defaults and stores it. */
static void put_ladder(struct ob_req *req, bool create)
{
	char err[512];
	const char *id;
	json_t *builtin;
	int ret;

	if (!create && ob_api_body_id_from_path(req) != 0)
		return;
	if (ob_engine_ladder_validate(req->body, err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	id = json_string_value(json_object_get(req->body, "id"));
	builtin = ob_engine_ladder_preset(id);
	if (builtin) {
		json_decref(builtin);
		ob_api_reply_error(req, 409, "conflict",
				   "\"%s\" is a built-in ladder and cannot be changed; create a "
				   "ladder with another id from it",
				   id);
		return;
	}
	ob_engine_ladder_fill_defaults(req->body);
	{
		struct ob_audit audit = ob_api_audit(req, create ? "ladder.create" : "ladder.update",
						     id, req->body);

		ret = ob_store_doc_put(req->api->store, OB_STORE_LADDERS, req->body, create, &audit);
	}
	if (ret == OB_EEXIST)
		ob_api_reply_error(req, 409, "exists", "id: a ladder \"%s\" already exists", id);
	else if (ret == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found", "no ladder \"%s\"; create it with POST "
				   "/api/v1/ladders", id);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the ladder could not be saved");
	else {
		json_t *out = json_deep_copy(req->body);

		json_object_set_new(out, "builtin", json_false());
		ob_api_reply_json(req, create ? 201 : 200, out);
	}
}

void ob_api_post_ladders(struct ob_req *req)
{
	put_ladder(req, true);
}

void ob_api_put_ladder(struct ob_req *req)
{
	put_ladder(req, false);
}

void ob_api_delete_ladder(struct ob_req *req)
{
	struct ob_audit audit = ob_api_audit(req, "ladder.delete", req->params[0], NULL);
	json_t *builtin = ob_engine_ladder_preset(req->params[0]);
	int ret;

	if (builtin) {
		json_decref(builtin);
		ob_api_reply_error(req, 409, "conflict", "\"%s\" is a built-in ladder and stays",
				   req->params[0]);
		return;
	}
	ret = ob_store_doc_delete(req->api->store, OB_STORE_LADDERS, req->params[0], &audit);
	if (ret == OB_ECONFLICT) {
		json_t *users = ob_store_channels_using_ladder(req->api->store, req->params[0]);
		char *names = json_dumps(users, JSON_COMPACT);

		ob_api_reply_error(req, 409, "conflict",
				   "ladder \"%s\" is used by channels %s; move them to another "
				   "ladder first",
				   req->params[0], names ? names : "");
		free(names);
		json_decref(users);
	} else if (ret == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found", "no ladder \"%s\"", req->params[0]);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the ladder could not be deleted");
	else
		ob_api_reply_empty(req, NULL);
}
