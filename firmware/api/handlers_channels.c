#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "core/err.h"
#include "engine/engine.h"

json_t *ob_api_channel_with_status(struct ob_api *api, json_t *doc)
{
	const char *id = json_string_value(json_object_get(doc, "id"));
	json_t *status = api->engine && id ? ob_engine_status(api->engine, id)
					   : json_pack("{s:s}", "state", "stopped");
	const char *access = json_string_value(json_object_get(doc, "access"));
	/* Premium content is served under its own prefix, so a CDN can protect it apart. */
	const char *prefix = access && strcmp(access, "premium") == 0 ? OB_PREMIUM_PREFIX : "";
	json_t *playback = json_object();
	char path[128];

	if (id) {
		snprintf(path, sizeof(path), "%s/live/%s/master.m3u8", prefix, id);
		json_object_set_new(playback, "hls", json_string(path));
		snprintf(path, sizeof(path), "%s/live/%s/manifest.mpd", prefix, id);
		json_object_set_new(playback, "dash", json_string(path));
	}
	if (json_is_true(json_object_get(doc, "hls_ts")) && id) {
		snprintf(path, sizeof(path), "%s/live/%s/master-ts.m3u8", prefix, id);
		json_object_set_new(playback, "hls_ts", json_string(path));
	}
	json_object_set_new(doc, "playback", playback);
	json_object_del(status, "playback");
	json_object_set_new(doc, "status", status);
	return doc;
}

static json_t *with_status(struct ob_req *req, json_t *doc)
{
	return ob_api_channel_with_status(req->api, doc);
}

json_t *ob_api_channels_with_status(struct ob_api *api)
{
	json_t *channels = ob_store_doc_list(api->store, OB_STORE_CHANNELS);
	json_t *channel;
	size_t i;

	json_array_foreach(channels, i, channel)
		ob_api_channel_with_status(api, channel);
	return channels;
}

void ob_api_get_channels(struct ob_req *req)
{
	ob_api_reply_json(req, 200,
			  json_pack("{s:o}", "channels", ob_api_channels_with_status(req->api)));
}

void ob_api_get_channel(struct ob_req *req)
{
	json_t *channel = NULL;
	int ret = ob_store_doc_get(req->api->store, OB_STORE_CHANNELS, req->params[0], &channel);

	if (ret == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found", "no channel \"%s\"", req->params[0]);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the channel cannot be read");
	else
		ob_api_reply_json(req, 200, with_status(req, channel));
}

static bool ladder_exists(struct ob_req *req, const char *id)
{
	json_t *ladder = ob_engine_ladder_preset(id);

	if (!ladder)
		ob_store_doc_get(req->api->store, OB_STORE_LADDERS, id, &ladder);
	json_decref(ladder);
	return ladder != NULL;
}

