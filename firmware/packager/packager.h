/* The packager: one timeline of segments per track (shared segment numbers, so segment N
 * covers the same media time in every rendition), the HLS playlists and the DASH manifest
 * written from it, publishing files by rename so readers never see a partial one, the
 * segment writers (CMAF and MPEG-TS, in memory) and a channel's output directory with its
 * live and DVR windows. */
#ifndef OB_PACKAGER_PACKAGER_H
#define OB_PACKAGER_PACKAGER_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

/* One media segment of one track. */
struct ob_pkg_segment {
	uint64_t number;   /* shared by every track of the channel */
	int64_t start;     /* presentation time of its first sample, in the track's timescale */
	int64_t duration;  /* in the track's timescale; > 0 */
	int64_t wall_ms;   /* wall-clock time of its start, for PROGRAM-DATE-TIME */
	uint32_t epoch;    /* discontinuity sequence: +1 after each input loss or failover */
	int64_t epoch_start; /* start of its epoch's first segment (the DASH period's origin) */
	uint64_t init_id;    /* its epoch's init segment is init-<init_id>.mp4: unique across
			      * runs of a channel, so caches never mix two runs' inits */
};

/* A track's segments on disk, oldest first, in a ring of fixed capacity. */
struct ob_pkg_timeline {
	uint32_t timescale;              /* ticks per second */
	size_t capacity;
	size_t count;
	size_t head;                     /* ring index of the oldest segment */
	struct ob_pkg_segment *segments; /* owned */
};

/* Prepares an empty timeline for up to capacity segments. 0, OB_EINVAL or OB_ENOMEM. */
int ob_pkg_timeline_init(struct ob_pkg_timeline *tl, uint32_t timescale, size_t capacity);

/* Frees the timeline's memory. */
void ob_pkg_timeline_free(struct ob_pkg_timeline *tl);

/* Appends a segment. It must be numbered one after the newest, start no earlier than the
 * newest ends (timestamps never go back, across discontinuities too), have a positive
 * duration, an epoch no smaller than the newest's, and an epoch_start no later than its
 * start and equal to the newest's within one epoch; else OB_EINVAL and nothing changes.
 * When the ring is full the oldest segment is dropped and copied to *dropped (when not
 * NULL), and 1 is returned; 0 otherwise. */
int ob_pkg_timeline_add(struct ob_pkg_timeline *tl, const struct ob_pkg_segment *seg,
			struct ob_pkg_segment *dropped);

/* The i-th segment from the oldest (i < count). */
const struct ob_pkg_segment *ob_pkg_timeline_at(const struct ob_pkg_timeline *tl, size_t i);

/* Seconds of a duration in the timeline's timescale. */
double ob_pkg_timeline_seconds(const struct ob_pkg_timeline *tl, int64_t ticks);

/* The index of the oldest segment of the newest window: at most max_segments segments (0:
 * no limit) and at most max_seconds of media (0: no limit), always at least one segment
 * when the timeline has any. */
size_t ob_pkg_timeline_window(const struct ob_pkg_timeline *tl, size_t max_segments,
			      double max_seconds);

/* Removes the oldest segments until what is left spans at most keep_seconds, writing the
 * removed segments' numbers to removed (room for max_removed) so their files can be
 * deleted. Returns how many were removed. */
size_t ob_pkg_timeline_trim(struct ob_pkg_timeline *tl, double keep_seconds, uint64_t *removed,
			    size_t max_removed);

/* ---- HLS ---- */

/* One video rendition of the multivariant playlist. */
struct ob_pkg_variant {
	const char *uri;               /* its media playlist, relative: "v0.m3u8" */
	int width;
	int height;
	long peak_bps;                 /* video peak bitrate */
	long average_bps;              /* video average bitrate */
	const char *codecs;            /* RFC 6381: "avc1.640028" */
	double frame_rate;
};

/* The audio rendition shared by every variant. */
struct ob_pkg_audio {
	const char *uri;               /* "audio.m3u8" */
	const char *codecs;            /* "mp4a.40.2" */
	long bps;
	int channels;
	const char *language;          /* BCP 47, or NULL */
};

/* Writes the multivariant playlist: every variant with BANDWIDTH and AVERAGE-BANDWIDTH
 * (audio included), RESOLUTION, CODECS, FRAME-RATE, and the audio group when audio is not
 * NULL. OB_EINVAL when a variant lacks what a player needs. */
