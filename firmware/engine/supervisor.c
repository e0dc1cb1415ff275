#include <libavutil/log.h>
#include <libgen.h>
#include <stdarg.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "place.h"
#include "store/store.h"

#define MODULE "engine"
#define CHANNELS_MAX 64

struct running {
	char id[OB_CHANNEL_ID_MAX + 1];
	struct ob_run *run;
};

/* Where a stopped channel's media ended, so its next run starts after it. */
struct ended {
	char id[OB_CHANNEL_ID_MAX + 1];
	int64_t end_us;
};

struct ob_engine {
	struct ob_store *store;
	char live_dir[PATH_MAX - 64];
	char media_dir[PATH_MAX - 64];
	pthread_mutex_t lock;        /* guards channels; never held while a run stops */
	struct running channels[CHANNELS_MAX];
	struct ended ended[CHANNELS_MAX];
	size_t next_ended;           /* the slot to reuse when ended is full */
};

/* Under lock: the media end of the channel's last run, or 0. */
static int64_t last_end(struct ob_engine *engine, const char *id)
{
	for (size_t i = 0; i < CHANNELS_MAX; i++)
		if (strcmp(engine->ended[i].id, id) == 0)
			return engine->ended[i].end_us;
	return 0;
}

static void remember_end(struct ob_engine *engine, const char *id, int64_t end_us)
{
	struct ended *slot = NULL;

	pthread_mutex_lock(&engine->lock);
	for (size_t i = 0; i < CHANNELS_MAX && !slot; i++)
		if (strcmp(engine->ended[i].id, id) == 0 || !engine->ended[i].id[0])
			slot = &engine->ended[i];
	if (!slot) {
		slot = &engine->ended[engine->next_ended];
		engine->next_ended = (engine->next_ended + 1) % CHANNELS_MAX;
	}
	ob_strlcpy(slot->id, id, sizeof(slot->id));
	slot->end_us = end_us;
	pthread_mutex_unlock(&engine->lock);
}

/* libav* messages go to our log at our levels: their errors and warnings only, so
 * libx264's statistics and per-frame chatter stay out of the operator's log. */
static void libav_log(void *avcl, int level, const char *fmt, va_list ap)
{
	static int print_prefix = 1;
	char line[1024];

	if (level > AV_LOG_WARNING)
		return;
	av_log_format_line2(avcl, level, fmt, ap, line, sizeof(line), &print_prefix);
	line[strcspn(line, "\n")] = '\0';
	if (line[0])
		ob_log(level <= AV_LOG_ERROR ? OB_LOG_WARN : OB_LOG_DEBUG, "libav", "%s", line);
}

void ob_engine_log_setup(void)
{
	av_log_set_callback(libav_log);
}

int ob_engine_create(struct ob_store *store, const char *data_dir, struct ob_engine **out)
{
	struct ob_engine *engine = calloc(1, sizeof(*engine));

	*out = NULL;
	if (!engine)
		return OB_ENOMEM;
	engine->store = store;
	snprintf(engine->live_dir, sizeof(engine->live_dir), "%.3000s/live", data_dir);
	snprintf(engine->media_dir, sizeof(engine->media_dir), "%.3000s/media", data_dir);
	ob_mkdir_p(engine->live_dir, 0755);
	ob_mkdir_p(engine->media_dir, 0755);
	pthread_mutex_init(&engine->lock, NULL);
	*out = engine;
	return 0;
}

void ob_engine_destroy(struct ob_engine **enginep)
{
	struct ob_engine *engine = *enginep;

	if (!engine)
		return;
	for (size_t i = 0; i < CHANNELS_MAX; i++)
		if (engine->channels[i].run)
			ob_run_stop(&engine->channels[i].run);
	pthread_mutex_destroy(&engine->lock);
	free(engine);
	*enginep = NULL;
}

/* The ladder a channel names, built-in or stored, with its defaults (new reference). */
static json_t *find_ladder(struct ob_store *store, const char *id)
{
	json_t *ladder = ob_engine_ladder_preset(id);

	if (!ladder && ob_store_doc_get(store, OB_STORE_LADDERS, id, &ladder) != 0)
		return NULL;
	ob_engine_ladder_fill_defaults(ladder);
	return ladder;
}

