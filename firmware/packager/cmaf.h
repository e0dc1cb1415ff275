/* Segment writers for one encoded stream, in memory (the caller publishes what they make):
 * CMAF (an init segment, then one fragmented-MP4 segment per cut) and MPEG-TS (one
 * self-contained segment per cut). Built on libavformat's MP4 and MPEG-TS muxers. */
#ifndef OB_PACKAGER_CMAF_H
#define OB_PACKAGER_CMAF_H

#include <libavcodec/avcodec.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
