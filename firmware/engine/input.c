#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/util.h"
#include "engine/internal.h"

/* Demuxers any network or file input may use. */
#define DECODER_ERRORS_MAX 25 /* errors in a row from a backend's video decoder: it failed */
#define CONTAINER_FORMATS "mpegts,hls,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,flv,aac,mp3"

struct ob_input;

/* One kind of input, chosen by the URL's scheme. */
struct input_kind {
	const char *scheme;             /* "srt", "file:" is matched as "file" */
	const char *protocols;          /* libavformat protocol_whitelist */
	const char *formats;            /* format_whitelist */
	/* Turns the channel's URL into libavformat's URL and options. */
	int (*prepare)(struct ob_input *in, const char *url, char *lavf_url, size_t len,
		       AVDictionary **opts, char *err, size_t err_len);
};

struct ob_input {
	const struct ob_input_options *opts;
	struct ob_input_info info;
	bool generator;                 /* the built-in test pattern, not a demuxer */
	bool loop;                      /* file inputs: start again at the end */
	/* demuxer inputs */
	AVFormatContext *demux;
	int video_index;
	int audio_index;
	AVCodecContext *video_dec;
	AVCodecContext *audio_dec;
	AVPacket *packet;
	bool draining;                  /* end of file: decoders are being flushed */
	bool wait_key;                  /* a new video decoder: skip packets to a keyframe */
	const void *video_device;       /* the video decoder's device (its data), or NULL */
	const struct ob_hw_backend *video_backend; /* whose video decoder it is */
	int video_errors;               /* in a row, from a backend's decoder */
	bool decoder_failed;            /* that decoder gave up: the backend's fault */
	int64_t loop_offset_us;         /* added to timestamps after each loop */
	int64_t loop_span_us;           /* the newest timestamp seen (for the next loop) */
	/* the test pattern */
	AVFilterGraph *graph;
	AVFilterContext *video_sink;
	AVFilterContext *audio_sink;
	AVFrame *pending[2];            /* next video and audio frame, not yet handed out */
	/* both */
	int64_t deadline_ms;            /* the interrupt callback gives up after this */
	_Atomic int64_t bytes;
	_Atomic int64_t last_packet_ms;
	int64_t pace_origin_us;         /* first timestamp handed out, for real-time pacing */
	int64_t pace_wall_us;           /* monotonic time when it was */
	int64_t last_pts_us[2];         /* per stream, for frames without a timestamp */
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int interrupt_cb(void *opaque)
{
	struct ob_input *in = opaque;

	return atomic_load(in->opts->stop) || ob_time_mono_ms() > in->deadline_ms;
}

static void averror_text(int rc, char *out, size_t len)
{
	av_strerror(rc, out, len);
}

/* The host part of SCHEME://HOST:PORT..., for deciding listener or caller. */
static void url_host(const char *url, char *host, size_t len)
{
	const char *p = strstr(url, "://");
	size_t n;

	host[0] = '\0';
	if (!p)
		return;
	p += 3;
	if (*p == '[') {
		n = strcspn(p + 1, "]");
		p++;
	} else {
		n = strcspn(p, ":/?");
	}
	if (n >= len)
		n = len - 1;
	memcpy(host, p, n);
	host[n] = '\0';
}

static bool host_is_any(const char *host)
{
	return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static int copy_url(const char *url, char *lavf_url, size_t len, char *err, size_t err_len)
{
	if (ob_strlcpy(lavf_url, url, len) != 0) {
		snprintf(err, err_len, "the input URL is too long");
		return OB_EINVAL;
	}
	return 0;
}

static int prepare_srt(struct ob_input *in, const char *url, char *lavf_url, size_t len,
		       AVDictionary **opts, char *err, size_t err_len)
{
	char host[256];

	(void)in;
	url_host(url, host, sizeof(host));
	if (!strstr(url, "mode="))
		av_dict_set(opts, "mode", host_is_any(host) ? "listener" : "caller", 0);
	return copy_url(url, lavf_url, len, err, err_len);
}

static int prepare_rtmp(struct ob_input *in, const char *url, char *lavf_url, size_t len,
			AVDictionary **opts, char *err, size_t err_len)
{
	char host[256];

	(void)in;
	url_host(url, host, sizeof(host));
	if (host_is_any(host)) {
		/* Take a publish: the encoder pushes to this box. */
		av_dict_set(opts, "listen", "1", 0);
		av_dict_set(opts, "timeout", "-1", 0);
	}
	return copy_url(url, lavf_url, len, err, err_len);
}

static int prepare_udp(struct ob_input *in, const char *url, char *lavf_url, size_t len,
		       AVDictionary **opts, char *err, size_t err_len)
{
	(void)in;
	/* A burst the engine cannot take at once waits in a 4 MiB socket buffer and a
	 * FIFO; an overrun loses packets, not the channel. */
	av_dict_set(opts, "buffer_size", "4194304", 0);
	av_dict_set(opts, "fifo_size", "114688", 0); /* in 188-byte packets: 20 MiB */
	av_dict_set(opts, "overrun_nonfatal", "1", 0);
	av_dict_set(opts, "reuse", "1", 0);
	return copy_url(url, lavf_url, len, err, err_len);
}

static int prepare_rtsp(struct ob_input *in, const char *url, char *lavf_url, size_t len,
			AVDictionary **opts, char *err, size_t err_len)
{
	(void)in;
	/* Interleaved in the TCP connection: no firewall holes, no lost RTP packets. */
	if (!strstr(url, "rtsp_transport="))
		av_dict_set(opts, "rtsp_transport", "tcp", 0);
	return copy_url(url, lavf_url, len, err, err_len);
}

static int prepare_http(struct ob_input *in, const char *url, char *lavf_url, size_t len,
			AVDictionary **opts, char *err, size_t err_len)
{
	(void)in;
	av_dict_set(opts, "reconnect", "1", 0);
	av_dict_set(opts, "reconnect_streamed", "1", 0);
	av_dict_set(opts, "reconnect_delay_max", "4", 0);
	av_dict_set(opts, "user_agent", "ottbox", 0);
	return copy_url(url, lavf_url, len, err, err_len);
}

/* file:NAME[?loop=1] is DATA_DIR/media/NAME (the validator refused absolute paths and ".."). */
static int prepare_file(struct ob_input *in, const char *url, char *lavf_url, size_t len,
			AVDictionary **opts, char *err, size_t err_len)
{
	const char *name = url + strlen("file:");
	size_t name_len = strcspn(name, "?");
	const char *query = name[name_len] == '?' ? name + name_len + 1 : NULL;
	int n;

	(void)opts;
	in->loop = query && (ob_str_in_list((const char *const[]){ "loop=1", "loop=true", NULL },
					    query));
	n = snprintf(lavf_url, len, "file:%s/%.*s", in->opts->media_dir, (int)name_len, name);
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, err_len, "the file path is too long");
		return OB_EINVAL;
	}
	return 0;
}

