#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "packager/packager.h"
#include "generated/autoconf.h"

#define MODULE "packager"

/* Segments kept on disk past the listed window, for players holding an older playlist. */
#define SLACK_SEGMENTS 3
#define VOD_MAX_SEGMENTS (6 * 3600 / 2)

struct output_track {
	struct ob_pkg_output_track desc;
	struct ob_pkg_timeline timeline;
	char dir[PATH_MAX];
};

struct ob_pkg_output {
	struct ob_pkg_output_config config;
	char dir[PATH_MAX - 64];  /* room left for "/TRACK/NAME" */
	pthread_mutex_t lock;
	struct output_track tracks[OB_PKG_TRACKS_MAX];
	size_t n_tracks;
	bool ready;
	bool finished;
	struct ob_strbuf text;   /* scratch for the documents, under lock */
};

/* Removes what a previous run left in dir: its files and its track directories. */
static int empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : OB_EIO;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (empty_dir(path) != 0 || rmdir(path) != 0)
				ret = OB_EIO;
		} else if (unlink(path) != 0) {
			ret = OB_EIO;
		}
	}
	closedir(d);
	return ret;
}

/* How many seconds of media the playlists list, and how many segments. */
static void listed_window(const struct ob_pkg_output *o, size_t *segments, double *seconds)
{
	if (o->config.vod) {
		*segments = 0;
		*seconds = 0;
	} else if (o->config.dvr_window_seconds > 0) {
		*segments = 0;
		*seconds = o->config.dvr_window_seconds;
	} else {
		*segments = (size_t)o->config.live_window_segments;
		*seconds = 0;
	}
}

int ob_pkg_output_open(const struct ob_pkg_output_config *config, const struct ob_pkg_output_track *tracks,
		   size_t n_tracks, struct ob_pkg_output **out, char *err, size_t err_len)
{
	struct ob_pkg_output *o;
	size_t capacity;
	int ret;

	*out = NULL;
	if (n_tracks == 0 || n_tracks > OB_ARRAY_SIZE(o->tracks) || config->segment_seconds < 1)
		return OB_EINVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return OB_ENOMEM;
	o->config = *config;
	if (ob_strlcpy(o->dir, config->dir, sizeof(o->dir)) != 0) {
		snprintf(err, err_len, "the output directory's path is too long");
		free(o);
		return OB_EINVAL;
	}
	o->config.dir = o->dir;
	pthread_mutex_init(&o->lock, NULL);
	if (config->vod)
		capacity = VOD_MAX_SEGMENTS;
	else
		capacity = (size_t)(config->dvr_window_seconds / config->segment_seconds) +
			   (size_t)config->live_window_segments + 2 * SLACK_SEGMENTS;
	if (ob_mkdir_p(o->dir, 0755) != 0 || empty_dir(o->dir) != 0) {
		snprintf(err, err_len, "cannot prepare the output directory %s: %s", o->dir,
			 strerror(errno));
		ret = OB_EIO;
		goto fail;
	}
	for (size_t i = 0; i < n_tracks; i++) {
		struct output_track *t = &o->tracks[i];

		t->desc = tracks[i];
		snprintf(t->dir, sizeof(t->dir), "%s/%s", config->dir, tracks[i].name);
		ret = ob_pkg_timeline_init(&t->timeline, t->desc.timescale, capacity);
		if (ret == 0 && ob_mkdir_p(t->dir, 0755) != 0)
			ret = OB_EIO;
		if (ret != 0) {
			snprintf(err, err_len, "cannot prepare the track %s in %s", t->desc.name,
				 o->dir);
			goto fail;
		}
		o->n_tracks++;
	}
	*out = o;
	return 0;

fail:
	ob_pkg_output_close(&o);
	return ret;
}

void ob_pkg_output_close(struct ob_pkg_output **op)
{
	struct ob_pkg_output *o = *op;

	if (!o)
		return;
	for (size_t i = 0; i < o->n_tracks; i++)
		ob_pkg_timeline_free(&o->tracks[i].timeline);
	ob_strbuf_free(&o->text);
	pthread_mutex_destroy(&o->lock);
	free(o);
	*op = NULL;
}