int ob_pkg_hls_multivariant(struct ob_strbuf *out, const struct ob_pkg_variant *variants,
			    size_t n_variants, const struct ob_pkg_audio *audio);

/* What a media playlist lists. */
struct ob_pkg_media_playlist {
	const struct ob_pkg_timeline *timeline;
	size_t first;            /* index of the first segment listed */
	const char *dir;         /* segments at DIR/<number>.<ext>, init at DIR/init-<init_id>.mp4 */
	bool fmp4;               /* CMAF segments (.m4s, EXT-X-MAP) or MPEG-TS (.ts) */
	int target_duration_s;   /* the channel's segment duration; raised if one is longer */
	bool ended;              /* the stream is over: EXT-X-ENDLIST */
};

/* Writes a media playlist: TARGETDURATION, MEDIA-SEQUENCE, DISCONTINUITY-SEQUENCE, the
 * init segment (again after each discontinuity), PROGRAM-DATE-TIME at the start and after
 * each discontinuity, and EXTINF with millisecond precision. OB_EINVAL on an empty list. */
int ob_pkg_hls_media(struct ob_strbuf *out, const struct ob_pkg_media_playlist *playlist);

/* ---- DASH ---- */

/* One representation of an adaptation set. */
struct ob_pkg_dash_rep {
	const char *id;         /* also its directory: "v0", "a0" */
	long bandwidth_bps;     /* peak */
	const char *codecs;     /* RFC 6381 */
	int width;              /* video */
	int height;
	double frame_rate;
	int sample_rate;        /* audio */
	int channels;
};

/* One adaptation set: the renditions of one track kind, sharing one timeline. */
struct ob_pkg_dash_set {
	bool video;
	const struct ob_pkg_timeline *timeline;
	size_t first;           /* index of the first segment listed */
	const struct ob_pkg_dash_rep *reps;
	size_t n_reps;
	const char *language;   /* audio, or NULL */
};

/* A dynamic (live) MPD. */
struct ob_pkg_mpd {
	int64_t availability_start_ms; /* wall clock of media time 0 */
	int64_t publish_ms;            /* when this version is written */
	int segment_seconds;           /* the channel's segment duration */
	double time_shift_seconds;     /* how far back players may seek (the listed window) */
	const struct ob_pkg_dash_set *sets;
	size_t n_sets;                 /* the first set's timeline defines the periods */
	bool ended;                    /* the stream is over: a static MPD */
};

/* Writes the MPD: one Period per epoch (a discontinuity opens a new one, with its own init
 * segment), a SegmentTemplate with a run-length SegmentTimeline per adaptation set, and
 * the live attributes (availabilityStartTime, publishTime, minimumUpdatePeriod,
 * timeShiftBufferDepth, suggestedPresentationDelay). OB_EINVAL when a set lists nothing. */
int ob_pkg_dash_mpd(struct ob_strbuf *out, const struct ob_pkg_mpd *mpd);

/* ---- publishing ---- */

/* Writes DIR/NAME by writing DIR/.NAME.tmp and renaming it: a reader sees the old file or
 * the new one, never a part. Not fsynced: after a power cut the newest file may be missing,
 * never half there. 0 or OB_EIO. */
int ob_pkg_publish(const char *dir, const char *name, const void *data, size_t len);

/* ---- segment writers: one encoded stream in, segments out, in memory ---- */

struct ob_pkg_cmaf;

/* Opens a writer for a stream with codec parameters par (extradata included) and packets
 * in time_base. On success *init gets the init segment (ftyp + moov), which the caller
 * frees with free(). 0, OB_ENOMEM or OB_EIO with a message in err. */
int ob_pkg_cmaf_open(const AVCodecParameters *par, AVRational time_base, struct ob_pkg_cmaf **out,
		     uint8_t **init, size_t *init_len, char *err, size_t err_len);

/* Adds a packet (borrowed) to the segment being built; its pts, dts and duration must be
 * set, dts increasing. 0, OB_EINVAL, OB_ENOMEM or OB_EIO. */
int ob_pkg_cmaf_write(struct ob_pkg_cmaf *w, AVPacket *pkt);

/* Ends the segment being built: *seg gets its bytes (moof + mdat), which the caller frees
 * with free(). OB_EINVAL when no packet was written since the last cut. */
int ob_pkg_cmaf_cut(struct ob_pkg_cmaf *w, uint8_t **seg, size_t *len);