static struct running *find(struct ob_engine *engine, const char *id)
{
	for (size_t i = 0; i < CHANNELS_MAX; i++)
		if (engine->channels[i].run && strcmp(engine->channels[i].id, id) == 0)
			return &engine->channels[i];
	return NULL;
}

/* Admission before anything starts: the ladder, at a nominal 30 frames a second from a
 * source the size of its top rung, against what the box has left. The run places itself
 * again with the input's real figures once it is open. */
static int admission_check(const char *id, const json_t *channel, const json_t *ladder,
			   char *err, size_t err_len)
{
	const json_t *rungs = json_object_get(ladder, "rungs");
	const json_t *top = json_array_get(rungs, 0);
	const char *codec = json_string_value(json_object_get(top, "codec"));
	const char *backend = json_string_value(json_object_get(channel, "backend"));
	struct ob_hw_demand demand = { .codec = codec ? codec : "h264" };
	struct ob_hw_lease lease = { .held = false };
	const json_t *rung;
	size_t i;
	int ret;

	json_array_foreach(rungs, i, rung) {
		double pixels = (double)json_integer_value(json_object_get(rung, "width")) *
				(double)json_integer_value(json_object_get(rung, "height"));

		demand.sessions++;
		demand.encode_pixel_rate += pixels * 30;
		if (i == 0)
			demand.decode_pixel_rate = pixels * 30;
	}
	ret = ob_hw_admit(id, &demand, backend ? backend : "auto",
			  !json_is_false(json_object_get(channel, "software_fallback")), NULL, &lease,
			  err, err_len);
	ob_hw_release(&lease);
	return ret;
}

int ob_engine_start(struct ob_engine *engine, const char *id, char *err, size_t err_len)
{
	json_t *channel = NULL;
	json_t *ladder = NULL;
	struct running *slot = NULL;
	char out_dir[PATH_MAX];
	int ret;

	ret = ob_store_doc_get(engine->store, OB_STORE_CHANNELS, id, &channel);
	if (ret != 0) {
		snprintf(err, err_len, ret == OB_ENOTFOUND ? "no channel \"%s\"" : "cannot read channel \"%s\"",
			 id);
		return ret;
	}
	ob_engine_channel_fill_defaults(channel);
	ladder = find_ladder(engine->store,
			     json_string_value(json_object_get(channel, "ladder")));
	if (!ladder) {
		snprintf(err, err_len, "ladder: there is no ladder \"%s\"",
			 json_string_value(json_object_get(channel, "ladder")));
		ret = OB_EINVAL;
		goto out;
	}
	snprintf(out_dir, sizeof(out_dir), "%s/%s", engine->live_dir, id);
	pthread_mutex_lock(&engine->lock);
	slot = find(engine, id);
	if (slot && ob_run_finished(slot->run)) {
		/* It ended by itself (a file without loop): this start is a new run. */
		pthread_mutex_unlock(&engine->lock);
		ob_engine_stop(engine, id);
		pthread_mutex_lock(&engine->lock);
		slot = find(engine, id);
	}
	if (slot) {
		pthread_mutex_unlock(&engine->lock);
		goto out; /* already running */
	}
	for (size_t i = 0; i < CHANNELS_MAX && !slot; i++)
		if (!engine->channels[i].run)
			slot = &engine->channels[i];
	if (!slot) {
		snprintf(err, err_len, "this box runs at most %d channels at once", CHANNELS_MAX);
		ret = OB_EBUSY;
	} else {
		struct ob_run_config config = {
			.id = id,
			.channel = channel,
			.ladder = ladder,
			.out_dir = out_dir,
			.media_dir = engine->media_dir,
			.min_origin_us = last_end(engine, id),
		};

		ret = admission_check(id, channel, ladder, err, err_len);
		if (ret == 0)
			ret = ob_run_start(&config, &slot->run, err, err_len);
		if (ret == 0)
			ob_strlcpy(slot->id, id, sizeof(slot->id));
	}
	pthread_mutex_unlock(&engine->lock);
out:
	json_decref(channel);
	json_decref(ladder);
	return ret;
}