void ob_pkg_output_set_codecs(struct ob_pkg_output *o, size_t track, const char *codecs)
{
	pthread_mutex_lock(&o->lock);
	if (track < o->n_tracks)
		ob_strlcpy(o->tracks[track].desc.codecs, codecs, sizeof(o->tracks[track].desc.codecs));
	pthread_mutex_unlock(&o->lock);
}

int ob_pkg_output_init_segment(struct ob_pkg_output *o, size_t track, uint64_t init_id,
			   const void *data, size_t len)
{
	char name[40];

	if (track >= o->n_tracks)
		return OB_EINVAL;
	snprintf(name, sizeof(name), "init-%llu.mp4", (unsigned long long)init_id);
	return ob_pkg_publish(o->tracks[track].dir, name, data, len);
}

static int write_media_playlist(struct ob_pkg_output *o, struct output_track *t, bool ts)
{
#ifdef CONFIG_PKG_HLS
	struct ob_pkg_media_playlist playlist = {
		.timeline = &t->timeline,
		.dir = t->desc.name,
		.fmp4 = !ts,
		.target_duration_s = o->config.segment_seconds,
		.ended = o->finished,
	};
	char name[OB_PKG_TRACK_NAME_MAX + 8];
	size_t segments;
	double seconds;
	int ret;

	listed_window(o, &segments, &seconds);
	playlist.first = ob_pkg_timeline_window(&t->timeline, segments, seconds);
	ob_strbuf_reset(&o->text);
	ret = ob_pkg_hls_media(&o->text, &playlist);
	if (ret != 0)
		return ret;
	snprintf(name, sizeof(name), "%s%s.m3u8", t->desc.name, ts ? "-ts" : "");
	return ob_pkg_publish(o->dir, name, o->text.data, o->text.len);
#else
	(void)o;
	(void)t;
	(void)ts;
	return 0;
#endif
}

/* Both flavours of a track's media playlist, as configured. */
static int write_media_playlists(struct ob_pkg_output *o, struct output_track *t)
{
	int ret = write_media_playlist(o, t, false);

	if (ret == 0 && o->config.ts)
		ret = write_media_playlist(o, t, true);
	return ret;
}

static int write_master(struct ob_pkg_output *o, bool ts)
{
#ifdef CONFIG_PKG_HLS
	struct ob_pkg_variant variants[OB_PKG_TRACKS_MAX];
	struct ob_pkg_audio audio = { 0 };
	char uris[OB_PKG_TRACKS_MAX][OB_PKG_TRACK_NAME_MAX + 8];
	size_t n = 0;
	bool has_audio = false;
	int ret;

	for (size_t i = 0; i < o->n_tracks; i++) {
		const struct ob_pkg_output_track *d = &o->tracks[i].desc;

		snprintf(uris[i], sizeof(uris[i]), "%s%s.m3u8", d->name, ts ? "-ts" : "");
		if (d->video) {
			variants[n++] = (struct ob_pkg_variant){
				.uri = uris[i],
				.width = d->width,
				.height = d->height,
				.peak_bps = d->peak_bps,
				.average_bps = d->average_bps,
				.codecs = d->codecs,
				.frame_rate = d->frame_rate,
			};
		} else {
			audio = (struct ob_pkg_audio){ .uri = uris[i], .codecs = d->codecs,
						       .bps = d->average_bps,
						       .channels = d->channels };
			has_audio = true;
		}
	}
	ob_strbuf_reset(&o->text);
	ret = ob_pkg_hls_multivariant(&o->text, variants, n, has_audio ? &audio : NULL);
	if (ret == 0)
		ret = ob_pkg_publish(o->dir, ts ? "master-ts.m3u8" : "master.m3u8", o->text.data,
				     o->text.len);
	return ret;
#else
	(void)o;
	(void)ts;
	return 0;
#endif
}