static void put_channel(struct ob_req *req, bool create)
{
	char err[512];
	const char *id;
	int ret;

	if (!create && ob_api_body_id_from_path(req) != 0)
		return;
	/* Reads carry a status; a client that sends a read document back is not wrong. */
	json_object_del(req->body, "status");
	json_object_del(req->body, "playback");
	if (ob_engine_channel_validate(req->body, err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	ob_engine_channel_fill_defaults(req->body);
	id = json_string_value(json_object_get(req->body, "id"));
	{
		const char *risk = json_string_value(json_object_get(req->body, "risk_class"));
		struct ob_access_policy policy;

		ob_access_entitle_policy(req->api->entitle, &policy);
		if (!risk) {
			json_object_set_new(req->body, "risk_class",
					    json_string(policy.default_risk));
		} else if (!ob_access_policy_risk(&policy, risk)) {
			ob_api_reply_error(req, 400, "invalid",
					   "risk_class: the access policy has no risk class \"%s\" "
					   "(GET /api/v1/access/policy lists them)", risk);
			return;
		}
	}
	if (!ladder_exists(req, json_string_value(json_object_get(req->body, "ladder")))) {
		ob_api_reply_error(req, 400, "invalid",
				   "ladder: there is no ladder \"%s\" (GET /api/v1/ladders lists them)",
				   json_string_value(json_object_get(req->body, "ladder")));
		return;
	}
	{
		struct ob_audit audit = ob_api_audit(req, create ? "channel.create" : "channel.update",
						     id, req->body);

		ret = ob_store_doc_put(req->api->store, OB_STORE_CHANNELS, req->body, create, &audit);
	}
	if (ret == OB_EEXIST)
		ob_api_reply_error(req, 409, "exists",
				   "id: a channel \"%s\" already exists; give this one another id", id);
	else if (ret == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found",
				   "no channel \"%s\"; create it with POST /api/v1/channels", id);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the channel could not be saved");
	if (ret != 0)
		return;
	/* The origin serves the channel under its class from the next request on. */
	ob_api_access_reload(req);
	ob_api_event(req, create ? "channel.created" : "channel.updated", id, "channel \"%s\" %s",
		     id, create ? "created" : "changed");
	/* A running channel takes its new configuration at once. */
	if (!create && req->api->engine &&
	    ob_engine_restart_if_running(req->api->engine, id, err, sizeof(err)) != 0)
		ob_api_reply_error(req, 409, "conflict",
				   "the channel was saved but did not restart: %s", err);
	else
		ob_api_reply_json(req, create ? 201 : 200,
				  with_status(req, json_deep_copy(req->body)));
}

void ob_api_post_channels(struct ob_req *req)
{
	put_channel(req, true);
}

void ob_api_put_channel(struct ob_req *req)
{
	put_channel(req, false);
}

void ob_api_delete_channel(struct ob_req *req)
{
	struct ob_audit audit = ob_api_audit(req, "channel.delete", req->params[0], NULL);
	int ret;

	/* A deleted channel stops first; its files stay until a channel of that id starts. */
	if (req->api->engine)
		ob_engine_stop(req->api->engine, req->params[0]);
	ret = ob_store_doc_delete(req->api->store, OB_STORE_CHANNELS, req->params[0], &audit);
	if (ret == 0) {
		ob_api_access_reload(req);
		ob_api_event(req, "channel.deleted", req->params[0], "channel \"%s\" deleted",
			     req->params[0]);
	}
	if (ret == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found", "no channel \"%s\"", req->params[0]);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the channel could not be deleted");
	else
		ob_api_reply_empty(req, NULL);
}

/* Start and stop: audited like every change, answered with the channel and its status. */
static void start_or_stop(struct ob_req *req, bool start)
{
	struct ob_audit audit = ob_api_audit(req, start ? "channel.start" : "channel.stop",
					     req->params[0], NULL);
	json_t *channel = NULL;
	char err[512] = "";
	int ret = ob_store_doc_get(req->api->store, OB_STORE_CHANNELS, req->params[0], &channel);

	if (ret == OB_ENOTFOUND) {
		ob_api_reply_error(req, 404, "not_found", "no channel \"%s\"", req->params[0]);
		return;
	}
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the channel cannot be read");
		return;
	}
	if (!req->api->engine) {
		ret = OB_EUNSUPPORTED;
		snprintf(err, sizeof(err), "this server runs no engine");
	} else if (start) {
		ret = ob_engine_start(req->api->engine, req->params[0], err, sizeof(err));
	} else {
		ret = ob_engine_stop(req->api->engine, req->params[0]);
	}
	if (ret != 0) {
		json_decref(channel);
		ob_api_reply_error(req, 409, "not_started", "channel \"%s\" did not start: %s", req->params[0],
				   err);
		return;
	}
	ob_store_audit_add(req->api->store, &audit, "ok");
	ob_api_event(req, start ? "channel.started" : "channel.stopped", req->params[0],
		     "channel \"%s\" %s", req->params[0], start ? "started" : "stopped");
	ob_api_reply_json(req, 200, with_status(req, channel));
}

void ob_api_post_channel_start(struct ob_req *req)
{
	start_or_stop(req, true);
}

void ob_api_post_channel_stop(struct ob_req *req)
{
	start_or_stop(req, false);
}
