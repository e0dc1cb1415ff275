/* A run: one channel's pipeline. The ingest thread reads and decodes the input once, stamps
 * every frame on the channel's output timeline, decides which frames open a segment, and
 * feeds one filtergraph that scales every rung; each track (rung or audio) encodes in its
 * own thread and hands whole segments to the output. An input loss ends an epoch; the next
 * epoch starts on the next segment boundary with new encoders and a discontinuity. */
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "core/err.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/engine.h"
#include "engine/internal.h"
#include "generated/autoconf.h"
#include "packager/packager.h"
#include "place.h"

#define MODULE "engine"

#define VIDEO_TIMESCALE 90000
#define AUDIO_TIMESCALE 48000
#define QUEUE_CAPACITY 8             /* frames of slack; then a live channel drops, a
				      * transcode waits (more measured no faster) */
#define BACKOFF_MAX_MS 30000
#define OPEN_TIMEOUT_MS 10000
#define SILENCE_TIMEOUT_MS 5000
#define TRANSCODE_TIMEOUT_MS 30000
#define JUMP_MAX_US 5000000         /* a larger input timestamp jump is re-anchored */
#define PRIMARY_HEALTHY_MS 3000     /* the primary must deliver this long before failback */
#define PRIMARY_PROBE_EVERY_MS 5000
#define TRANSCODE_BACKGROUND_NICE 10 /* the tracks off a transcode's critical path */
#define FAILED_BACKENDS_MAX 8
#define FALLBACKS_KEPT 16            /* backend failures the status lists */

_Static_assert(OB_LADDER_RUNGS_MAX + 1 <= OB_PKG_TRACKS_MAX,
	       "the output must take every rung and the audio");

enum run_state { STATE_STARTING, STATE_LIVE, STATE_DEGRADED, STATE_FAILED, STATE_ENDED };

static const char *const state_names[] = {
	[STATE_STARTING] = "starting", [STATE_LIVE] = "live", [STATE_DEGRADED] = "degraded",
	[STATE_FAILED] = "failed", [STATE_ENDED] = "stopped",
};

/* Frames (or, for passthrough audio, packets) from the ingest thread to one track's
 * thread. */
struct queue_item {
	AVFrame *frame;
	AVPacket *packet;
};

struct frame_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct queue_item items[QUEUE_CAPACITY];
	size_t head;
	size_t count;
	size_t capacity;
	bool eof;            /* no more frames this epoch */
	atomic_size_t depth; /* count, for the status (read without the lock) */
};

struct track {
	struct ob_run *run;
	size_t index;
	bool video;
	struct ob_hw_encode_params params;   /* video */
	const struct ob_hw_backend *encoder_backend; /* video: encodes the rung */
	bool device_frames;                  /* video: its encoder takes frames on the device */
	char codec[8];
	char profile[16];
	char preset[16];
	int audio_kbps;                      /* audio */
	bool passthrough;                    /* audio: the source's AAC packets, not encoded */
	AVCodecParameters *source_par;       /* passthrough: the source's audio */
	uint32_t timescale;                  /* of its timestamps */
	/* this epoch */
	AVCodecContext *enc;
	struct ob_pkg_cmaf *cmaf;
	struct ob_pkg_ts *ts;                /* with MPEG-TS HLS */
	AVFilterContext *sink;
	struct frame_queue queue;
	pthread_t thread;
	bool thread_running;
	int64_t seg_ticks;                   /* segment duration in the track's timescale */
	int64_t frame_ticks;
	int64_t next_cut;                    /* a key packet at or after this opens a segment */
	int64_t seg_start;
	bool seg_open;
	int64_t cuts;                        /* segments handed out this epoch */
	int64_t last_end;
	uint32_t epoch;
	int64_t epoch_start;
	uint64_t init_id;                    /* names this epoch's init segment */
	atomic_int error;                    /* set by the track thread, read by ingest */
	bool backend_fault;                  /* the error is its (hardware) encoder's */
	char error_text[256];
	/* statistics, under run->status_lock */
	char encoder[32];
	char backend_name[16];               /* video: the backend of its encoder */
	int64_t frames;
	int64_t dropped;
	double fps;
	double speed;
	double kbps;
	int64_t sample_wall_us;
	int64_t sample_frames;
	int64_t sample_media;
	int64_t sample_bytes;
	int64_t bytes;
	int64_t media_ticks;                 /* encoded media, summed */
};