static int write_masters(struct ob_pkg_output *o)
{
	int ret = o->config.ts ? write_master(o, true) : 0;

	/* master.m3u8 last: its appearance says the channel is ready. */
	return ret == 0 ? write_master(o, false) : ret;
}

#ifdef CONFIG_PKG_DASH
/* The track of a kind whose newest segment is oldest: what every track of the kind has. */
static const struct output_track *slowest(const struct ob_pkg_output *o, bool video)
{
	const struct output_track *best = NULL;

	for (size_t i = 0; i < o->n_tracks; i++) {
		const struct output_track *t = &o->tracks[i];
		const struct ob_pkg_segment *newest;

		if (t->desc.video != video || t->timeline.count == 0)
			continue;
		newest = ob_pkg_timeline_at(&t->timeline, t->timeline.count - 1);
		if (!best ||
		    newest->number < ob_pkg_timeline_at(&best->timeline, best->timeline.count - 1)->number)
			best = t;
	}
	return best;
}

#endif

static int write_mpd(struct ob_pkg_output *o)
{
#ifdef CONFIG_PKG_DASH
	struct ob_pkg_dash_rep reps[2][OB_PKG_TRACKS_MAX];
	struct ob_pkg_dash_set sets[2];
	size_t n_reps[2] = { 0, 0 };
	size_t n_sets = 0;
	size_t segments;
	double seconds;
	struct ob_pkg_mpd mpd = {
		.availability_start_ms = o->config.availability_start_ms,
		.publish_ms = ob_time_wall_ms(),
		.segment_seconds = o->config.segment_seconds,
		.ended = o->finished || o->config.vod,
	};

	listed_window(o, &segments, &seconds);
	mpd.time_shift_seconds = seconds > 0 ? seconds
					     : (double)(segments * (size_t)o->config.segment_seconds);
	for (size_t i = 0; i < o->n_tracks; i++) {
		const struct ob_pkg_output_track *d = &o->tracks[i].desc;
		int kind = d->video ? 0 : 1;

		reps[kind][n_reps[kind]++] = (struct ob_pkg_dash_rep){
			.id = d->name,
			.bandwidth_bps = d->peak_bps,
			.codecs = d->codecs,
			.width = d->width,
			.height = d->height,
			.frame_rate = d->frame_rate,
			.sample_rate = d->sample_rate,
			.channels = d->channels,
		};
	}
	for (int kind = 0; kind < 2; kind++) {
		const struct output_track *t = slowest(o, kind == 0);

		if (!t || n_reps[kind] == 0)
			continue;
		sets[n_sets++] = (struct ob_pkg_dash_set){
			.video = kind == 0,
			.timeline = &t->timeline,
			.first = ob_pkg_timeline_window(&t->timeline, segments, seconds),
			.reps = reps[kind],
			.n_reps = n_reps[kind],
		};
	}
	mpd.sets = sets;
	mpd.n_sets = n_sets;
	ob_strbuf_reset(&o->text);
	if (ob_pkg_dash_mpd(&o->text, &mpd) != 0)
		return OB_EINVAL;
	return ob_pkg_publish(o->dir, "manifest.mpd", o->text.data, o->text.len);
#else
	(void)o;
	return 0;
#endif
}

static bool all_tracks_have_segments(const struct ob_pkg_output *o)
{
	for (size_t i = 0; i < o->n_tracks; i++)
		if (o->tracks[i].timeline.count == 0)
			return false;
	return true;
}

/* Deletes the files of segments that left the window, and init segments no longer used. */
static void trim(struct ob_pkg_output *o, struct output_track *t)
{
	uint64_t removed[16];
	size_t segments;
	double seconds;
	double keep;
	size_t n;

	if (o->config.vod)
		return;
	listed_window(o, &segments, &seconds);
	keep = (seconds > 0 ? seconds : (double)(segments * (size_t)o->config.segment_seconds)) +
	       SLACK_SEGMENTS * o->config.segment_seconds;
	do {
		uint64_t oldest_init = ob_pkg_timeline_at(&t->timeline, 0)->init_id;

		n = ob_pkg_timeline_trim(&t->timeline, keep, removed, OB_ARRAY_SIZE(removed));
		for (size_t i = 0; i < n; i++) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/%llu.m4s", t->dir,
				 (unsigned long long)removed[i]);
			unlink(path);
			snprintf(path, sizeof(path), "%s/%llu.ts", t->dir,
				 (unsigned long long)removed[i]);
			unlink(path);
		}
		if (n > 0 && ob_pkg_timeline_at(&t->timeline, 0)->init_id != oldest_init) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s/init-%llu.mp4", t->dir,
				 (unsigned long long)oldest_init);
			unlink(path);
		}
	} while (n == OB_ARRAY_SIZE(removed));
}