/* Frees the writer and sets *w to NULL; a segment not cut is dropped. */
void ob_pkg_cmaf_close(struct ob_pkg_cmaf **w);

struct ob_pkg_ts;

/* Opens an MPEG-TS segment writer for a stream (par is copied) with packets in time_base.
 * 0 or OB_ENOMEM. */
int ob_pkg_ts_open(const AVCodecParameters *par, AVRational time_base, struct ob_pkg_ts **out);

/* Adds a packet (borrowed) to the segment being built, starting one when none is. H.264
 * keyframes get their parameter sets in band and AAC its ADTS headers. 0 or OB_E*. */
int ob_pkg_ts_write(struct ob_pkg_ts *w, const AVPacket *pkt);

/* Ends the segment being built: *seg gets its bytes, which the caller frees with free().
 * OB_EINVAL when nothing was written since the last cut. */
int ob_pkg_ts_cut(struct ob_pkg_ts *w, uint8_t **seg, size_t *len);

/* Frees the writer and sets *w to NULL. */
void ob_pkg_ts_close(struct ob_pkg_ts **w);

/* The RFC 6381 codecs string for a stream ("avc1.64001F", "mp4a.40.2") into out.
 * OB_EINVAL when the extradata lacks what it needs, OB_EUNSUPPORTED for other codecs. */
int ob_pkg_codec_string(const AVCodecParameters *par, char *out, size_t len);

/* ---- output: a channel's files on disk ---- */

#define OB_PKG_TRACK_NAME_MAX 8
#define OB_PKG_TRACKS_MAX 9       /* rungs and the audio */

/* One output track (a video rung or the audio), as the manifests describe it. */
struct ob_pkg_output_track {
	char name[OB_PKG_TRACK_NAME_MAX]; /* "v0".."v7", "a0": its playlist and directory */
	bool video;
	uint32_t timescale;
	int width;
	int height;
	double frame_rate;
	long average_bps;             /* the target */
	long peak_bps;                /* the VBV maximum (audio: the target) */
	int sample_rate;
	int channels;
	char codecs[48];              /* RFC 6381 */
};

/* How a run writes its files. */
struct ob_pkg_output_config {
	const char *dir;              /* DATA_DIR/live/<channel>, or transcode's --out */
	int segment_seconds;
	int live_window_segments;     /* segments in a live playlist */
	int dvr_window_seconds;       /* when > 0, playlists list this much instead */
	bool vod;                     /* one pass over a file: keep every segment */
	bool ts;                      /* MPEG-TS HLS too: NAME-ts.m3u8, master-ts.m3u8 */
	int64_t availability_start_ms; /* wall clock of media time 0 */
};

struct ob_pkg_output;

/* Empties (or makes) the directory and prepares the timelines for tracks (copied).
 * 0, OB_EIO or OB_ENOMEM with a message. */
int ob_pkg_output_open(const struct ob_pkg_output_config *config, const struct ob_pkg_output_track *tracks,
		   size_t n_tracks, struct ob_pkg_output **out, char *err, size_t err_len);

/* Updates a track's codecs string (known once its encoder is open). */
void ob_pkg_output_set_codecs(struct ob_pkg_output *o, size_t track, const char *codecs);

/* Publishes a track's init segment for an epoch: TRACK/init-INIT_ID.mp4, init_id being
 * unique across the channel's runs (the segments of the epoch carry it). 0 or OB_EIO. */
int ob_pkg_output_init_segment(struct ob_pkg_output *o, size_t track, uint64_t init_id,
			   const void *data, size_t len);

/* Publishes a track's next media segment, CMAF (data) and, with ts, the same media as
 * MPEG-TS (ts_data, or NULL); its number is assigned here: consecutive per track, the
 * first from its start time. Rewrites the playlists it changes; older segments leave the
 * window and the disk. Thread-safe. 0, OB_EINVAL (out of order) or OB_EIO. */
int ob_pkg_output_segment(struct ob_pkg_output *o, size_t track, struct ob_pkg_segment *seg,
		      const void *data, size_t len, const void *ts_data, size_t ts_len);

/* True once every track has a segment, so the master playlist and the MPD exist. */
bool ob_pkg_output_ready(struct ob_pkg_output *o);

/* Writes the final playlists (EXT-X-ENDLIST, a static MPD). */
int ob_pkg_output_finish(struct ob_pkg_output *o);

/* Frees the output (files stay) and sets *o to NULL. */
void ob_pkg_output_close(struct ob_pkg_output **o);

#endif