struct ob_run {
	char id[OB_CHANNEL_ID_MAX + 1];
	char urls[2][1100];                  /* primary, backup */
	bool has_backup;
	int failover_ms;
	char out_dir[PATH_MAX];
	char media_dir[PATH_MAX];
	int segment_seconds;
	int live_window;
	int dvr_seconds;
	bool transcode;
	bool hls_ts;                         /* MPEG-TS segments too */
	char backend_pref[16];
	bool software_fallback;              /* the operator lets the CPU take over */
	struct ob_input_options input_opts[3]; /* primary, backup, the primary for the prober */
	struct {
		int width;
		int height;
		int kbps;
		int max_kbps;
		int buffer_kbits;
		char codec[8];
		char profile[16];
		char preset[16];
	} rungs[OB_LADDER_RUNGS_MAX];
	size_t n_rungs;
	bool audio_wanted;
	bool audio_passthrough;              /* the ladder asks for the source's audio */
	int audio_kbps;
	atomic_bool stop;
	pthread_t thread;
	pthread_t prober;
	bool prober_running;
	atomic_bool prober_stop;
	const struct ob_hw_backend *backend; /* decodes and scales (the lease's) */
	struct ob_hw_lease lease;            /* where the channel is placed */
	AVBufferRef *device;                 /* the lease's device; NULL for system memory */
	char failed_backends[FAILED_BACKENDS_MAX][16]; /* passed over: they failed this run */
	size_t n_failed_backends;
	atomic_bool abandon;                 /* the epoch ends on a fault: no partial segments */
	char fault_backend[16];              /* the backend at fault in this epoch's error */
	struct ob_pkg_output *output;
	struct track tracks[OB_LADDER_RUNGS_MAX + 1];
	size_t n_tracks;
	bool has_audio_track;
	int64_t wall_offset_ms;              /* wall clock of media time 0 */
	/* the epoch, ingest thread only */
	uint32_t epoch;
	int64_t origin_out_us;
	int64_t origin_in_us;
	bool anchored;
	int64_t last_video_out_us;
	int64_t max_end_us;
	int64_t next_cut_90;
	int64_t forced_pts_90;
	int64_t frame_us;
	AVFilterGraph *vgraph;
	AVFilterGraph *agraph;
	AVFilterContext *vsrc;
	AVFilterContext *asrc;
	AVFilterContext *asink;
	/* status, under status_lock */
	pthread_mutex_t status_lock;
	enum run_state state;
	char reason[512];
	int64_t state_since_ms;
	int on_air;                          /* 0 primary, 1 backup */
	struct ob_input *input;              /* the input on air, for its counters */
	struct ob_input *standby;            /* a healthy primary, opened while on backup */
	struct ob_input_info info;
	bool info_valid;
	int64_t in_sample_ms;
	int64_t in_sample_bytes;
	double in_kbps;
	json_t *notes;
	json_t *fallbacks;                   /* backends that failed: {backend, reason, at_ms} */
	json_t *placement;                   /* {backend, device, encode}, or NULL */
	bool finished;
	int result;
	char result_text[512];
	pthread_cond_t done_cond;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *input_label(int which)
{
	return which == 0 ? "primary" : "backup";
}

static void set_state(struct ob_run *run, enum run_state state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_state(struct ob_run *run, enum run_state state, const char *fmt, ...)
{
	char reason[512] = "";
	enum run_state previous;
	bool changed;

	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_lock(&run->status_lock);
	previous = run->state;
	changed = run->state != state || strcmp(run->reason, reason) != 0;
	if (run->state != state)
		run->state_since_ms = ob_time_wall_ms();
	run->state = state;
	ob_strlcpy(run->reason, reason, sizeof(run->reason));
	pthread_mutex_unlock(&run->status_lock);
	if (changed) {
		enum ob_log_level level = state == STATE_FAILED	  ? OB_LOG_ERROR
					  : state == STATE_DEGRADED ? OB_LOG_WARN
								    : OB_LOG_INFO;

		ob_log(level, MODULE, "channel \"%s\": %s%s%s", run->id, state_names[state],
		       reason[0] ? ": " : "", reason);
		/* The event log gets changes of state, and what goes on air while live (a
		 * failover); not every retry's new countdown. */
		if (!run->transcode && (previous != state || state == STATE_LIVE))
			ob_event_publish(state == STATE_FAILED	   ? OB_EVENT_ERROR
					 : state == STATE_DEGRADED ? OB_EVENT_WARNING
								   : OB_EVENT_INFO,
					 "channel.state", run->id,
					 json_pack("{s:s, s:s, s:s}", "state", state_names[state],
						   "previous", state_names[previous], "reason",
						   reason),
					 "channel \"%s\" is %s%s%s", run->id, state_names[state],
					 reason[0] ? ": " : "", reason);
	}
}

/* Sleeps up to ms, waking at once when the run is asked to stop. */
static void nap(struct ob_run *run, int ms)
{
	int64_t until = ob_time_mono_ms() + ms;

	while (!atomic_load(&run->stop) && ob_time_mono_ms() < until) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* ---- frame queues ---- */

static void queue_init(struct frame_queue *q, size_t capacity)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->capacity = capacity;
}

static void queue_destroy(struct frame_queue *q)
{
	while (q->count > 0) {
		av_frame_free(&q->items[q->head].frame);
		av_packet_free(&q->items[q->head].packet);
		q->head = (q->head + 1) % q->capacity;
		q->count--;
	}
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

/* Takes the frame. A live channel drops a frame that finds the queue full, except one
 * that opens a segment (every rung must have it); a transcode waits. False when dropped. */
static bool queue_push_item(struct frame_queue *q, struct queue_item item, bool may_drop)
{
	pthread_mutex_lock(&q->lock);
	if (q->count == q->capacity && may_drop) {
		pthread_mutex_unlock(&q->lock);
		av_frame_free(&item.frame);
		av_packet_free(&item.packet);
		return false;
	}
	while (q->count == q->capacity)
		pthread_cond_wait(&q->cond, &q->lock);
	q->items[(q->head + q->count) % q->capacity] = item;
	q->count++;
	atomic_store(&q->depth, q->count);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return true;
}

static bool queue_push(struct frame_queue *q, AVFrame *frame, bool may_drop)
{
	return queue_push_item(q, (struct queue_item){ .frame = frame }, may_drop);
}

static void queue_end(struct frame_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->eof = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* The next item (ownership moves to the caller); both NULL at the end of the epoch. */
static struct queue_item queue_pop(struct frame_queue *q)
{
	struct queue_item item = { NULL, NULL };

	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->eof)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->count > 0) {
		item = q->items[q->head];
		q->head = (q->head + 1) % q->capacity;
		q->count--;
		atomic_store(&q->depth, q->count);
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return item;
}

/* ---- tracks: encode, cut, publish ---- */

static void track_fail(struct track *t, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void track_fail(struct track *t, int err, const char *fmt, ...)
{
	va_list ap;

	if (t->error)
		return;
	va_start(ap, fmt);
	vsnprintf(t->error_text, sizeof(t->error_text), fmt, ap);
	va_end(ap);
	t->error = err;
	/* A backend's fault ends the epoch for every track at once: no rung publishes a
	 * segment the failed one will not have. */
	if (t->backend_fault)
		atomic_store(&t->run->abandon, true);
	ob_error(MODULE, "channel \"%s\": track %zu: %s", t->run->id, t->index, t->error_text);
}

static void track_name(const struct track *t, char *out, size_t len)
{
	if (t->video)
		snprintf(out, len, "v%zu", t->index);
	else
		snprintf(out, len, "a0");
}

/* Ends the segment being built at end (the next segment's start, or the last sample's end)
 * and hands it to the output. */
static void cut(struct track *t, int64_t end)
{
	struct ob_run *run = t->run;
	uint32_t timescale = t->timescale;
	struct ob_pkg_segment seg = {
		.start = t->seg_start,
		.duration = end - t->seg_start,
		.epoch = t->epoch,
		.epoch_start = t->epoch_start,
		.init_id = t->init_id,
		.wall_ms = run->wall_offset_ms + av_rescale(t->seg_start, 1000, timescale),
	};
	uint8_t *data = NULL;
	uint8_t *ts_data = NULL;
	size_t len = 0;
	size_t ts_len = 0;
	int ret;

	t->seg_open = false;
	if (seg.duration <= 0 || atomic_load(&run->abandon))
		return;
	t->cuts++;
	ret = ob_pkg_cmaf_cut(t->cmaf, &data, &len);
	if (ret == 0 && t->ts)
		ret = ob_pkg_ts_cut(t->ts, &ts_data, &ts_len);
	if (ret == 0)
		ret = ob_pkg_output_segment(run->output, t->index, &seg, data, len, ts_data, ts_len);
	free(data);
	free(ts_data);
	if (ret != 0) {
		ob_warn(MODULE, "channel \"%s\": track %zu lost a segment: %s", run->id, t->index,
			ob_strerror(ret));
		return;
	}
	pthread_mutex_lock(&run->status_lock);
	t->kbps = (double)len * 8.0 / ((double)seg.duration / timescale) / 1000.0;
	pthread_mutex_unlock(&run->status_lock);
}

static void count(struct track *t, const AVPacket *pkt)
{
	struct ob_run *run = t->run;
	int64_t now = now_us();

	pthread_mutex_lock(&run->status_lock);
	t->frames += t->video ? 1 : 0;
	t->bytes += pkt->size;
	t->media_ticks += pkt->duration;
	if (t->sample_wall_us == 0) {
		t->sample_wall_us = now;
	} else if (now - t->sample_wall_us >= 1000000) {
		double seconds = (double)(now - t->sample_wall_us) / 1e6;
		double timescale = t->timescale;

		t->fps = (double)(t->frames - t->sample_frames) / seconds;
		t->speed = (double)(t->media_ticks - t->sample_media) / timescale / seconds;
		t->sample_wall_us = now;
		t->sample_frames = t->frames;
		t->sample_media = t->media_ticks;
		t->sample_bytes = t->bytes;
	}
	pthread_mutex_unlock(&run->status_lock);
}

static void handle_packet(struct track *t, AVPacket *pkt)
{
	bool opens;
	int ret;

	if (!t->video && t->enc && t->enc->initial_padding > 0) {
		/* The encoder's priming delay moves its packets earlier than the frames they
		 * carry; put them back on the frames' time so audio starts with the epoch. */
		pkt->pts += t->enc->initial_padding;
		pkt->dts += t->enc->initial_padding;
	}
	if (pkt->duration <= 0)
		pkt->duration = t->frame_ticks;
	if (pkt->dts == AV_NOPTS_VALUE)
		pkt->dts = pkt->pts;
	opens = pkt->pts >= t->next_cut && (!t->video || (pkt->flags & AV_PKT_FLAG_KEY));
	if (opens) {
		if (t->seg_open)
			cut(t, pkt->pts);
		t->seg_open = true;
		t->seg_start = pkt->pts;
		t->next_cut = (pkt->pts / t->seg_ticks + 1) * t->seg_ticks;
	}
	if (!t->seg_open)
		return;
	ret = ob_pkg_cmaf_write(t->cmaf, pkt);
	if (ret == 0 && t->ts)
		ret = ob_pkg_ts_write(t->ts, pkt);
	if (ret != 0) {
		track_fail(t, ret, "the MP4 writer refused a packet: %s", ob_strerror(ret));
		return;
	}
	if (pkt->pts + pkt->duration > t->last_end)
		t->last_end = pkt->pts + pkt->duration;
	count(t, pkt);
}

static void *track_main(void *arg)
{
	struct track *t = arg;
	AVPacket *pkt = av_packet_alloc();
	char name[16];

	/* Named for top -H and ps: the channel's rungs at a glance. */
	snprintf(name, sizeof(name), "ob-%.8s-%c%zu", t->run->id, t->video ? 'v' : 'a', t->index);
	pthread_setname_np(pthread_self(), name);
	/* A transcode's pace is its top rung's (measured: the ingest waits on it, the other
	 * rungs wait on the ingest). The other tracks run at a lower priority, so they fill
	 * the cores' spare time instead of taking it from the critical path. Live channels
	 * keep every track equal: each must keep real time. */
	if (t->run->transcode && t->index > 0)
		setpriority(PRIO_PROCESS, (id_t)gettid(), TRANSCODE_BACKGROUND_NICE);
	bool ended = false;

	if (!pkt)
		track_fail(t, OB_ENOMEM, "out of memory");
	while (!ended) {
		struct queue_item item = queue_pop(&t->queue);
		AVFrame *frame = item.frame;
		int rc;

		ended = !item.frame && !item.packet;
		if (t->error || item.packet) {
			if (item.packet && !t->error)
				handle_packet(t, item.packet);
			av_frame_free(&frame);
			av_packet_free(&item.packet);
			continue;
		}
		if (!t->enc || (ended && atomic_load(&t->run->abandon))) {
			av_frame_free(&frame);
			continue;
		}
		rc = avcodec_send_frame(t->enc, frame);
		av_frame_free(&frame);
		while (rc >= 0 && (rc = avcodec_receive_packet(t->enc, pkt)) == 0) {
			handle_packet(t, pkt);
			av_packet_unref(pkt);
		}
		if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
			char averr[AV_ERROR_MAX_STRING_SIZE];

			av_strerror(rc, averr, sizeof(averr));
			/* A hardware encoder that fails hands the channel to the next backend. */
			t->backend_fault = t->video && t->encoder_backend &&
					   strcmp(t->encoder_backend->name, "software") != 0;
			track_fail(t, OB_EIO, "the %s encoder failed: %s", t->encoder, averr);
		}
	}
	/* The audio's last frame or two past the video's end would make a segment of a few
	 * tens of milliseconds: they are left out. After a fault no track ends its segment:
	 * the failed one cannot, and the rungs stay aligned. */
	if (!t->error && !atomic_load(&t->run->abandon) && t->seg_open &&
	    (t->video || t->cuts == 0 || t->last_end - t->seg_start > 2 * t->frame_ticks))
		cut(t, t->last_end);
	av_packet_free(&pkt);
	return NULL;
}

/* Opens the track's encoder and MP4 writer for this epoch and publishes its init segment. */
static int track_open(struct track *t, char *err, size_t err_len)
{
	struct ob_run *run = t->run;
	AVCodecParameters *par = NULL;
	uint8_t *init = NULL;
	size_t init_len = 0;
	char codecs[48];
	int ret;

	if (t->passthrough) {
		AVRational tb = { 1, (int)t->timescale };

		pthread_mutex_lock(&run->status_lock);
		ob_strlcpy(t->encoder, "copy", sizeof(t->encoder));
		pthread_mutex_unlock(&run->status_lock);
		t->frame_ticks = 1024;
		ret = ob_pkg_cmaf_open(t->source_par, tb, &t->cmaf, &init, &init_len, err, err_len);
		if (ret == 0 && run->hls_ts)
			ret = ob_pkg_ts_open(t->source_par, tb, &t->ts);
		if (ret == 0 && ob_pkg_codec_string(t->source_par, codecs, sizeof(codecs)) == 0)
			ob_pkg_output_set_codecs(run->output, t->index, codecs);
		goto publish_init;
	}
	if (t->video) {
		AVBufferRef *frames = t->device_frames && t->sink
					      ? av_buffersink_get_hw_frames_ctx(t->sink)
					      : NULL;

		ret = t->encoder_backend->open_encoder(&t->params, frames, &t->enc, err, err_len);
		if (ret != 0) {
			/* A hardware encoder that does not open hands the channel on too. */
			t->backend_fault = strcmp(t->encoder_backend->name, "software") != 0;
			return ret;
		}
	} else {
		const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_AAC);

		t->enc = codec ? avcodec_alloc_context3(codec) : NULL;
		if (!t->enc) {
			snprintf(err, err_len, "libavcodec has no AAC encoder");
			return OB_EUNSUPPORTED;
		}
		t->enc->sample_rate = AUDIO_TIMESCALE;
		t->enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
		av_channel_layout_default(&t->enc->ch_layout, 2);
		t->enc->bit_rate = (int64_t)t->audio_kbps * 1000;
		t->enc->time_base = (AVRational){ 1, AUDIO_TIMESCALE };
		t->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
		if (avcodec_open2(t->enc, codec, NULL) < 0) {
			snprintf(err, err_len, "the AAC encoder did not open at %d kbit/s",
				 t->audio_kbps);
			return OB_EIO;
		}
		if (t->sink)
			av_buffersink_set_frame_size(t->sink, (unsigned)t->enc->frame_size);
		t->frame_ticks = t->enc->frame_size;
	}
	pthread_mutex_lock(&run->status_lock);
	ob_strlcpy(t->encoder, t->enc->codec->name, sizeof(t->encoder));
	if (t->video)
		ob_strlcpy(t->backend_name, t->encoder_backend->name, sizeof(t->backend_name));
	pthread_mutex_unlock(&run->status_lock);
	par = avcodec_parameters_alloc();
	if (!par)
		return OB_ENOMEM;
	avcodec_parameters_from_context(par, t->enc);
	ret = ob_pkg_cmaf_open(par, t->enc->time_base, &t->cmaf, &init, &init_len, err, err_len);
	if (ret == 0 && run->hls_ts)
		ret = ob_pkg_ts_open(par, t->enc->time_base, &t->ts);
	if (ret == 0 && ob_pkg_codec_string(par, codecs, sizeof(codecs)) == 0)
		ob_pkg_output_set_codecs(run->output, t->index, codecs);
	avcodec_parameters_free(&par);
publish_init:
	if (ret != 0)
		return ret;
	ret = ob_pkg_output_init_segment(run->output, t->index, t->init_id, init, init_len);
	free(init);
	if (ret != 0)
		snprintf(err, err_len, "cannot write the init segment in %.300s", run->out_dir);
	return ret;
}

static void track_close(struct track *t)
{
	avcodec_free_context(&t->enc);
	ob_pkg_cmaf_close(&t->cmaf);
	ob_pkg_ts_close(&t->ts);
	t->sink = NULL;
}

/* ---- the ingest side: filtergraphs and timestamps ---- */

static int graph_error(int rc, const char *what, char *err, size_t err_len)
{
	char averr[AV_ERROR_MAX_STRING_SIZE];

	av_strerror(rc, averr, sizeof(averr));
	snprintf(err, err_len, "the %s filtergraph did not start: %s", what, averr);
	return OB_EIO;
}

/* Links every open output of a parsed graph to a new sink; labels "oN" go to track N. */
static int attach_sinks(struct ob_run *run, AVFilterGraph *graph, AVFilterInOut *outputs,
			bool video)
{
	for (AVFilterInOut *o = outputs; o; o = o->next) {
		AVFilterContext *sink = NULL;
		unsigned index = 0;
		int rc;

		if (sscanf(o->name, "o%u", &index) != 1 || index >= run->n_tracks)
			return AVERROR(EINVAL);
		rc = avfilter_graph_create_filter(&sink,
						  avfilter_get_by_name(video ? "buffersink"
									     : "abuffersink"),
						  o->name, NULL, NULL, graph);
		if (rc < 0)
			return rc;
		rc = avfilter_link(o->filter_ctx, (unsigned)o->pad_idx, sink, 0);
		if (rc < 0)
			return rc;
		if (video)
			run->tracks[index].sink = sink;
		else
			run->asink = sink;
	}
	return 0;
}

/* The video graph of an epoch, made for its first decoded frame (on the device or in
 * system memory): split, then each rung's scale chain from the decode backend, ending where
 * the rung's encoder wants its frames. Every filter gets the run's device. */
static int build_video_graph(struct ob_run *run, const AVFrame *first, char *err,
			     size_t err_len)
{
	char desc[4096];
	size_t used;
	size_t n_video = run->n_tracks - (run->has_audio_track ? 1 : 0);
	bool in_device = first->hw_frames_ctx != NULL;
	AVFilterInOut *outputs = NULL;
	AVBufferSrcParameters *src_par = NULL;
	int rc;

	used = (size_t)snprintf(desc, sizeof(desc),
				"buffer@src=video_size=%dx%d:pix_fmt=%d:time_base=1/%d:"
				"pixel_aspect=%d/%d,",
				first->width, first->height, first->format, VIDEO_TIMESCALE,
				first->sample_aspect_ratio.num > 0 ? first->sample_aspect_ratio.num : 1,
				first->sample_aspect_ratio.den > 0 ? first->sample_aspect_ratio.den : 1);
	used += (size_t)snprintf(desc + used, sizeof(desc) - used, "split=%zu", n_video);
	for (size_t i = 0; i < n_video && used < sizeof(desc); i++)
		used += (size_t)snprintf(desc + used, sizeof(desc) - used, "[s%zu]", i);
	for (size_t i = 0; i < n_video && used < sizeof(desc); i++) {
		struct track *t = &run->tracks[i];
		char scale[512];

		rc = run->backend->scale_filter(&t->params, in_device, t->device_frames, scale,
						sizeof(scale));
		if (rc != 0) {
			snprintf(err, err_len, "%s has no scale chain from %s frames to a %s encoder",
				 run->backend->name, in_device ? "device" : "system-memory",
				 t->device_frames ? "device" : "system-memory");
			return rc;
		}
		used += (size_t)snprintf(desc + used, sizeof(desc) - used, ";[s%zu]%s,setsar=1[o%zu]",
					 i, scale, i);
	}
	if (used >= sizeof(desc))
		return OB_EINTERNAL;
	run->vgraph = avfilter_graph_alloc();
	if (!run->vgraph)
		return OB_ENOMEM;
	rc = avfilter_graph_parse_ptr(run->vgraph, desc, NULL, &outputs, NULL);
	if (rc >= 0)
		rc = attach_sinks(run, run->vgraph, outputs, true);
	avfilter_inout_free(&outputs);
	if (rc >= 0) {
		run->vsrc = avfilter_graph_get_filter(run->vgraph, "buffer@src");
		if (!run->vsrc)
			return OB_EINTERNAL;
	}
	if (rc >= 0 && in_device) {
		/* Frames on a device come with their pool, which the source must know. */
		src_par = av_buffersrc_parameters_alloc();
		if (!src_par)
			return OB_ENOMEM;
		src_par->format = first->format;
		src_par->hw_frames_ctx = first->hw_frames_ctx;
		rc = av_buffersrc_parameters_set(run->vsrc, src_par);
		av_free(src_par);
	}
	for (unsigned i = 0; rc >= 0 && run->device && i < run->vgraph->nb_filters; i++) {
		run->vgraph->filters[i]->hw_device_ctx = av_buffer_ref(run->device);
		if (!run->vgraph->filters[i]->hw_device_ctx)
			rc = AVERROR(ENOMEM);
	}
	if (rc >= 0)
		rc = avfilter_graph_config(run->vgraph, NULL);
	if (rc < 0) {
		/* On a device, a graph that does not start is the backend's fault. */
		if (run->device)
			ob_strlcpy(run->fault_backend, run->backend->name, sizeof(run->fault_backend));
		return graph_error(rc, "video", err, err_len);
	}
	return 0;
}

static int build_audio_graph(struct ob_run *run, const struct ob_input_info *info,
			     AVFrame *first, char *err, size_t err_len)
{
	char layout[128] = "stereo";
	char desc[1024];
	AVFilterInOut *outputs = NULL;
	int rc;

	(void)info;
	if (first->ch_layout.nb_channels > 0)
		av_channel_layout_describe(&first->ch_layout, layout, sizeof(layout));
	snprintf(desc, sizeof(desc),
		 "abuffer@src=time_base=1/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s,"
		 "aresample=%d:async=1,aformat=sample_fmts=fltp:sample_rates=%d:"
		 "channel_layouts=stereo[o%zu]",
		 first->sample_rate, first->sample_rate,
		 av_get_sample_fmt_name(first->format), layout, AUDIO_TIMESCALE,
		 AUDIO_TIMESCALE, run->n_tracks - 1);
	run->agraph = avfilter_graph_alloc();
	if (!run->agraph)
		return OB_ENOMEM;
	rc = avfilter_graph_parse_ptr(run->agraph, desc, NULL, &outputs, NULL);
	if (rc >= 0)
		rc = attach_sinks(run, run->agraph, outputs, false);
	avfilter_inout_free(&outputs);
	if (rc >= 0)
		rc = avfilter_graph_config(run->agraph, NULL);
	if (rc < 0)
		return graph_error(rc, "audio", err, err_len);
	run->asrc = avfilter_graph_get_filter(run->agraph, "abuffer@src");
	if (!run->asrc)
		return OB_EINTERNAL;
	{
		struct track *t = &run->tracks[run->n_tracks - 1];

		t->sink = run->asink;
		if (t->enc)
			av_buffersink_set_frame_size(t->sink, (unsigned)t->enc->frame_size);
	}
	return 0;
}

/* Hands what the graph made of a frame to the rungs. 0, or an AVERROR of the graph. */
static int push_video(struct ob_run *run, AVFrame *frame)
{
	size_t n_video = run->n_tracks - (run->has_audio_track ? 1 : 0);
	bool opens = frame->pts == run->forced_pts_90;

	for (size_t i = 0; i < n_video; i++) {
		struct track *t = &run->tracks[i];

		for (;;) {
			AVFrame *out = av_frame_alloc();
			int rc = out ? av_buffersink_get_frame(t->sink, out) : AVERROR(ENOMEM);

			if (rc < 0) {
				av_frame_free(&out);
				if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF)
					return rc;
				break;
			}
			/* Only segment openers are keyframes: decoded I frames of the source
			 * are ordinary frames to the encoders. */
			out->pict_type = out->pts == run->forced_pts_90 ? AV_PICTURE_TYPE_I
									: AV_PICTURE_TYPE_NONE;
			if (!queue_push(&t->queue, out, !run->transcode && !opens)) {
				pthread_mutex_lock(&run->status_lock);
				t->dropped++;
				pthread_mutex_unlock(&run->status_lock);
			}
		}
	}
	return 0;
}

static void push_audio(struct ob_run *run)
{
	struct track *t = &run->tracks[run->n_tracks - 1];

	for (;;) {
		AVFrame *out = av_frame_alloc();

		if (!out || av_buffersink_get_frame(run->asink, out) < 0) {
			av_frame_free(&out);
			break;
		}
		out->pts = av_rescale_q(out->pts, av_buffersink_get_time_base(run->asink),
					(AVRational){ 1, AUDIO_TIMESCALE });
		if (out->pts < t->epoch_start) {
			av_frame_free(&out);
			continue;
		}
		queue_push(&t->queue, out, false);
	}
}

/* The epoch's first video frame: its graph, then the rungs' encoders (a device encoder
 * takes its frame pool from the graph's output) and their init segments. */
static int start_video(struct ob_run *run, const AVFrame *first, char *err, size_t err_len)
{
	size_t n_video = run->n_tracks - (run->has_audio_track ? 1 : 0);
	int ret = build_video_graph(run, first, err, err_len);

	for (size_t i = 0; ret == 0 && i < n_video; i++) {
		struct track *t = &run->tracks[i];

		ret = track_open(t, err, err_len);
		if (ret != 0 && t->backend_fault)
			ob_strlcpy(run->fault_backend, t->encoder_backend->name,
				   sizeof(run->fault_backend));
	}
	return ret;
}

/* Keeps the end of everything written, audio included (in an MPEG-TS source the audio may
 * run most of a second ahead of the video): the next epoch starts after it. */
static void note_end(struct ob_run *run, int64_t end_us)
{
	if (end_us > run->max_end_us)
		run->max_end_us = end_us;
}

/* The first frame of an epoch, audio or video, whichever the decoders give first (a
 * decoder with frame threads holds its first pictures back), puts the input's time on
 * the epoch's start. */
static void anchor(struct ob_run *run, int64_t pts_us)
{
	if (run->anchored)
		return;
	run->origin_in_us = pts_us;
	run->anchored = true;
	run->last_video_out_us = AV_NOPTS_VALUE;
}

/* Puts a passthrough audio packet (times in microseconds) on the output timeline and hands
 * it to the audio track. */
static int process_audio_packet(struct ob_run *run, const struct ob_input_info *info,
				AVPacket *packet)
{
	struct track *t;
	AVPacket *out;
	int64_t out_us;

	if (!run->has_audio_track)
		return 0;
	anchor(run, packet->pts);
	t = &run->tracks[run->n_tracks - 1];
	/* An input whose audio differs from the run's first (decoded now, or another rate)
	 * goes without sound until the channel restarts. */
	if (!t->passthrough || info->sample_rate != (int)t->timescale)
		return 0;
	out_us = packet->pts - run->origin_in_us + run->origin_out_us;
	if (out_us < run->origin_out_us)
		return 0;
	note_end(run, out_us + packet->duration);
	out = av_packet_clone(packet);
	if (!out)
		return OB_ENOMEM;
	out->pts = av_rescale(out_us, t->timescale, 1000000);
	out->dts = out->pts;
	out->duration = av_rescale(packet->duration, t->timescale, 1000000);
	queue_push_item(&t->queue, (struct queue_item){ .packet = out }, false);
	return 0;
}

/* Puts a decoded frame (pts in microseconds) on the output timeline and into the graphs. */
static int process_frame(struct ob_run *run, AVFrame *frame, bool video, char *err,
			 size_t err_len)
{
	int64_t out_us;
	int rc;

	if (video) {
		int64_t seg90 = (int64_t)run->segment_seconds * VIDEO_TIMESCALE;
		int64_t pts90;

		anchor(run, frame->pts);
		out_us = frame->pts - run->origin_in_us + run->origin_out_us;
		/* Before the epoch's start (the audio came first and anchored it): dropped, so
		 * no segment starts before its epoch. */
		if (run->last_video_out_us == AV_NOPTS_VALUE && out_us < run->origin_out_us)
			return 0;
		if (run->last_video_out_us != AV_NOPTS_VALUE) {
			int64_t last = run->last_video_out_us;
			bool jumped = out_us > last + JUMP_MAX_US || out_us <= last - 500000;

			if (!jumped && out_us <= last)
				return 0; /* a repeated or late frame: drop it */
			if (jumped) {
				/* The source's clock jumped (a wrap, an encoder restart):
				 * continue smoothly from the last frame instead. */
				run->origin_in_us = frame->pts - (last + run->frame_us - run->origin_out_us);
				out_us = last + run->frame_us;
			}
		}
		run->last_video_out_us = out_us;
		pts90 = av_rescale(out_us, VIDEO_TIMESCALE, 1000000);
		if (pts90 >= run->next_cut_90) {
			run->forced_pts_90 = pts90;
			run->next_cut_90 = (pts90 / seg90 + 1) * seg90;
		}
		if (!run->vgraph) {
			int ret = start_video(run, frame, err, err_len);

			if (ret != 0)
				return ret;
		}
		note_end(run, out_us + run->frame_us);
		frame->pts = pts90;
		frame->pict_type = AV_PICTURE_TYPE_NONE;
		rc = av_buffersrc_add_frame_flags(run->vsrc, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
		if (rc >= 0)
			rc = push_video(run, frame);
		if (rc < 0) {
			if (run->device)
				ob_strlcpy(run->fault_backend, run->backend->name,
					   sizeof(run->fault_backend));
			return graph_error(rc, "video", err, err_len);
		}
		return 0;
	}
	if (!run->has_audio_track || run->tracks[run->n_tracks - 1].passthrough)
		return 0;
	anchor(run, frame->pts);
	out_us = frame->pts - run->origin_in_us + run->origin_out_us;
	if (out_us < run->origin_out_us)
		return 0;
	note_end(run, out_us + av_rescale(frame->nb_samples, 1000000,
					  frame->sample_rate > 0 ? frame->sample_rate : 48000));
	if (!run->agraph) {
		int ret = build_audio_graph(run, NULL, frame, err, err_len);

		if (ret != 0)
			return ret;
	}
	frame->pts = av_rescale(out_us, frame->sample_rate, 1000000);
	rc = av_buffersrc_add_frame_flags(run->asrc, frame, AV_BUFFERSRC_FLAG_KEEP_REF);
	if (rc < 0)
		return graph_error(rc, "audio", err, err_len);
	push_audio(run);
	return 0;
}

/* ---- tracks for the run, decided once from the first input ---- */

/* The rungs encode side by side, each in its own thread: give each encoder a share of the
 * cores by its pixel rate instead of letting every one start a thread per core (on a small
 * box five encoders with three frame threads each only add switching and delay). */
static void share_threads(struct ob_run *run, size_t n_video)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double total = 0;

	if (cores < 1)
		cores = 1;
	for (size_t i = 0; i < n_video; i++)
		total += (double)run->tracks[i].params.width * run->tracks[i].params.height;
	for (size_t i = 0; i < n_video; i++) {
		double share = (double)run->tracks[i].params.width * run->tracks[i].params.height /
			       total;
		long threads = lround(share * (double)cores);

		run->tracks[i].params.threads = threads < 1 ? 1 : (int)threads;
	}
}

static void note(struct ob_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Adds a line to the status's notes (what the engine changed from the configuration). */
static void note(struct ob_run *run, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	bool known = false;
	json_t *line;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&run->status_lock);
	/* An input that comes back makes the same decisions again: say each once per run. */
	json_array_foreach(run->notes, i, line)
		known = known || strcmp(json_string_value(line), text) == 0;
	if (!known)
		json_array_append_new(run->notes, json_string(text));
	pthread_mutex_unlock(&run->status_lock);
	if (known)
		return;
	ob_info(MODULE, "channel \"%s\": %s", run->id, text);
	if (!run->transcode)
		ob_event_publish(OB_EVENT_INFO, "channel.note", run->id,
				 json_pack("{s:s}", "note", text), "channel \"%s\": %s", run->id,
				 text);
}

static int make_tracks(struct ob_run *run, const struct ob_input_info *info,
		       const AVCodecParameters *source_audio, char *err, size_t err_len)
{
	struct ob_pkg_output_track descs[OB_LADDER_RUNGS_MAX + 1];
	struct ob_pkg_output_config config = {
		.dir = run->out_dir,
		.segment_seconds = run->segment_seconds,
		.live_window_segments = run->live_window,
		.dvr_window_seconds = run->dvr_seconds,
		.vod = run->transcode,
		.ts = run->hls_ts,
		.availability_start_ms = run->wall_offset_ms,
	};
	size_t first = 0;
	size_t n = 0;
	bool audio = false;
	int ret;

	/* Rungs taller or wider than the source would only be upscaled: skip them, keeping
	 * at least the smallest. */
	while (first + 1 < run->n_rungs && (run->rungs[first].height > info->height ||
					    run->rungs[first].width > info->width)) {
		note(run, "rung %dx%d skipped: above the source's %dx%d", run->rungs[first].width,
		     run->rungs[first].height, info->width, info->height);
		first++;
	}
	for (size_t r = first; r < run->n_rungs; r++) {
		struct track *t = &run->tracks[n];

		t->video = true;
		ob_strlcpy(t->codec, run->rungs[r].codec, sizeof(t->codec));
		ob_strlcpy(t->profile, run->rungs[r].profile, sizeof(t->profile));
		ob_strlcpy(t->preset, run->rungs[r].preset, sizeof(t->preset));
		t->params = (struct ob_hw_encode_params){
			.codec = t->codec,
			.profile = t->profile,
			.preset = t->preset,
			.width = run->rungs[r].width,
			.height = run->rungs[r].height,
			.frame_rate = info->frame_rate,
			.time_base = { 1, VIDEO_TIMESCALE },
			.bitrate_kbps = run->rungs[r].kbps,
			.max_bitrate_kbps = run->rungs[r].max_kbps,
			.buffer_kbits = run->rungs[r].buffer_kbits,
			.gop_frames = (int)ceil(run->segment_seconds * av_q2d(info->frame_rate)),
		};
		n++;
	}
	share_threads(run, n);
	if (run->audio_wanted && info->has_audio) {
		struct track *t = &run->tracks[n++];

		t->video = false;
		t->audio_kbps = run->audio_kbps;
		t->timescale = AUDIO_TIMESCALE;
		if (info->audio_packets && source_audio) {
			t->passthrough = true;
			t->timescale = (uint32_t)info->sample_rate;
			t->source_par = avcodec_parameters_alloc();
			if (!t->source_par || avcodec_parameters_copy(t->source_par, source_audio) < 0)
				return OB_ENOMEM;
			/* The playlists declare what the source sends, when it says. */
			if (source_audio->bit_rate > 0)
				t->audio_kbps = (int)((source_audio->bit_rate + 999) / 1000);
		} else if (run->audio_passthrough) {
			note(run, "audio passthrough takes AAC; the source's %s is encoded to AAC "
				  "at %d kbit/s", info->audio_codec, run->audio_kbps);
		}
		audio = true;
	}
	/* The status reads the track list: it appears whole. */
	pthread_mutex_lock(&run->status_lock);
	run->n_tracks = n;
	run->has_audio_track = audio;
	pthread_mutex_unlock(&run->status_lock);
	for (size_t i = 0; i < run->n_tracks; i++) {
		struct track *t = &run->tracks[i];

		t->run = run;
		t->index = i;
		if (t->video)
			t->timescale = VIDEO_TIMESCALE;
		descs[i] = (struct ob_pkg_output_track){
			.video = t->video,
			.timescale = t->timescale,
			.width = t->params.width,
			.height = t->params.height,
			.frame_rate = av_q2d(info->frame_rate),
			.average_bps = t->video ? t->params.bitrate_kbps * 1000L : t->audio_kbps * 1000L,
			.peak_bps = t->video ? t->params.max_bitrate_kbps * 1000L
					     : t->audio_kbps * 1000L,
			.sample_rate = (int)t->timescale,
			.channels = 2,
			.codecs = "",
		};
		track_name(t, descs[i].name, sizeof(descs[i].name));
	}
	ret = ob_pkg_output_open(&config, descs, run->n_tracks, &run->output, err, err_len);
	return ret;
}

/* ---- placement: which backend and device run the video ---- */

/* Says that a backend failed this run (status, log) and passes it over from now on. */
static void backend_failed(struct ob_run *run, const char *backend, const char *reason)
{
	json_t *entry = json_pack("{s:s, s:s, s:I}", "backend", backend, "reason", reason, "at_ms",
				  (json_int_t)ob_time_wall_ms());
	bool known = false;

	ob_warn(MODULE, "channel \"%s\": backend %s failed: %s", run->id, backend, reason);
	pthread_mutex_lock(&run->status_lock);
	if (entry)
		json_array_append_new(run->fallbacks, entry);
	/* A channel that retries a failing device for days keeps the newest ones. */
	while (json_array_size(run->fallbacks) > FALLBACKS_KEPT)
		json_array_remove(run->fallbacks, 0);
	pthread_mutex_unlock(&run->status_lock);
	for (size_t i = 0; i < run->n_failed_backends; i++)
		known = known || strcmp(run->failed_backends[i], backend) == 0;
	if (!known && run->n_failed_backends < FAILED_BACKENDS_MAX)
		ob_strlcpy(run->failed_backends[run->n_failed_backends++], backend,
			   sizeof(run->failed_backends[0]));
}

static void unplace(struct ob_run *run)
{
	ob_hw_release(&run->lease);
	av_buffer_unref(&run->device);
	run->backend = NULL;
	pthread_mutex_lock(&run->status_lock);
	json_decref(run->placement);
	run->placement = NULL;
	pthread_mutex_unlock(&run->status_lock);
}

/* Places the run on the box (admission against what the other channels hold), opens the
 * device, decides per rung which backend encodes it, and moves the input's video decoder
 * to the device. A device that does not open passes the run to the next backend. 0, or
 * admission's code with what does not fit in err. */
static int place(struct ob_run *run, struct ob_input *in, char *err, size_t err_len)
{
	const struct ob_input_info *info = ob_input_info(in);
	const struct ob_hw_backend *software = ob_hw_backend_find("software");
	size_t n_video = run->n_tracks - (run->has_audio_track ? 1 : 0);
	double fps = av_q2d(info->frame_rate);
	struct ob_hw_demand demand = {
		.codec = run->tracks[0].params.codec,
		.sessions = (int)n_video,
		.decode_pixel_rate = (double)info->width * info->height * fps,
	};
	char why[384];
	int ret;

	for (size_t i = 0; i < n_video; i++)
		demand.encode_pixel_rate +=
			(double)run->tracks[i].params.width * run->tracks[i].params.height * fps;
	for (;;) {
		const char *exclude[FAILED_BACKENDS_MAX + 1];

		for (size_t i = 0; i < run->n_failed_backends; i++)
			exclude[i] = run->failed_backends[i];
		exclude[run->n_failed_backends] = NULL;
		ret = ob_hw_admit(run->id, &demand, run->backend_pref, run->software_fallback,
				  exclude, &run->lease, err, err_len);
		if (ret != 0) {
			size_t used = strlen(err);

			for (size_t i = 0; i < run->n_failed_backends && used + 1 < err_len; i++)
				used += (size_t)snprintf(err + used, err_len - used, "%s%s",
							 i == 0 ? "; failed on this channel: "
								: ", ",
							 run->failed_backends[i]);
			return ret;
		}
		ret = run->lease.backend->open_device(run->lease.device, &run->device, why,
						      sizeof(why));
		if (ret == 0)
			break;
		backend_failed(run, run->lease.backend->name, why);
		unplace(run);
	}
	run->backend = run->lease.backend;
	for (size_t i = 0; i < n_video; i++) {
		struct track *t = &run->tracks[i];
		struct ob_hw_encoder_setup setup = { .options = NULL };

		t->encoder_backend = software;
		t->device_frames = false;
		if (run->lease.encode_on_device) {
			ret = run->backend->map_encoder(&t->params, &setup, why, sizeof(why));
			av_dict_free(&setup.options);
			if (ret == 0) {
				t->encoder_backend = run->backend;
				t->device_frames = setup.device_frames;
			} else {
				note(run, "rung %dx%d encodes in software: %s", t->params.width,
				     t->params.height, why);
			}
		}
		if (!t->encoder_backend) {
			snprintf(err, err_len, "%s cannot encode rung %dx%d and this firmware has "
					       "no software backend", run->backend->name,
				 t->params.width, t->params.height);
			unplace(run);
			return OB_EUNSUPPORTED;
		}
	}
	{
		const char *what = strcmp(run->backend->name, "software") == 0 ? "software"
				   : run->lease.encode_on_device	       ? "decode, scale and encode"
				   : run->device		 ? "decode and scale; the CPU encodes"
								 : "software";
		json_t *placement = json_pack("{s:s, s:s, s:s}", "backend", run->backend->name,
					      "device", run->lease.device, "pipeline", what);

		pthread_mutex_lock(&run->status_lock);
		json_decref(run->placement);
		run->placement = placement;
		pthread_mutex_unlock(&run->status_lock);
		ob_info(MODULE, "channel \"%s\": placed on %s%s%s (%s)", run->id,
			run->backend->name, run->lease.device[0] ? " " : "", run->lease.device, what);
	}
	for (size_t i = 0; i < 2; i++) {
		run->input_opts[i].video_backend = run->backend;
		run->input_opts[i].video_device = run->device;
	}
	if (!ob_input_decodes_on(in, run->backend, run->device)) {
		ret = ob_input_set_video_decoder(in, run->backend, run->device, why, sizeof(why));
		if (ret != 0)
			note(run, "the input is decoded in software: %s", why);
	}
	return 0;
}

/* ---- epochs ---- */

static void end_epoch(struct ob_run *run)
{
	for (size_t i = 0; i < run->n_tracks; i++) {
		struct track *t = &run->tracks[i];

		if (!t->thread_running)
			continue;
		queue_end(&t->queue);
		pthread_join(t->thread, NULL);
		t->thread_running = false;
	}
	for (size_t i = 0; i < run->n_tracks; i++) {
		track_close(&run->tracks[i]);
		queue_destroy(&run->tracks[i].queue);
	}
	avfilter_graph_free(&run->vgraph);
	avfilter_graph_free(&run->agraph);
	run->vsrc = NULL;
	run->asrc = NULL;
	run->asink = NULL;
}

/* Where the next epoch starts: the first boundary after everything written, and for a live
 * channel not before the wall clock, so media time keeps tracking real time. */
static void next_origin(struct ob_run *run)
{
	int64_t seg_us = (int64_t)run->segment_seconds * 1000000;
	int64_t after = (run->max_end_us + seg_us - 1) / seg_us * seg_us;
	int64_t wall = ob_time_wall_ms() * 1000 / seg_us * seg_us;

	if (run->fault_backend[0]) {
		/* The input is still there and only the backend changes: the next epoch starts
		 * now (its first segment ends on the next boundary), not a boundary later. */
		int64_t now = ob_time_wall_ms() * 1000;

		run->origin_out_us = run->transcode || run->max_end_us > now ? run->max_end_us
									      : now;
		return;
	}
	run->origin_out_us = run->transcode || after > wall ? after : wall;
	if (run->origin_out_us <= run->max_end_us - 1)
		run->origin_out_us += seg_us;
}

/* Runs one epoch on an open input. 1 at the end of a file, OB_EIO when the input is lost
 * (reason in err), OB_EBUSY when stopped or handed to the primary again, another OB_E* when
 * the pipeline failed. */
static int run_epoch(struct ob_run *run, struct ob_input *in, bool *handover, char *err,
		     size_t err_len)
{
	const struct ob_input_info *info = ob_input_info(in);
	AVFrame *frame = av_frame_alloc();
	AVPacket *packet = av_packet_alloc();
	int ret = 0;
	bool live_said = false;

	*handover = false;
	if (!frame || !packet) {
		av_frame_free(&frame);
		av_packet_free(&packet);
		return OB_ENOMEM;
	}
	if (!run->output) {
		ret = make_tracks(run, info, ob_input_audio_parameters(in), err, err_len);
		if (ret != 0)
			goto out;
	}
	if (!run->lease.held) {
		ret = place(run, in, err, err_len);
		if (ret != 0) {
			/* Nothing takes it now; the next attempt tries every backend again. A
			 * full box is a failure here (OB_EBUSY means "stopped" to the caller). */
			run->n_failed_backends = 0;
			if (ret == OB_EBUSY)
				ret = OB_ECONFLICT;
			goto out;
		}
	} else if (!ob_input_decodes_on(in, run->backend, run->device)) {
		char why[256];

		/* An input opened by the prober decodes in system memory; the chains upload
		 * if this fails. */
		if (ob_input_set_video_decoder(in, run->backend, run->device, why, sizeof(why)) != 0)
			ob_info(MODULE, "channel \"%s\": the input is decoded in software: %s",
				run->id, why);
	}
	run->fault_backend[0] = '\0';
	atomic_store(&run->abandon, false);
	run->anchored = false;
	run->frame_us = av_rescale_q(1, av_inv_q(info->frame_rate), AV_TIME_BASE_Q);
	run->next_cut_90 = INT64_MIN;
	run->forced_pts_90 = AV_NOPTS_VALUE;
	for (size_t i = 0; i < run->n_tracks; i++) {
		struct track *t = &run->tracks[i];
		uint32_t timescale = t->timescale;

		queue_init(&t->queue, QUEUE_CAPACITY);
		t->epoch = run->epoch;
		/* The epoch's start in media seconds: epochs start on distinct segment
		 * boundaries and live media time is wall-clock time, so it never repeats. */
		t->init_id = (uint64_t)(run->origin_out_us / 1000000);
		t->epoch_start = av_rescale(run->origin_out_us, timescale, 1000000);
		t->seg_ticks = (int64_t)run->segment_seconds * timescale;
		t->frame_ticks = t->video ? av_rescale_q(1, av_inv_q(info->frame_rate),
							 (AVRational){ 1, VIDEO_TIMESCALE })
					  : 1024;
		t->next_cut = INT64_MIN;
		t->seg_open = false;
		t->cuts = 0;
		t->last_end = 0;
		t->error = 0;
		t->backend_fault = false;
		t->params.frame_rate = info->frame_rate;
	}
	/* Video tracks open with the epoch's first frame (start_video), audio now. */
	for (size_t i = 0; ret == 0 && i < run->n_tracks; i++)
		if (!run->tracks[i].video)
			ret = track_open(&run->tracks[i], err, err_len);
	for (size_t i = 0; ret == 0 && i < run->n_tracks; i++) {
		if (pthread_create(&run->tracks[i].thread, NULL, track_main, &run->tracks[i]) != 0)
			ret = OB_ENOMEM;
		else
			run->tracks[i].thread_running = true;
	}
	if (ret != 0)
		goto out_end;
	for (;;) {
		bool video = false;
		int rc = ob_input_read(in, frame, packet, &video, err, err_len);

		if (rc == 2)
			ret = process_audio_packet(run, info, packet);
		else if (rc != 0)
			ret = rc;
		else
			ret = process_frame(run, frame, video, err, err_len);
		/* A backend's decoder that gave up is the backend's fault, not the input's. */
		if (rc < 0 && ob_input_decoder_failed(in))
			ob_strlcpy(run->fault_backend, run->backend->name, sizeof(run->fault_backend));
		if (ret != 0)
			break;
		for (size_t i = 0; i < run->n_tracks; i++)
			if (run->tracks[i].error) {
				struct track *t = &run->tracks[i];

				snprintf(err, err_len, "%s", t->error_text);
				ret = t->error;
				if (t->backend_fault)
					ob_strlcpy(run->fault_backend, t->encoder_backend->name,
						   sizeof(run->fault_backend));
				goto out_end;
			}
		if (!live_said && ob_pkg_output_ready(run->output) && run->tracks[0].seg_open) {
			live_said = true;
			if (run->n_failed_backends > 0)
				set_state(run, STATE_LIVE, "on air from the %s input, on %s after %s "
							   "failed",
					  input_label(run->on_air), run->backend->name,
					  run->failed_backends[run->n_failed_backends - 1]);
			else
				set_state(run, STATE_LIVE, "on air from the %s input",
					  input_label(run->on_air));
		}
		pthread_mutex_lock(&run->status_lock);
		*handover = run->standby != NULL;
		pthread_mutex_unlock(&run->status_lock);
		if (*handover) {
			ret = OB_EBUSY;
			break;
		}
	}
out_end:
	if (run->fault_backend[0])
		atomic_store(&run->abandon, true);
	end_epoch(run);
out:
	av_frame_free(&frame);
	av_packet_free(&packet);
	next_origin(run);
	return ret;
}

/* ---- failback: while the backup is on air, watch for the primary ---- */

/* An input the run can switch to: it has audio when the run has an audio track. */
static bool carries_what_the_run_needs(struct ob_run *run, struct ob_input *in)
{
	bool audio;

	pthread_mutex_lock(&run->status_lock);
	audio = run->has_audio_track;
	pthread_mutex_unlock(&run->status_lock);
	return !audio || ob_input_info(in)->has_audio;
}

static void *prober_main(void *arg)
{
	struct ob_run *run = arg;
	AVFrame *frame = av_frame_alloc();
	AVPacket *packet = av_packet_alloc();

	while (frame && packet && !atomic_load(&run->prober_stop)) {
		struct ob_input *in = NULL;
		char err[256];
		int64_t since;
		bool healthy = true;

		if (ob_input_open(&run->input_opts[2], &in, err, sizeof(err)) == 0 &&
		    !carries_what_the_run_needs(run, in)) {
			/* Opened while the source was starting (its audio not seen yet, say):
			 * failing back to it would leave the channel silent. Try again. */
			ob_info(MODULE, "channel \"%s\": the primary input is back without its "
					"audio; not failing back to it yet", run->id);
			ob_input_close(&in);
		}
		if (!in) {
			for (int i = 0; i < PRIMARY_PROBE_EVERY_MS / 100 && !atomic_load(&run->prober_stop); i++)
				nap(run, 100);
			continue;
		}
		since = ob_time_mono_ms();
		while (ob_time_mono_ms() - since < PRIMARY_HEALTHY_MS) {
			bool video;

			if (atomic_load(&run->prober_stop) ||
			    ob_input_read(in, frame, packet, &video, err, sizeof(err)) < 0) {
				healthy = false;
				break;
			}
		}
		av_frame_unref(frame);
		if (healthy) {
			pthread_mutex_lock(&run->status_lock);
			run->standby = in;
			pthread_mutex_unlock(&run->status_lock);
			break;
		}
		ob_input_close(&in);
	}
	av_frame_free(&frame);
	av_packet_free(&packet);
	return NULL;
}

static void prober_stop(struct ob_run *run)
{
	if (!run->prober_running)
		return;
	atomic_store(&run->prober_stop, true);
	pthread_join(run->prober, NULL);
	run->prober_running = false;
}

/* ---- the ingest thread ---- */

static void finish(struct ob_run *run, int result, const char *text)
{
	pthread_mutex_lock(&run->status_lock);
	run->finished = true;
	run->result = result;
	ob_strlcpy(run->result_text, text, sizeof(run->result_text));
	pthread_cond_broadcast(&run->done_cond);
	pthread_mutex_unlock(&run->status_lock);
}

static void *ingest_main(void *arg)
{
	struct ob_run *run = arg;
	char name[16];
	int which = 0;
	int backoff_ms = 1000;
	bool ever_live = false;
	int result = 0;
	char text[512] = "";
	struct ob_input *kept = NULL; /* the input stays open while another backend takes over */

	snprintf(name, sizeof(name), "ob-%.11s", run->id);
	pthread_setname_np(pthread_self(), name);

	while (!atomic_load(&run->stop)) {
		struct ob_input *in = kept;
		char err[512] = "";
		bool handover = false;
		int ret;

		kept = NULL;
		if (!in) {
			pthread_mutex_lock(&run->status_lock);
			in = run->standby;
			run->standby = NULL;
			pthread_mutex_unlock(&run->status_lock);
		}
		if (in && in == run->input) {
			/* kept: the same input, on the next backend */
		} else if (in) {
			prober_stop(run);
			ob_input_set_options(in, &run->input_opts[0]);
			which = 0;
			ob_info(MODULE, "channel \"%s\": the primary input is healthy again; failing back",
				run->id);
		} else {
			bool failed;

			pthread_mutex_lock(&run->status_lock);
			failed = run->state == STATE_FAILED;
			pthread_mutex_unlock(&run->status_lock);
			/* A failed channel stays failed, with its reason, while it retries. */
			if (!failed)
				set_state(run, ever_live ? STATE_DEGRADED : STATE_STARTING,
					  "connecting to the %s input %s", input_label(which),
					  run->urls[which]);
			ret = ob_input_open(&run->input_opts[which], &in, err, sizeof(err));
			if (ret == OB_EBUSY)
				break;
			if (ret != 0) {
				if (run->transcode) {
					result = ret;
					snprintf(text, sizeof(text), "%.200s: %.300s", run->urls[0], err);
					break;
				}
				set_state(run, ret == OB_EINVAL ? STATE_FAILED
						: ever_live	? STATE_DEGRADED
								: STATE_STARTING,
					  "%s input %s: %s; retrying in %d s", input_label(which),
					  run->urls[which], err, backoff_ms / 1000);
				if (run->has_backup)
					which ^= 1;
				nap(run, backoff_ms);
				backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
				continue;
			}
		}
		pthread_mutex_lock(&run->status_lock);
		run->input = in;
		run->on_air = which;
		run->info = *ob_input_info(in);
		run->info_valid = true;
		pthread_mutex_unlock(&run->status_lock);
		if (which == 1 && !run->prober_running) {
			atomic_store(&run->prober_stop, false);
			run->prober_running = pthread_create(&run->prober, NULL, prober_main, run) == 0;
		}
		backoff_ms = 1000;
		ret = run_epoch(run, in, &handover, err, sizeof(err));
		ever_live = ever_live || run->output != NULL;
		run->epoch++;
		if (ret != 0 && ret != 1 && run->fault_backend[0] && !atomic_load(&run->stop)) {
			/* The backend failed, not the input: the next backend takes the same input
			 * at the next segment boundary, with a discontinuity. */
			char failed[sizeof(run->fault_backend)];

			ob_strlcpy(failed, run->fault_backend, sizeof(failed));
			run->fault_backend[0] = '\0';
			backend_failed(run, failed, err);
			unplace(run);
			set_state(run, STATE_DEGRADED, "backend %s failed: %s; moving the channel to "
						       "the next backend",
				  failed, err);
			kept = in;
			continue;
		}
		pthread_mutex_lock(&run->status_lock);
		run->input = NULL;
		pthread_mutex_unlock(&run->status_lock);
		ob_input_close(&in);
		if (ret == 1) {
			set_state(run, STATE_ENDED, "the file ended");
			break;
		}
		if (ret == OB_EBUSY && handover)
			continue;
		if (ret == OB_EBUSY)
			break;
		if (run->transcode) {
			result = ret;
			snprintf(text, sizeof(text), "%s", err);
			break;
		}
		if (ret == OB_EIO) {
			set_state(run, STATE_DEGRADED, "the %s input %s was lost: %s%s",
				  input_label(which), run->urls[which], err,
				  run->has_backup ? "; switching inputs" : "; reconnecting");
			if (run->has_backup)
				which ^= 1;
			if (which == 0)
				prober_stop(run);
			continue;
		}
		set_state(run, STATE_FAILED, "%s; retrying in %d s", err, backoff_ms / 1000);
		nap(run, backoff_ms);
		backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
	}
	if (kept) {
		pthread_mutex_lock(&run->status_lock);
		run->input = NULL;
		pthread_mutex_unlock(&run->status_lock);
		ob_input_close(&kept);
	}
	prober_stop(run);
	{
		struct ob_input *left;

		pthread_mutex_lock(&run->status_lock);
		left = run->standby;
		run->standby = NULL;
		pthread_mutex_unlock(&run->status_lock);
		ob_input_close(&left);
	}
	if (run->output)
		ob_pkg_output_finish(run->output);
	if (atomic_load(&run->stop))
		set_state(run, STATE_ENDED, "stopped by an operator");
	finish(run, result, text);
	return NULL;
}

/* ---- the public side ---- */

static int int_member(const json_t *obj, const char *name, int fallback)
{
	const json_t *v = json_object_get(obj, name);

	return json_is_integer(v) ? (int)json_integer_value(v) : fallback;
}

static const char *str_member(const json_t *obj, const char *name, const char *fallback)
{
	const char *v = json_string_value(json_object_get(obj, name));

	return v ? v : fallback;
}

static int load_config(struct ob_run *run, const struct ob_run_config *config, char *err,
		       size_t err_len)
{
	const json_t *input = json_object_get(config->channel, "input");
	const json_t *rungs = json_object_get(config->ladder, "rungs");
	const json_t *audio = json_object_get(config->ladder, "audio");
	const char *backup = json_string_value(json_object_get(input, "backup_url"));
	const json_t *rung;
	size_t i;

	ob_strlcpy(run->id, config->id, sizeof(run->id));
	if (ob_strlcpy(run->urls[0], str_member(input, "url", ""), sizeof(run->urls[0])) != 0 ||
	    ob_strlcpy(run->out_dir, config->out_dir, sizeof(run->out_dir)) != 0 ||
	    ob_strlcpy(run->media_dir, config->media_dir, sizeof(run->media_dir)) != 0) {
		snprintf(err, err_len, "a path or URL is too long");
		return OB_EINVAL;
	}
	run->has_backup = backup && *backup;
	if (run->has_backup)
		ob_strlcpy(run->urls[1], backup, sizeof(run->urls[1]));
	run->failover_ms = int_member(input, "failover_after_s", 3) * 1000;
	run->segment_seconds = int_member(config->channel, "segment_seconds", 4);
	run->live_window = int_member(config->channel, "live_window_segments", 6);
	run->dvr_seconds = int_member(config->channel, "dvr_window_seconds", 0);
	run->transcode = config->transcode;
#ifdef CONFIG_PKG_HLS_TS
	run->hls_ts = json_is_true(json_object_get(config->channel, "hls_ts"));
#else
	if (json_is_true(json_object_get(config->channel, "hls_ts")))
		json_array_append_new(run->notes,
				      json_string("hls_ts: this firmware has no MPEG-TS HLS (the "
						  "PKG_HLS_TS option); CMAF only"));
#endif
	ob_strlcpy(run->backend_pref, str_member(config->channel, "backend", "auto"),
		   sizeof(run->backend_pref));
	run->software_fallback = !json_is_false(json_object_get(config->channel,
								"software_fallback"));
	json_array_foreach(rungs, i, rung) {
		if (i >= OB_LADDER_RUNGS_MAX)
			break;
		run->rungs[i].width = int_member(rung, "width", 0);
		run->rungs[i].height = int_member(rung, "height", 0);
		run->rungs[i].kbps = int_member(rung, "video_bitrate_kbps", 0);
		run->rungs[i].max_kbps = int_member(rung, "max_bitrate_kbps", run->rungs[i].kbps);
		run->rungs[i].buffer_kbits = int_member(rung, "buffer_kbits", run->rungs[i].kbps * 2);
		ob_strlcpy(run->rungs[i].codec, str_member(rung, "codec", "h264"),
			   sizeof(run->rungs[i].codec));
		ob_strlcpy(run->rungs[i].profile, str_member(rung, "profile", "high"),
			   sizeof(run->rungs[i].profile));
		ob_strlcpy(run->rungs[i].preset, str_member(rung, "preset", "veryfast"),
			   sizeof(run->rungs[i].preset));
		run->n_rungs++;
	}
	if (run->n_rungs == 0) {
		snprintf(err, err_len, "the ladder has no rungs");
		return OB_EINVAL;
	}
	run->audio_wanted = true;
	run->audio_kbps = int_member(audio, "bitrate_kbps", 128);
	run->audio_passthrough = strcmp(str_member(audio, "mode", "aac"), "passthrough") == 0;
	for (int which = 0; which < 2; which++)
		run->input_opts[which] = (struct ob_input_options){
			.url = run->urls[which],
			.media_dir = run->media_dir,
			.realtime = !run->transcode,
			.open_timeout_ms = run->transcode     ? TRANSCODE_TIMEOUT_MS
					   : run->has_backup ? run->failover_ms
							     : OPEN_TIMEOUT_MS,
			.silence_timeout_ms = run->transcode	 ? TRANSCODE_TIMEOUT_MS
					      : run->has_backup ? run->failover_ms
								: SILENCE_TIMEOUT_MS,
			.stop = &run->stop,
			.backend = ob_hw_backend_find("software"),
			.audio_passthrough = run->audio_passthrough,
		};
	/* The prober opens the primary with its own stop flag. */
	run->input_opts[2] = run->input_opts[0];
	run->input_opts[2].stop = &run->prober_stop;
	return 0;
}

static void run_free(struct ob_run *run)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(run->tracks); i++)
		avcodec_parameters_free(&run->tracks[i].source_par);
	ob_pkg_output_close(&run->output);
	json_decref(run->notes);
	json_decref(run->fallbacks);
	json_decref(run->placement);
	ob_hw_release(&run->lease);
	av_buffer_unref(&run->device);
	pthread_mutex_destroy(&run->status_lock);
	pthread_cond_destroy(&run->done_cond);
	free(run);
}