static const struct input_kind kinds[] = {
	{ .scheme = "srt", .protocols = "srt", .formats = "mpegts", .prepare = prepare_srt },
	{ .scheme = "rtmp", .protocols = "rtmp,tcp", .formats = "flv", .prepare = prepare_rtmp },
	{ .scheme = "udp", .protocols = "udp", .formats = "mpegts", .prepare = prepare_udp },
	{ .scheme = "rtsp", .protocols = "rtsp,rtp,udp,tcp", .formats = "rtsp",
	  .prepare = prepare_rtsp },
	{ .scheme = "http", .protocols = "http,https,tcp,tls,crypto", .formats = CONTAINER_FORMATS,
	  .prepare = prepare_http },
	{ .scheme = "https", .protocols = "http,https,tcp,tls,crypto",
	  .formats = CONTAINER_FORMATS, .prepare = prepare_http },
	{ .scheme = "file", .protocols = "file", .formats = CONTAINER_FORMATS,
	  .prepare = prepare_file },
};

static const struct input_kind *find_kind(const char *url)
{
	size_t n = strcspn(url, ":");

	for (size_t i = 0; i < OB_ARRAY_SIZE(kinds); i++)
		if (strlen(kinds[i].scheme) == n && strncasecmp(url, kinds[i].scheme, n) == 0)
			return &kinds[i];
	return NULL;
}