int ob_engine_stop(struct ob_engine *engine, const char *id)
{
	struct ob_run *run = NULL;
	struct running *slot;

	pthread_mutex_lock(&engine->lock);
	slot = find(engine, id);
	if (slot) {
		run = slot->run;
		slot->run = NULL;
		slot->id[0] = '\0';
	}
	pthread_mutex_unlock(&engine->lock);
	if (!run)
		return 0;
	ob_info(MODULE, "channel \"%s\": stopping", id);
	remember_end(engine, id, ob_run_stop(&run));
	return 0;
}

int ob_engine_restart_if_running(struct ob_engine *engine, const char *id, char *err,
				 size_t err_len)
{
	bool running;

	pthread_mutex_lock(&engine->lock);
	running = find(engine, id) != NULL;
	pthread_mutex_unlock(&engine->lock);
	if (!running)
		return 0;
	ob_engine_stop(engine, id);
	return ob_engine_start(engine, id, err, err_len);
}

json_t *ob_engine_status(struct ob_engine *engine, const char *id)
{
	struct running *slot;
	json_t *status = NULL;
	char hls[96];
	char dash[96];

	pthread_mutex_lock(&engine->lock);
	slot = find(engine, id);
	if (slot)
		status = ob_run_status(slot->run);
	pthread_mutex_unlock(&engine->lock);
	if (!status)
		status = json_pack("{s:s}", "state", "stopped");
	snprintf(hls, sizeof(hls), "/live/%s/master.m3u8", id);
	snprintf(dash, sizeof(dash), "/live/%s/manifest.mpd", id);
	json_object_set_new(status, "playback", json_pack("{s:s, s:s}", "hls", hls, "dash", dash));
	return status;
}

void ob_engine_autostart(struct ob_engine *engine)
{
	json_t *channels = ob_store_doc_list(engine->store, OB_STORE_CHANNELS);
	json_t *channel;
	size_t i;

	json_array_foreach(channels, i, channel) {
		const char *id = json_string_value(json_object_get(channel, "id"));
		char err[512];

		if (!json_is_true(json_object_get(channel, "autostart")) || !id)
			continue;
		if (ob_engine_start(engine, id, err, sizeof(err)) != 0)
			ob_error(MODULE, "channel \"%s\" did not start: %s", id, err);
		else
			ob_info(MODULE, "channel \"%s\": started (autostart)", id);
	}
	json_decref(channels);
}

int ob_engine_transcode(const char *input_path, const json_t *ladder, int segment_seconds,
			const char *out_dir, char *err, size_t err_len)
{
	char resolved[PATH_MAX];
	char dir_copy[PATH_MAX];
	char base_copy[PATH_MAX];
	char url[PATH_MAX + 8];
	json_t *channel;
	struct ob_run *run = NULL;
	int ret;

	if (!realpath(input_path, resolved)) {
		snprintf(err, err_len, "%s: no such file", input_path);
		return OB_ENOTFOUND;
	}
	ob_strlcpy(dir_copy, resolved, sizeof(dir_copy));
	ob_strlcpy(base_copy, resolved, sizeof(base_copy));
	snprintf(url, sizeof(url), "file:%s", basename(base_copy));
	channel = json_pack("{s:s, s:s, s:{s:s}, s:i}", "id", "transcode", "name", "transcode",
			    "input", "url", url, "segment_seconds", segment_seconds);
	if (!channel)
		return OB_ENOMEM;
	{
		struct ob_run_config config = {
			.id = "transcode",
			.channel = channel,
			.ladder = ladder,
			.out_dir = out_dir,
			.media_dir = dirname(dir_copy),
			.transcode = true,
		};

		ret = ob_run_start(&config, &run, err, err_len);
	}
	if (ret == 0) {
		ret = ob_run_wait(run, err, err_len);
		ob_run_stop(&run);
	}
	json_decref(channel);
	return ret;
}
