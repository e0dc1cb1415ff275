/* Admission: where a channel's ladder runs. Each device a backend reports (capacity()) is
 * a slot with sessions and pixel rates; a channel asks for a place with its demand and the
 * operator's preference, and holds a lease on what it takes until it stops. The choice
 * itself (ob_hw_place) is a pure function of the slots, so the tests drive it with
 * descriptors of devices that exist in the field. */
#ifndef OB_HW_PLACE_H
#define OB_HW_PLACE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "hw.h"

/* What a channel's ladder needs. */
struct ob_hw_demand {
	const char *codec;        /* of its rungs: "h264" or "hevc" */
	int sessions;             /* encode sessions: one per video rung */
	double encode_pixel_rate; /* width x height x fps summed over the rungs */
	double decode_pixel_rate; /* the input's width x height x fps */
};

/* One device and what is placed on it already. */
struct ob_hw_slot {
	const struct ob_hw_backend *backend;
	struct ob_hw_device_caps caps;
	int sessions_used;
	double encode_used;
	double decode_used;
};

/* Where a channel goes: slots[slot], encoding on the device, or decoding and scaling on it
 * while the software backend encodes (a GPU without the encoder: the mixed path), or the
 * software backend alone (slot is then the software slot). */
struct ob_hw_choice {
	size_t slot;
	bool encode_on_device;
};

/* Picks a slot for demand. preference: "auto" (the first backend in table order with a
 * device that encodes the codec and has room, least loaded device first; then a device
 * that decodes, with software encoders; then software when software_fallback) or a
 * backend's name (only that backend's devices, software encoders behind a decode-only
 * device allowed). Backends named in exclude (NULL-terminated, may be NULL) are passed
 * over: they failed this channel. 0, or OB_EBUSY (full) / OB_EUNSUPPORTED (nothing can
 * take it) with a message saying what does not fit where. */
int ob_hw_place(const struct ob_hw_slot *slots, size_t n, const struct ob_hw_demand *demand,
		const char *preference, bool software_fallback, const char *const *exclude,
		struct ob_hw_choice *out, char *err, size_t err_len);

/* A channel's hold on a slot of the box's ledger. */
struct ob_hw_lease {
	bool held;
	char channel[64];
	const struct ob_hw_backend *backend; /* decodes and scales (and encodes, when
					      * encode_on_device) */
	bool encode_on_device;
	char device[64];                     /* the caps id, for open_device */
	struct ob_hw_demand demand;
};

/* The box's probe report, made once and kept (a new reference), or made again with
 * refresh; the ledger's slots follow the newest report. */
json_t *ob_hw_report(bool refresh);

/* Places channel's demand on the box's ledger (ob_hw_place over the newest report's slots
 * less what leases hold) and fills *lease. The codes and messages of ob_hw_place.
 * Thread-safe. */
int ob_hw_admit(const char *channel, const struct ob_hw_demand *demand, const char *preference,
		bool software_fallback, const char *const *exclude, struct ob_hw_lease *lease,
		char *err, size_t err_len);

/* Gives a lease's share back; a lease not held is left alone. Thread-safe. */
void ob_hw_release(struct ob_hw_lease *lease);

/* What is placed on each device: an array of {"backend", "device", "label", "sessions",
 * "sessions_used", "encode_pixel_rate", "encode_used", "decode_pixel_rate", "decode_used",
 * "channels"}, a new reference. */
json_t *ob_hw_load(void);

#endif