int ob_run_start(const struct ob_run_config *config, struct ob_run **out, char *err,
		 size_t err_len)
{
	struct ob_run *run = calloc(1, sizeof(*run));
	int ret;

	*out = NULL;
	if (!run)
		return OB_ENOMEM;
	pthread_mutex_init(&run->status_lock, NULL);
	pthread_cond_init(&run->done_cond, NULL);
	run->notes = json_array();
	run->fallbacks = json_array();
	run->state = STATE_STARTING;
	run->state_since_ms = ob_time_wall_ms();
	ret = load_config(run, config, err, err_len);
	if (ret == 0 && !run->input_opts[0].backend) {
		snprintf(err, err_len, "this firmware has no software decoder backend");
		ret = OB_EUNSUPPORTED;
	}
	if (ret != 0) {
		run_free(run);
		return ret;
	}
	/* Live media time is wall-clock time, so segment numbers and DASH times stay unique
	 * and meaningful across restarts; a transcode starts at zero. */
	if (run->transcode) {
		/* One segment in, so the encoders' decode timestamps (a few frames before the
		 * first presentation time) are never negative; DASH's presentationTimeOffset
		 * and HLS's first timestamp make it start at zero for players. */
		run->origin_out_us = (int64_t)run->segment_seconds * 1000000;
		run->wall_offset_ms = ob_time_wall_ms() - run->origin_out_us / 1000;
	} else {
		int64_t seg_us = (int64_t)run->segment_seconds * 1000000;
		int64_t after = (config->min_origin_us + seg_us - 1) / seg_us * seg_us;

		run->wall_offset_ms = 0;
		run->origin_out_us = ob_time_wall_ms() * 1000 / seg_us * seg_us;
		/* Never again a time (a segment number, an init name) of the channel's last run. */
		if (run->origin_out_us < after)
			run->origin_out_us = after;
	}
	if (pthread_create(&run->thread, NULL, ingest_main, run) != 0) {
		run_free(run);
		return OB_ENOMEM;
	}
	*out = run;
	return 0;
}

