/* What the backends share (hw.c implements it): parameter checks, the x264 preset scale each
 * backend maps to its own, the system-memory scale chain, decoders on a device, and the
 * pieces of a capacity answer. The engine includes hw.h, never this. */
#ifndef OB_HW_BACKEND_H
#define OB_HW_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>
#include <libavutil/hwcontext.h>

#include "hw.h"

/* The capacity model of one media engine of a GPU (an Intel VDBox, an AMD VCN instance):
 * 1080p H.264/HEVC, 8-bit 4:2:0, at 180 frames/s encoded and 360 decoded. Conservative
 * figures, not measurements; docs/hardware.md, "Capacity", says where they come from. */
#define OB_HW_MEDIA_ENGINE_ENCODE_RATE (1920.0 * 1080.0 * 180.0)
#define OB_HW_MEDIA_ENGINE_DECODE_RATE (1920.0 * 1080.0 * 360.0)

/* x264's presets, fastest first; a backend maps a rung's preset through a table of this
 * many values in this order (ultrafast, superfast, veryfast, faster, fast, medium, slow,
 * slower, veryslow, placebo). */
#define OB_HW_PRESETS 10

/* The position of preset in x264's scale: medium's for NULL or "", -1 for a name x264
 * does not have. */
int ob_hw_preset_index(const char *preset);

/* True when the rung asks for 10-bit output (profile "main10"). */
bool ob_hw_is_main10(const struct ob_hw_encode_params *params);

/* Checks what every encoder needs (a codec, a size of at least 16x16, a target bitrate, a
 * GOP, frame rate and time base above zero): 0, or OB_EINVAL with "prefix: ..." in err. */
int ob_hw_check_params(const char *prefix, const struct ob_hw_encode_params *params, char *err,
		       size_t err_len);

/* Constant bitrate when the rung's maximum rate equals its target, else variable (with the
 * maximum as peak, or none when 0): 0 with *cbr, or OB_EINVAL with "prefix: ..." in err
 * for a maximum below the target, which no hardware rate control takes. */
int ob_hw_rate_mode(const char *prefix, const struct ob_hw_encode_params *params, bool *cbr,
		    char *err, size_t err_len);

/* Empties *setup: no options, max_b_frames -1, profile FF_PROFILE_UNKNOWN, all else 0. */
void ob_hw_setup_clear(struct ob_hw_encoder_setup *setup);

/* Rate control, GOP, flags and threads as every backend sets them on the context: bit_rate,
 * rc_max_rate and rc_buffer_size from the rung, gop_size = keyint_min = gop_frames,
 * closed GOPs with headers out of band, thread_count from the rung. */
void ob_hw_setup_common(const struct ob_hw_encode_params *params,
			struct ob_hw_encoder_setup *setup);

/* Adds key=value to setup's private options (an integer value with _int). 0 or OB_ENOMEM. */
int ob_hw_setup_option(struct ob_hw_encoder_setup *setup, const char *key, const char *value);
int ob_hw_setup_option_int(struct ob_hw_encoder_setup *setup, const char *key, int64_t value);

/* Writes the chain that scales system-memory frames on the CPU for a software encoder:
 * "scale=w=W:h=H:flags=bicubic,format=yuv420p" (yuv420p10le for main10). 0 or
 * OB_ETOOBIG. */
int ob_hw_system_chain(const struct ob_hw_encode_params *params, char *out, size_t out_len);

/* Writes a hardware backend's chain for a rung (see scale_filter in hw.h): scaler (a filter
 * taking w=, h= and format=, e.g. "scale_vaapi") on the device, reached by upload (e.g.
 * "hwupload") from system memory, left by "hwdownload" for a CPU encoder, and the system
 * chain when neither side is on the device. Surfaces are nv12 (p010 for main10). 0 or
 * OB_ETOOBIG. */
int ob_hw_device_chain(const struct ob_hw_encode_params *params, bool in_device, bool out_device,
		       const char *scaler, const char *upload, char *out, size_t out_len);

/* snprintf into out: 0, or OB_ETOOBIG when it does not fit. */
int ob_hw_format_chain(char *out, size_t out_len, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Opens a decoder for par: codec (NULL: libavcodec's decoder for the codec id). With device
 * (borrowed) and a video codec that lists the device's type among its hardware configs
 * (AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX), the decoder gets its own reference to the
 * device, a get_format that picks the device's pixel format when offered (else a software
 * one: frames in system memory) and room for extra frames that the scale chains hold.
 * Without, it decodes in system memory, with frame and slice threads. Frames larger than
 * 4096x2304 are refused. 0, OB_EUNSUPPORTED when libavcodec has no decoder, OB_ENOMEM, or
 * OB_EIO with "prefix: ..." in err. */
int ob_hw_open_decoder(const char *prefix, const AVCodecParameters *par, const AVCodec *codec,
		       AVBufferRef *device, AVCodecContext **out, char *err, size_t err_len);

/* Creates a libavutil hardware device of type on device (a path, an ordinal) in *out:
 * 0, or OB_EIO with "prefix: could not open <what> <device>: <libavutil's reason>". */
int ob_hw_create_device(const char *prefix, enum AVHWDeviceType type, const char *device,
			AVBufferRef **out, char *err, size_t err_len);

/* Probes backend and finds the device id among its capacity() answer (NULL or "": the
 * first one) into *caps: 0, or OB_EUNSUPPORTED with "name: <the probe's reason>" (no
 * usable device) or "name: no usable device <id> (...)" in err; OB_ENOMEM. */
int ob_hw_find_device(const struct ob_hw_backend *backend, const char *id,
		      struct ob_hw_device_caps *caps, char *err, size_t err_len);

/* The string s is an element of the JSON array list. */
bool ob_hw_json_lists(const json_t *list, const char *s);

/* An integer field of a report's object when it lies in [min, max], else fallback. */
int ob_hw_json_int(const json_t *object, const char *key, int min, int max, int fallback);

/* Appends codec to caps' encode_codecs (once; silently full at four). */
void ob_hw_caps_add_codec(struct ob_hw_device_caps *caps, const char *codec);

#endif
