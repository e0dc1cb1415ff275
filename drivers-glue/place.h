/* Admission: where a channel's ladder runs. Each device a backend reports (capacity()) is
 * a slot with sessions and pixel rates; a channel asks for a place with its demand and the
 * operator's preference, and holds a lease on what it takes until it stops. The choice
 * itself (ob_hw_place) is a pure function of the slots, so the tests drive it with
 * descriptors of devices that exist in the field. */
#ifndef OB_HW_PLACE_H
#define OB_HW_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * software backend alone (slot is then the software slot, and encode_on_device is true:
 * the slot's own encoders take the ladder). */
struct ob_hw_choice {
	size_t slot;
	bool encode_on_device;
};

/* Picks a slot for demand. slots are in backend table order; the software backend's slot
 * is the one whose backend is named "software", and its figures of 0 are unlimited.
 * preference: "auto" (also NULL or ""; the first backend in table order with a device
 * that encodes the codec and has room, least loaded device first; then a decode-only
 * device, with software encoders; then software when software_fallback) or a backend's
 * name (only that backend's devices, software encoders behind a decode-only device
 * allowed; no fallback when they are full; "software" takes the software slot whatever
 * software_fallback says).
 * Backends named in exclude (NULL-terminated, may be NULL) are passed over: they failed
 * this channel; when the preferred backend is excluded, or every one is, software takes
 * the channel when software_fallback. The mixed path counts the ladder's sessions and
 * encode rate on the software slot, the input's decode rate on the device.
 * docs/hardware.md ("Admission and placement") has the rules in full. 0, or OB_EBUSY
 * (a device could take it but is full) / OB_EUNSUPPORTED (nothing can take it) with a
 * message saying what does not fit where, or OB_EINVAL for a demand without a codec. */
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

/* The box's probe report (ob_hw_probe_all's array), made once and kept, or made again with
 * refresh; the ledger's slots follow the newest report. The caller owns what it gets (a
 * copy of the kept report), or NULL when out of memory. Thread-safe; a probe runs without
 * holding the ledger, so admissions do not wait for it. */
json_t *ob_hw_report(bool refresh);

/* ob_hw_report, and the wall clock (ms) of the probe that made it in *probed_ms. */
json_t *ob_hw_report_at(bool refresh, int64_t *probed_ms);

/* Makes report (an array of backend reports, as ob_hw_probe_all makes) the box's report,
 * as if just probed: for tests, and for reports made elsewhere. It keeps its own reference;
 * the caller must not change report afterwards. NULL forgets the report: the next
 * ob_hw_report probes. Leases already held stay held. Thread-safe. */
void ob_hw_set_report(json_t *report);

/* Places channel's demand on the box's ledger (ob_hw_place over the newest report's slots,
 * each backend's capacity() of its report whether or not the report says "available",
 * less what leases hold) and fills *lease, which the ledger records until
 * ob_hw_release. Borrows every argument (lease->demand.codec points at demand->codec).
 * The codes and messages of ob_hw_place (a backend without a device adds its probe's
 * reason: "vaapi: no device (no /dev/dri render node)"), OB_EINVAL for a channel id that
 * is empty or longer than 63 bytes, OB_EBUSY when the ledger holds its maximum of leases,
 * OB_ENOMEM. Thread-safe. */
int ob_hw_admit(const char *channel, const struct ob_hw_demand *demand, const char *preference,
		bool software_fallback, const char *const *exclude, struct ob_hw_lease *lease,
		char *err, size_t err_len);

/* Gives a lease's share back; a lease not held is left alone. A channel may hold more than
 * one lease (a fallback admitted before the failed backend's lease is released): each is
 * released on its own. Thread-safe. */
void ob_hw_release(struct ob_hw_lease *lease);

/* What is placed on each device: an array of {"backend", "device", "label", "sessions",
 * "sessions_used", "encode_pixel_rate", "encode_used", "decode_pixel_rate", "decode_used",
 * "channels"}, a new reference, NULL when out of memory. One entry per device of the
 * newest report (figures of 0: unlimited; rates in pixels per second, rounded), in table
 * order; "channels" names the leases on it (a mixed-path channel is on its device and on
 * software). A device leases still hold that the newest report lacks follows, with its
 * figures 0 and "label" saying so. Thread-safe. */
json_t *ob_hw_load(void);

#endif