bool ob_run_finished(struct ob_run *run)
{
	bool finished;

	pthread_mutex_lock(&run->status_lock);
	finished = run->finished;
	pthread_mutex_unlock(&run->status_lock);
	return finished;
}

int ob_run_wait(struct ob_run *run, char *err, size_t err_len)
{
	int result;

	pthread_mutex_lock(&run->status_lock);
	while (!run->finished)
		pthread_cond_wait(&run->done_cond, &run->status_lock);
	result = run->result;
	ob_strlcpy(err, run->result_text, err_len);
	pthread_mutex_unlock(&run->status_lock);
	return result;
}

int64_t ob_run_stop(struct ob_run **runp)
{
	struct ob_run *run = *runp;
	int64_t end;

	if (!run)
		return 0;
	atomic_store(&run->stop, true);
	pthread_join(run->thread, NULL);
	end = run->max_end_us;
	run_free(run);
	*runp = NULL;
	return end;
}

static json_t *track_status(struct track *t)
{
	json_t *o = json_object();
	char name[OB_PKG_TRACK_NAME_MAX];

	track_name(t, name, sizeof(name));
	json_object_set_new(o, "name", json_string(name));
	if (t->video) {
		json_object_set_new(o, "width", json_integer(t->params.width));
		json_object_set_new(o, "height", json_integer(t->params.height));
		json_object_set_new(o, "target_kbps", json_integer(t->params.bitrate_kbps));
		json_object_set_new(o, "backend", json_string(t->backend_name));
		json_object_set_new(o, "frames", json_integer(t->frames));
		json_object_set_new(o, "fps", json_real(round(t->fps * 10) / 10));
		json_object_set_new(o, "dropped_frames", json_integer(t->dropped));
	} else {
		json_object_set_new(o, "target_kbps", json_integer(t->audio_kbps));
	}
	json_object_set_new(o, "encoder", json_string(t->encoder));
	json_object_set_new(o, "speed", json_real(round(t->speed * 100) / 100));
	json_object_set_new(o, "bitrate_kbps", json_integer(lround(t->kbps)));
	json_object_set_new(o, "queue_depth", json_integer((json_int_t)atomic_load(&t->queue.depth)));
	return o;
}