static int open_decoder(struct ob_input *in, int index, AVCodecContext **dec, char *err,
			size_t err_len)
{
	AVStream *st = in->demux->streams[index];
	bool video = index == in->video_index;
	const struct ob_hw_backend *backend = video && in->opts->video_backend
						      ? in->opts->video_backend
						      : in->opts->backend;
	AVBufferRef *device = video ? in->opts->video_device : NULL;
	int ret = backend->open_decoder(st->codecpar, device, dec, err, err_len);

	/* A device that cannot decode the stream leaves it to the CPU. */
	if (ret != 0 && backend != in->opts->backend) {
		device = NULL;
		backend = in->opts->backend;
		ret = backend->open_decoder(st->codecpar, NULL, dec, err, err_len);
	}
	if (ret == 0 && video) {
		in->video_device = device ? device->data : NULL;
		in->video_backend = backend;
	}

	if (ret == 0)
		(*dec)->pkt_timebase = st->time_base;
	return ret;
}

static int open_demuxer(struct ob_input *in, char *err, size_t err_len)
{
	const struct input_kind *kind = find_kind(in->opts->url);
	char lavf_url[PATH_MAX + 64];
	char averr[AV_ERROR_MAX_STRING_SIZE];
	AVDictionary *opts = NULL;
	int rc;
	int ret;

	if (!kind) {
		snprintf(err, err_len, "%s is not an input the box takes", in->opts->url);
		return OB_EINVAL;
	}
	ret = kind->prepare(in, in->opts->url, lavf_url, sizeof(lavf_url), &opts, err, err_len);
	if (ret != 0)
		goto out;
	in->demux = avformat_alloc_context();
	if (!in->demux) {
		ret = OB_ENOMEM;
		goto out;
	}
	in->demux->interrupt_callback = (AVIOInterruptCB){ interrupt_cb, in };
	av_dict_set(&opts, "protocol_whitelist", kind->protocols, 0);
	av_dict_set(&opts, "format_whitelist", kind->formats, 0);
	av_dict_set(&opts, "analyzeduration", "3000000", 0);
	av_dict_set(&opts, "probesize", "5000000", 0);
	av_dict_set(&opts, "fflags", "+genpts+discardcorrupt", 0);
	in->deadline_ms = ob_time_mono_ms() + in->opts->open_timeout_ms;
	rc = avformat_open_input(&in->demux, lavf_url, NULL, &opts);
	if (rc < 0) {
		averror_text(rc, averr, sizeof(averr));
		if (atomic_load(in->opts->stop))
			ret = OB_EBUSY;
		else if (rc == AVERROR_EXIT)
			snprintf(err, err_len, "nothing arrived within %d s", in->opts->open_timeout_ms / 1000);
		else
			snprintf(err, err_len, "cannot open: %s", averr);
		ret = ret ? ret : rc == AVERROR_INVALIDDATA ? OB_EINVAL : OB_EIO;
		goto out;
	}
	rc = avformat_find_stream_info(in->demux, NULL);
	if (rc < 0) {
		averror_text(rc, averr, sizeof(averr));
		snprintf(err, err_len, "cannot read the streams: %s", averr);
		ret = atomic_load(in->opts->stop) ? OB_EBUSY : OB_EIO;
		goto out;
	}
	ob_strlcpy(in->info.format, in->demux->iformat->name, sizeof(in->info.format));
	in->video_index = av_find_best_stream(in->demux, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	in->audio_index = av_find_best_stream(in->demux, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
	if (in->video_index < 0) {
		snprintf(err, err_len, "it carries no video stream (%s with %u streams)",
			 in->info.format, in->demux->nb_streams);
		ret = OB_EINVAL;
		goto out;
	}
	for (unsigned i = 0; i < in->demux->nb_streams; i++)
		if ((int)i != in->video_index && (int)i != in->audio_index)
			in->demux->streams[i]->discard = AVDISCARD_ALL;
	ret = open_decoder(in, in->video_index, &in->video_dec, err, err_len);
	if (ret != 0)
		goto out;
	/* Passthrough keeps AAC as it is (it goes into CMAF unchanged); anything else is
	 * decoded and encoded to AAC, which every player takes. */
	in->info.audio_packets = in->audio_index >= 0 && in->opts->audio_passthrough &&
				 in->demux->streams[in->audio_index]->codecpar->codec_id ==
					 AV_CODEC_ID_AAC &&
				 in->demux->streams[in->audio_index]->codecpar->extradata_size > 0;
	if (in->audio_index >= 0 && !in->info.audio_packets &&
	    open_decoder(in, in->audio_index, &in->audio_dec, averr, sizeof(averr)) != 0)
		in->audio_index = -1; /* play the video without sound rather than not at all */
	{
		AVStream *vs = in->demux->streams[in->video_index];
		AVRational rate = av_guess_frame_rate(in->demux, vs, NULL);

		in->info.has_video = true;
		ob_strlcpy(in->info.video_codec, avcodec_get_name(vs->codecpar->codec_id),
			   sizeof(in->info.video_codec));
		in->info.width = vs->codecpar->width;
		in->info.height = vs->codecpar->height;
		in->info.pix_fmt = in->video_dec->pix_fmt;
		in->info.sample_aspect = vs->codecpar->sample_aspect_ratio;
		in->info.frame_rate = rate.num > 0 && rate.den > 0 && av_q2d(rate) <= 240
					      ? rate
					      : (AVRational){ 25, 1 };
	}
	if (in->audio_index >= 0) {
		AVStream *as = in->demux->streams[in->audio_index];

		in->info.has_audio = true;
		ob_strlcpy(in->info.audio_codec, avcodec_get_name(as->codecpar->codec_id),
			   sizeof(in->info.audio_codec));
		in->info.sample_rate = as->codecpar->sample_rate;
		in->info.channels = as->codecpar->ch_layout.nb_channels;
	}
	if (in->info.width <= 0 || in->info.height <= 0) {
		snprintf(err, err_len, "the video stream (%s) has no picture size",
			 in->info.video_codec);
		ret = OB_EINVAL;
		goto out;
	}
	in->packet = av_packet_alloc();
	if (!in->packet)
		ret = OB_ENOMEM;
	atomic_store(&in->last_packet_ms, ob_time_mono_ms());
out:
	av_dict_free(&opts);
	return ret;
}

/* test://pattern?size=WxH&rate=N&type=bars|moving: colour bars or a moving pattern, with a
 * 1 kHz tone, made by libavfilter. */
static int open_pattern(struct ob_input *in, char *err, size_t err_len)
{
	const char *query = strchr(in->opts->url, '?');
	int width = 1280;
	int height = 720;
	int rate = 30;
	bool bars = false;
	char desc[512];
	AVFilterInOut *outputs = NULL;
	int rc;

	if (query) {
		const char *v = strstr(query, "size=");

		if (v)
			sscanf(v + 5, "%dx%d", &width, &height);
		v = strstr(query, "rate=");
		if (v)
			sscanf(v + 5, "%d", &rate);
		bars = strstr(query, "type=bars") != NULL;
	}
	snprintf(desc, sizeof(desc),
		 "%s=size=%dx%d:rate=%d,format=yuv420p[v];"
		 "sine=frequency=1000:sample_rate=48000:beep_factor=2,"
		 "aformat=sample_fmts=fltp:channel_layouts=stereo[a]",
		 bars ? "smptehdbars" : "testsrc2", width, height, rate);
	in->graph = avfilter_graph_alloc();
	if (!in->graph)
		return OB_ENOMEM;
	in->graph->nb_threads = 1;
	rc = avfilter_graph_parse_ptr(in->graph, desc, NULL, &outputs, NULL);
	if (rc >= 0) {
		for (AVFilterInOut *o = outputs; o && rc >= 0; o = o->next) {
			bool video = strcmp(o->name, "v") == 0;
			AVFilterContext **sink = video ? &in->video_sink : &in->audio_sink;

			rc = avfilter_graph_create_filter(sink,
							  avfilter_get_by_name(video ? "buffersink"
										     : "abuffersink"),
							  o->name, NULL, NULL, in->graph);
			if (rc >= 0)
				rc = avfilter_link(o->filter_ctx, (unsigned)o->pad_idx, *sink, 0);
		}
	}
	avfilter_inout_free(&outputs);
	if (rc >= 0)
		rc = avfilter_graph_config(in->graph, NULL);
	if (rc < 0 || !in->video_sink || !in->audio_sink) {
		char averr[AV_ERROR_MAX_STRING_SIZE];

		averror_text(rc, averr, sizeof(averr));
		snprintf(err, err_len, "the test pattern did not start: %s", averr);
		return OB_EIO;
	}
	in->generator = true;
	ob_strlcpy(in->info.format, "pattern", sizeof(in->info.format));
	ob_strlcpy(in->info.video_codec, "rawvideo", sizeof(in->info.video_codec));
	ob_strlcpy(in->info.audio_codec, "pcm", sizeof(in->info.audio_codec));
	in->info.has_video = true;
	in->info.has_audio = true;
	in->info.width = width;
	in->info.height = height;
	in->info.frame_rate = (AVRational){ rate, 1 };
	in->info.sample_aspect = (AVRational){ 1, 1 };
	in->info.pix_fmt = AV_PIX_FMT_YUV420P;
	in->info.sample_rate = 48000;
	in->info.channels = 2;
	atomic_store(&in->last_packet_ms, ob_time_mono_ms());
	return 0;
}

int ob_input_open(const struct ob_input_options *opts, struct ob_input **out, char *err,
		  size_t err_len)
{
	struct ob_input *in = calloc(1, sizeof(*in));
	int ret;

	*out = NULL;
	if (!in)
		return OB_ENOMEM;
	in->opts = opts;
	in->video_index = -1;
	in->audio_index = -1;
	in->pace_origin_us = AV_NOPTS_VALUE;
	in->last_pts_us[0] = in->last_pts_us[1] = AV_NOPTS_VALUE;
	err[0] = '\0';
	if (strncmp(opts->url, "test://", 7) == 0)
		ret = open_pattern(in, err, err_len);
	else
		ret = open_demuxer(in, err, err_len);
	if (ret != 0) {
		if (!err[0])
			snprintf(err, err_len, "%s", ob_strerror(ret));
		ob_input_close(&in);
		return ret;
	}
	*out = in;
	return 0;
}

const struct ob_input_info *ob_input_info(const struct ob_input *in)
{
	return &in->info;
}

const AVCodecParameters *ob_input_audio_parameters(const struct ob_input *in)
{
	if (!in->demux || in->audio_index < 0)
		return NULL;
	return in->demux->streams[in->audio_index]->codecpar;
}

void ob_input_counters(const struct ob_input *in, int64_t *bytes, int64_t *last_packet_ms)
{
	*bytes = atomic_load(&in->bytes);
	*last_packet_ms = atomic_load(&in->last_packet_ms);
}

void ob_input_set_options(struct ob_input *in, const struct ob_input_options *opts)
{
	in->opts = opts;
}

void ob_input_close(struct ob_input **inp)
{
	struct ob_input *in = *inp;

	if (!in)
		return;
	avcodec_free_context(&in->video_dec);
	avcodec_free_context(&in->audio_dec);
	avformat_close_input(&in->demux);
	av_packet_free(&in->packet);
	av_frame_free(&in->pending[0]);
	av_frame_free(&in->pending[1]);
	avfilter_graph_free(&in->graph);
	free(in);
	*inp = NULL;
}

/* Waits until the wall clock reaches the frame's time, for inputs that would otherwise
 * run as fast as the machine allows. */
static int pace(struct ob_input *in, int64_t pts_us)
{
	int64_t now = mono_us();
	int64_t due;

	if (!in->opts->realtime)
		return 0;
	if (in->pace_origin_us == AV_NOPTS_VALUE || pts_us < in->pace_origin_us ||
	    pts_us - in->pace_origin_us > (now - in->pace_wall_us) + 5000000) {
		in->pace_origin_us = pts_us;
		in->pace_wall_us = now;
		return 0;
	}
	due = in->pace_wall_us + (pts_us - in->pace_origin_us);
	while (now < due) {
		int64_t wait = due - now > 20000 ? 20000 : due - now;
		struct timespec ts = { 0, (long)wait * 1000 };

		if (atomic_load(in->opts->stop))
			return OB_EBUSY;
		nanosleep(&ts, NULL);
		now = mono_us();
	}
	return 0;
}

static int read_pattern(struct ob_input *in, AVFrame *frame, bool *video)
{
	int pick;

	for (int i = 0; i < 2; i++) {
		AVFilterContext *sink = i == 0 ? in->video_sink : in->audio_sink;

		if (in->pending[i])
			continue;
		in->pending[i] = av_frame_alloc();
		if (!in->pending[i])
			return OB_ENOMEM;
		if (av_buffersink_get_frame(sink, in->pending[i]) < 0) {
			av_frame_free(&in->pending[i]);
			return OB_EIO;
		}
		in->pending[i]->pts = av_rescale_q(in->pending[i]->pts,
						   av_buffersink_get_time_base(sink),
						   AV_TIME_BASE_Q);
	}
	pick = in->pending[1]->pts < in->pending[0]->pts;
	av_frame_move_ref(frame, in->pending[pick]);
	av_frame_free(&in->pending[pick]);
	*video = pick == 0;
	atomic_store(&in->last_packet_ms, ob_time_mono_ms());
	atomic_fetch_add(&in->bytes, (int64_t)(*video ? in->info.width * in->info.height * 3 / 2
						      : frame->nb_samples * 8));
	return pace(in, frame->pts);
}

/* A decoded frame's time in microseconds, extrapolated when the stream gave none. */
static void stamp(struct ob_input *in, AVFrame *frame, bool video)
{
	AVCodecContext *dec = video ? in->video_dec : in->audio_dec;
	int64_t ts = frame->best_effort_timestamp;
	int64_t *last = &in->last_pts_us[video ? 0 : 1];

	if (ts != AV_NOPTS_VALUE) {
		frame->pts = av_rescale_q(ts, dec->pkt_timebase, AV_TIME_BASE_Q) + in->loop_offset_us;
	} else if (*last != AV_NOPTS_VALUE) {
		frame->pts = *last + (video ? av_rescale_q(1, av_inv_q(in->info.frame_rate),
							   AV_TIME_BASE_Q)
					    : av_rescale(frame->nb_samples, 1000000,
							 frame->sample_rate > 0 ? frame->sample_rate
										: 48000));
	} else {
		frame->pts = 0;
	}
	*last = frame->pts;
	if (frame->pts > in->loop_span_us)
		in->loop_span_us = frame->pts;
}

/* Starts a file again from the top, its timestamps continuing after the last ones. */
static int rewind_file(struct ob_input *in)
{
	int64_t step = av_rescale_q(1, av_inv_q(in->info.frame_rate), AV_TIME_BASE_Q);
	int64_t first = in->demux->start_time != AV_NOPTS_VALUE ? in->demux->start_time : 0;

	if (avformat_seek_file(in->demux, -1, INT64_MIN, first, first, 0) < 0)
		return OB_EIO;
	avcodec_flush_buffers(in->video_dec);
	if (in->audio_dec)
		avcodec_flush_buffers(in->audio_dec);
	in->loop_offset_us = in->loop_span_us + step - first;
	in->draining = false;
	return 0;
}

/* Hands an audio packet out as it is, its times in microseconds. 2, or OB_EBUSY. */
static int pass_packet(struct ob_input *in, AVPacket *out)
{
	AVRational tb = in->demux->streams[in->audio_index]->time_base;
	int64_t *last = &in->last_pts_us[1];

	av_packet_move_ref(out, in->packet);
	if (out->pts == AV_NOPTS_VALUE)
		out->pts = out->dts;
	if (out->pts == AV_NOPTS_VALUE) {
		out->pts = *last != AV_NOPTS_VALUE ? *last + 21333 : 0;
	} else {
		out->pts = av_rescale_q(out->pts, tb, AV_TIME_BASE_Q) + in->loop_offset_us;
	}
	out->dts = out->pts;
	out->duration = out->duration > 0 ? av_rescale_q(out->duration, tb, AV_TIME_BASE_Q)
					   : av_rescale(1024, 1000000, in->info.sample_rate > 0
									  ? in->info.sample_rate
									  : 48000);
	*last = out->pts;
	if (out->pts > in->loop_span_us)
		in->loop_span_us = out->pts;
	return pace(in, out->pts) == 0 ? 2 : OB_EBUSY;
}

/* Counts an error of a backend's video decoder (not the CPU's: a damaged stream makes those,
 * and the decoder recovers at the next keyframe). True once it has failed this many times
 * in a row without a frame: the device is gone or hung, and the reason is in err. */
static bool video_decode_error(struct ob_input *in, int rc, char *err, size_t err_len)
{
	char averr[AV_ERROR_MAX_STRING_SIZE];

	if (rc >= 0 || rc == AVERROR(EAGAIN) || rc == AVERROR_EOF ||
	    in->video_backend == in->opts->backend)
		return false;
	if (++in->video_errors < DECODER_ERRORS_MAX)
		return false;
	averror_text(rc, averr, sizeof(averr));
	snprintf(err, err_len, "the %s video decoder failed %d times in a row: %s",
		 in->video_backend->name, in->video_errors, averr);
	in->decoder_failed = true;
	return true;
}

static int read_demuxer(struct ob_input *in, AVFrame *frame, AVPacket *packet, bool *video,
			char *err, size_t err_len)
{
	char averr[AV_ERROR_MAX_STRING_SIZE];
	int rc;

	for (;;) {
		/* Whatever the decoders have ready goes first, video before audio. */
		for (int i = 0; i < 2; i++) {
			AVCodecContext *dec = i == 0 ? in->video_dec : in->audio_dec;

			if (!dec)
				continue;
			rc = avcodec_receive_frame(dec, frame);
			if (rc == 0) {
				*video = i == 0;
				if (*video)
					in->video_errors = 0;
				stamp(in, frame, *video);
				return pace(in, frame->pts);
			}
			if (i == 0 && video_decode_error(in, rc, err, err_len))
				return OB_EIO;
		}
		if (in->draining) {
			if (in->loop && rewind_file(in) == 0)
				continue;
			return 1;
		}
		in->deadline_ms = ob_time_mono_ms() + in->opts->silence_timeout_ms;
		rc = av_read_frame(in->demux, in->packet);
		if (rc == AVERROR_EOF) {
			if (strncmp(in->opts->url, "file:", 5) != 0) {
				/* A live source that ends the stream has gone away. */
				snprintf(err, err_len, "the source ended the stream");
				return OB_EIO;
			}
			in->draining = true;
			avcodec_send_packet(in->video_dec, NULL);
			if (in->audio_dec)
				avcodec_send_packet(in->audio_dec, NULL);
			continue;
		}
		if (rc < 0) {
			if (atomic_load(in->opts->stop))
				return OB_EBUSY;
			if (rc == AVERROR_EXIT)
				snprintf(err, err_len, "no data for %d s",
					 in->opts->silence_timeout_ms / 1000);
			else {
				averror_text(rc, averr, sizeof(averr));
				snprintf(err, err_len, "read failed: %s", averr);
			}
			return OB_EIO;
		}
		atomic_fetch_add(&in->bytes, (int64_t)in->packet->size);
		atomic_store(&in->last_packet_ms, ob_time_mono_ms());
		if (in->packet->stream_index == in->audio_index && in->info.audio_packets) {
			*video = false;
			return pass_packet(in, packet);
		}
		if (in->packet->stream_index == in->video_index && in->wait_key &&
		    !(in->packet->flags & AV_PKT_FLAG_KEY))
			rc = 0;
		else if (in->packet->stream_index == in->video_index) {
			in->wait_key = false;
			rc = avcodec_send_packet(in->video_dec, in->packet);
			if (video_decode_error(in, rc, err, err_len)) {
				av_packet_unref(in->packet);
				return OB_EIO;
			}
		}
		else if (in->packet->stream_index == in->audio_index)
			rc = avcodec_send_packet(in->audio_dec, in->packet);
		/* A damaged packet is dropped; the decoder recovers at the next keyframe. */
		(void)rc;
		av_packet_unref(in->packet);
	}
}

int ob_input_set_video_decoder(struct ob_input *in, const struct ob_hw_backend *backend,
			       AVBufferRef *device, char *err, size_t err_len)
{
	AVStream *st;
	AVCodecContext *dec = NULL;
	int ret;

	/* The test pattern's frames are made in system memory: there is no decoder. */
	if (in->generator)
		return 0;
	st = in->demux->streams[in->video_index];
	ret = backend->open_decoder(st->codecpar, device, &dec, err, err_len);
	if (ret != 0)
		return ret;
	dec->pkt_timebase = st->time_base;
	avcodec_free_context(&in->video_dec);
	in->video_dec = dec;
	in->video_device = device ? device->data : NULL;
	in->video_backend = backend;
	in->video_errors = 0;
	in->decoder_failed = false;
	in->wait_key = true;
	return 0;
}

bool ob_input_decodes_on(const struct ob_input *in, const struct ob_hw_backend *backend,
			 const AVBufferRef *device)
{
	return in->generator || (in->video_backend == backend &&
				 in->video_device == (device ? device->data : NULL));
}

bool ob_input_decoder_failed(const struct ob_input *in)
{
	return in->decoder_failed;
}

int ob_input_read(struct ob_input *in, AVFrame *frame, AVPacket *packet, bool *video, char *err,
		  size_t err_len)
{
	av_frame_unref(frame);
	av_packet_unref(packet);
	if (atomic_load(in->opts->stop))
		return OB_EBUSY;
	if (in->generator)
		return read_pattern(in, frame, video);
	return read_demuxer(in, frame, packet, video, err, err_len);
}