int ob_pkg_output_segment(struct ob_pkg_output *o, size_t track, struct ob_pkg_segment *seg,
		      const void *data, size_t len, const void *ts_data, size_t ts_len)
{
	struct output_track *t;
	struct ob_pkg_segment dropped;
	char name[32];
	int ret;

	if (track >= o->n_tracks)
		return OB_EINVAL;
	t = &o->tracks[track];
	pthread_mutex_lock(&o->lock);
	if (t->timeline.count > 0)
		seg->number = ob_pkg_timeline_at(&t->timeline, t->timeline.count - 1)->number + 1;
	else
		seg->number = (uint64_t)(seg->start /
					 ((int64_t)o->config.segment_seconds * t->desc.timescale));
	snprintf(name, sizeof(name), "%llu.m4s", (unsigned long long)seg->number);
	/* The file is complete on disk before any playlist names it. */
	ret = ob_pkg_publish(t->dir, name, data, len);
	if (ret == 0 && ts_data) {
		char ts_name[32];

		snprintf(ts_name, sizeof(ts_name), "%llu.ts", (unsigned long long)seg->number);
		ret = ob_pkg_publish(t->dir, ts_name, ts_data, ts_len);
	}
	if (ret != 0) {
		ob_error(MODULE, "cannot write %s/%s: %s", t->dir, name, strerror(errno));
		goto out;
	}
	ret = ob_pkg_timeline_add(&t->timeline, seg, &dropped);
	if (ret < 0) {
		char path[PATH_MAX];

		ob_error(MODULE, "%s: segment %llu (start %lld) does not follow the timeline",
			 t->dir, (unsigned long long)seg->number, (long long)seg->start);
		snprintf(path, sizeof(path), "%s/%s", t->dir, name);
		unlink(path);
		goto out;
	}
	if (ret == 1) {
		/* The ring was full: the window is shorter than the ring, so only VOD gets here. */
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%llu.m4s", t->dir, (unsigned long long)dropped.number);
		unlink(path);
	}
	trim(o, t);
	ret = write_media_playlists(o, t);
	if (ret == 0 && (o->ready || all_tracks_have_segments(o))) {
		if (!o->ready)
			ret = write_masters(o);
		if (ret == 0)
			ret = write_mpd(o);
		if (ret == 0)
			o->ready = true;
	}
	if (ret != 0)
		ob_error(MODULE, "cannot write the playlists in %s: %s", o->dir, ob_strerror(ret));
out:
	pthread_mutex_unlock(&o->lock);
	return ret;
}

bool ob_pkg_output_ready(struct ob_pkg_output *o)
{
	bool ready;

	pthread_mutex_lock(&o->lock);
	ready = o->ready;
	pthread_mutex_unlock(&o->lock);
	return ready;
}

int ob_pkg_output_finish(struct ob_pkg_output *o)
{
	int ret = 0;

	pthread_mutex_lock(&o->lock);
	o->finished = true;
	for (size_t i = 0; i < o->n_tracks && ret == 0; i++)
		if (o->tracks[i].timeline.count > 0)
			ret = write_media_playlists(o, &o->tracks[i]);
	if (ret == 0 && all_tracks_have_segments(o)) {
		if (!o->ready)
			ret = write_masters(o);
		if (ret == 0)
			ret = write_mpd(o);
		o->ready = ret == 0;
	}
	pthread_mutex_unlock(&o->lock);
	return ret;
}