json_t *ob_run_status(struct ob_run *run)
{
	json_t *status = json_object();
	json_t *rungs = json_array();
	json_t *input = json_object();
	char since[32];

	pthread_mutex_lock(&run->status_lock);
	ob_time_iso8601(run->state_since_ms, since, sizeof(since));
	json_object_set_new(status, "state", json_string(state_names[run->state]));
	json_object_set_new(status, "reason", json_string(run->reason));
	json_object_set_new(status, "since", json_string(since));
	json_object_set_new(input, "on_air", json_string(input_label(run->on_air)));
	json_object_set_new(input, "url", json_string(run->urls[run->on_air]));
	if (run->info_valid) {
		json_object_set_new(input, "format", json_string(run->info.format));
		json_object_set_new(input, "video_codec", json_string(run->info.video_codec));
		json_object_set_new(input, "width", json_integer(run->info.width));
		json_object_set_new(input, "height", json_integer(run->info.height));
		json_object_set_new(input, "frame_rate",
				    json_real(round(av_q2d(run->info.frame_rate) * 1000) / 1000));
		if (run->info.has_audio) {
			json_object_set_new(input, "audio_codec", json_string(run->info.audio_codec));
			json_object_set_new(input, "sample_rate", json_integer(run->info.sample_rate));
			json_object_set_new(input, "channels", json_integer(run->info.channels));
		}
	}
	if (run->input) {
		int64_t bytes;
		int64_t last_ms;
		int64_t now = ob_time_mono_ms();

		ob_input_counters(run->input, &bytes, &last_ms);
		if (run->in_sample_ms && now - run->in_sample_ms >= 1000 && bytes >= run->in_sample_bytes)
			run->in_kbps = (double)(bytes - run->in_sample_bytes) * 8.0 /
				       (double)(now - run->in_sample_ms);
		if (!run->in_sample_ms || now - run->in_sample_ms >= 1000) {
			run->in_sample_ms = now;
			run->in_sample_bytes = bytes;
		}
		json_object_set_new(input, "bitrate_kbps", json_integer(lround(run->in_kbps)));
		json_object_set_new(input, "last_packet_age_ms", json_integer(now - last_ms));
	}
	json_object_set_new(status, "input", input);
	for (size_t i = 0; i < run->n_tracks; i++)
		if (run->tracks[i].video)
			json_array_append_new(rungs, track_status(&run->tracks[i]));
	json_object_set_new(status, "rungs", rungs);
	if (run->has_audio_track)
		json_object_set_new(status, "audio",
				    track_status(&run->tracks[run->n_tracks - 1]));
	json_object_set_new(status, "epoch", json_integer(run->epoch));
	json_object_set_new(status, "notes", json_deep_copy(run->notes));
	json_object_set_new(status, "placement",
			    run->placement ? json_deep_copy(run->placement) : json_null());
	json_object_set_new(status, "backend_failures", json_deep_copy(run->fallbacks));
	pthread_mutex_unlock(&run->status_lock);
	return status;
}
