#include "place.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/util.h"

#define SOFTWARE "software"
#define SLOTS_MAX (8 * OB_HW_DEVICES_MAX)
#define LEASES_MAX 128
#define NOT_IN_REPORT "not in the newest probe report"

/* ---- placement: a pure function of the slots ---- */

enum fit {
	FITS,
	FULL,   /* it would fit on the device empty */
	CANNOT, /* it would not fit even then */
};

/* A message written into err piece by piece, "; " between pieces; truncated, never
 * overrun. */
struct msg {
	char *text;
	size_t len;
	size_t used;
	bool started;
};

static void msg_add(struct msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void msg_add(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!m->text || m->len == 0 || m->used + 1 >= m->len)
		return;
	if (m->started) {
		n = snprintf(m->text + m->used, m->len - m->used, "; ");
		m->used = n < 0 ? m->used : m->used + (size_t)n;
		if (m->used + 1 >= m->len) {
			m->used = m->len - 1;
			return;
		}
	}
	va_start(ap, fmt);
	n = vsnprintf(m->text + m->used, m->len - m->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		m->used = m->used + (size_t)n >= m->len ? m->len - 1 : m->used + (size_t)n;
	m->started = true;
}

static bool is_software(const struct ob_hw_slot *slot)
{
	return slot->backend && slot->backend->name && strcmp(slot->backend->name, SOFTWARE) == 0;
}

static const char *backend_name(const struct ob_hw_slot *slot)
{
	return slot->backend && slot->backend->name ? slot->backend->name : "?";
}

static bool listed(const char *const *names, const char *name)
{
	return names && ob_str_in_list(names, name);
}

static bool encodes_codec(const struct ob_hw_device_caps *caps, const char *codec)
{
	if (!caps->encodes)
		return false;
	for (size_t i = 0; i < OB_ARRAY_SIZE(caps->encode_codecs) && caps->encode_codecs[i][0]; i++)
		if (strncmp(caps->encode_codecs[i], codec, sizeof(caps->encode_codecs[i])) == 0)
			return true;
	return false;
}

/* "nvenc GPU 0 (NVIDIA L4)", "vaapi /dev/dri/renderD128 (Intel iHD driver …)". */
static void slot_name(const struct ob_hw_slot *slot, char *out, size_t out_len)
{
	const char *id = slot->caps.id;
	bool numeric = id[0] && strspn(id, "0123456789") == strlen(id);

	snprintf(out, out_len, "%s%s%s%s%s%s", backend_name(slot), id[0] ? " " : "",
		 numeric ? "GPU " : "", id, slot->caps.label[0] ? " (" : "",
		 slot->caps.label[0] ? slot->caps.label : "");
	if (slot->caps.label[0] && strlen(out) + 1 < out_len)
		strcat(out, ")");
}

/* Pixels per second for people, in Mpixel/s: "1037", "3.2". */
static void mpixels(double rate, char *out, size_t out_len)
{
	snprintf(out, out_len, rate >= 100e6 ? "%.0f" : "%.1f", rate / 1e6);
}

/* A rate a device is limited by, in the words of a refusal. */
struct rate {
	const char *noun;  /* "encoding" */
	const char *verb;  /* "encodes" */
	const char *asker; /* who asks it: "the ladder" */
};

static const struct rate encoding = { "encoding", "encodes", "the ladder" };
static const struct rate decoding = { "decoding", "decodes", "the input" };

/* One rate of a device against what is asked of it: limit 0 is unlimited. */
static enum fit fit_figure(double limit, double used, double asked, const struct rate *rate,
			   char *why, size_t why_len)
{
	char have[32], free_[32], need[32];

	if (limit <= 0 || asked <= 0 || limit - used >= asked)
		return FITS;
	mpixels(limit, have, sizeof(have));
	mpixels(limit - used > 0 ? limit - used : 0, free_, sizeof(free_));
	mpixels(asked, need, sizeof(need));
	if (asked > limit) {
		snprintf(why, why_len, "%s %s Mpixel/s at most, %s needs %s Mpixel/s", rate->verb,
			 have, rate->asker, need);
		return CANNOT;
	}
	snprintf(why, why_len, "%s of %s Mpixel/s of %s free, %s needs %s Mpixel/s", free_, have,
		 rate->noun, rate->asker, need);
	return FULL;
}

static enum fit fit_sessions(const struct ob_hw_slot *slot, int asked, char *why,
			     size_t why_len)
{
	int limit = slot->caps.sessions;
	int free_ = limit - slot->sessions_used;

	if (limit <= 0 || asked <= 0 || free_ >= asked)
		return FITS;
	if (asked > limit) {
		snprintf(why, why_len, "%d encode sessions at most, the ladder needs %d", limit,
			 asked);
		return CANNOT;
	}
	snprintf(why, why_len, "%d of %d encode sessions free, the ladder needs %d",
		 free_ > 0 ? free_ : 0, limit, asked);
	return FULL;
}

/* The worse of two verdicts, keeping the message of the worse one. */
static enum fit worse(enum fit a, enum fit b, char *why, const char *b_why, size_t why_len)
{
	if (b > a) {
		ob_strlcpy(why, b_why, why_len);
		return b;
	}
	return a;
}

/* Can slot encode the ladder (and, for a hardware slot, decode its input)? */
static enum fit fit_encode(const struct ob_hw_slot *slot, const struct ob_hw_demand *demand,
			   char *why, size_t why_len)
{
	char part[192];
	enum fit fit = FITS;

	why[0] = '\0';
	if (!is_software(slot) && !slot->caps.decodes) {
		snprintf(why, why_len, "does not decode");
		return CANNOT;
	}
	if (!slot->caps.encodes) {
		snprintf(why, why_len, "has no encoder");
		return CANNOT;
	}
	if (!encodes_codec(&slot->caps, demand->codec)) {
		snprintf(why, why_len, "does not encode %s", demand->codec);
		return CANNOT;
	}
	/* Every figure is checked, so that a CANNOT is never hidden behind a FULL. */
	fit = worse(fit, fit_sessions(slot, demand->sessions, part, sizeof(part)), why, part,
		    why_len);
	fit = worse(fit,
		    fit_figure(slot->caps.encode_pixel_rate, slot->encode_used,
			       demand->encode_pixel_rate, &encoding, part, sizeof(part)),
		    why, part, why_len);
	if (!is_software(slot))
		fit = worse(fit,
			    fit_figure(slot->caps.decode_pixel_rate, slot->decode_used,
				       demand->decode_pixel_rate, &decoding, part, sizeof(part)),
			    why, part, why_len);
	return fit;
}

/* Can the CPU's encoders (sw: the software slot) take the ladder of a mixed-path channel? */
static enum fit fit_cpu_encoders(const struct ob_hw_slot *sw, const struct ob_hw_demand *demand,
				 char *why, size_t why_len)
{
	char part[192];
	enum fit fit = FITS;

	why[0] = '\0';
	if (!encodes_codec(&sw->caps, demand->codec)) {
		snprintf(why, why_len, "does not encode %s", demand->codec);
		return CANNOT;
	}
	fit = worse(fit, fit_sessions(sw, demand->sessions, part, sizeof(part)), why, part,
		    why_len);
	return worse(fit,
		     fit_figure(sw->caps.encode_pixel_rate, sw->encode_used,
				demand->encode_pixel_rate, &encoding, part, sizeof(part)),
		     why, part, why_len);
}

/* Can slot decode and scale the input while the CPU encodes (sw: the software slot, whose
 * figures the encoders count against, or NULL)? */
static enum fit fit_mixed(const struct ob_hw_slot *slot, const struct ob_hw_slot *sw,
			  const struct ob_hw_demand *demand, char *why, size_t why_len)
{
	char sw_why[192];
	enum fit fit, sw_fit;

	why[0] = '\0';
	if (!slot->caps.decodes) {
		snprintf(why, why_len, "does not decode");
		return CANNOT;
	}
	fit = fit_figure(slot->caps.decode_pixel_rate, slot->decode_used,
			 demand->decode_pixel_rate, &decoding, why, why_len);
	if (!sw)
		return fit;
	sw_fit = fit_cpu_encoders(sw, demand, sw_why, sizeof(sw_why));
	if (sw_fit > fit) {
		snprintf(why, why_len, "its CPU encoders: %s", sw_why);
		fit = sw_fit;
	}
	return fit;
}

/* How busy a device is, 0 (idle) to 1 (full), by its encoders, or by its decoders for a
 * device that only decodes. */
static double utilisation(const struct ob_hw_slot *slot, bool encode)
{
	if (!encode)
		return slot->caps.decode_pixel_rate > 0
			       ? slot->decode_used / slot->caps.decode_pixel_rate
			       : 0;
	if (slot->caps.encode_pixel_rate > 0)
		return slot->encode_used / slot->caps.encode_pixel_rate;
	if (slot->caps.sessions > 0)
		return (double)slot->sessions_used / slot->caps.sessions;
	return 0;
}

static bool less_loaded(const struct ob_hw_slot *a, const struct ob_hw_slot *b, bool encode)
{
	double ua = utilisation(a, encode), ub = utilisation(b, encode);

	if (ua != ub)
		return ua < ub;
	return encode ? a->encode_used < b->encode_used : a->decode_used < b->decode_used;
}

/* One placement: what is asked, of which devices, and the refusal being written. */
struct ask {
	const struct ob_hw_slot *slots;
	size_t n;
	const struct ob_hw_slot *sw;  /* the software backend's slot, or NULL */
	const struct ob_hw_demand *demand;
	const char *const *exclude;
	const json_t *report;         /* the probe report, for why a backend has no device;
				       * NULL when placing over given slots */
	struct msg m;
};

/* A device of backend name that can take the ladder, least loaded first: encoding on it
 * (encode), or decoding on it for the CPU's encoders (a device without an encoder). */
static bool pick(const struct ask *ask, const char *name, bool encode, size_t *best)
{
	char why[256];
	bool found = false;

	for (size_t i = 0; i < ask->n; i++) {
		const struct ob_hw_slot *slot = &ask->slots[i];

		if (is_software(slot) || strcmp(backend_name(slot), name) != 0)
			continue;
		if (encode && fit_encode(slot, ask->demand, why, sizeof(why)) != FITS)
			continue;
		if (!encode && (slot->caps.encodes ||
				fit_mixed(slot, ask->sw, ask->demand, why, sizeof(why)) != FITS))
			continue;
		if (!found || less_loaded(slot, &ask->slots[*best], encode))
			*best = i;
		found = true;
	}
	return found;
}

/* What the probe report says of backend name when it has no device, or NULL. */
static const char *report_reason(const json_t *report, const char *name)
{
	size_t index;
	json_t *entry;

	json_array_foreach(report, index, entry) {
		const char *entry_name = json_string_value(json_object_get(entry, "name"));

		if (entry_name && strcmp(entry_name, name) == 0)
			return json_string_value(json_object_get(entry, "reason"));
	}
	return NULL;
}

/* Says why no device of backend name took the ladder; returns the best verdict among them
 * (FULL when one would take it empty). */
static enum fit explain(struct ask *ask, const char *name)
{
	char label[192], why[256];
	enum fit best = CANNOT;
	bool any = false;
	const char *reason;

	for (size_t i = 0; i < ask->n; i++) {
		const struct ob_hw_slot *slot = &ask->slots[i];
		enum fit fit;

		if (is_software(slot) || strcmp(backend_name(slot), name) != 0)
			continue;
		any = true;
		/* A device with an encoder is judged as an encoder: a full one does not hand its
		 * channels to the CPU (software_fallback decides that). */
		if (slot->caps.encodes)
			fit = fit_encode(slot, ask->demand, why, sizeof(why));
		else
			fit = fit_mixed(slot, ask->sw, ask->demand, why, sizeof(why));
		if (fit < best)
			best = fit;
		slot_name(slot, label, sizeof(label));
		msg_add(&ask->m, "%s: %s", label, why);
	}
	if (any)
		return best;
	reason = ask->report ? report_reason(ask->report, name) : NULL;
	if (reason && reason[0])
		msg_add(&ask->m, "%s: no device (%s)", name, reason);
	else
		msg_add(&ask->m, "%s: no device", name);
	return best;
}

/* The index of the software backend's slot, or -1. */
static ssize_t software_slot(const struct ob_hw_slot *slots, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (is_software(&slots[i]))
			return (ssize_t)i;
	return -1;
}

/* Whether slots[i]'s backend had a slot before i (each backend is judged once). */
static bool seen_before(const struct ob_hw_slot *slots, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(backend_name(&slots[j]), backend_name(&slots[i])) == 0)
			return true;
	return false;
}

static bool in_table(const struct ob_hw_backend *const *table, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(table[i]->name, name) == 0)
			return true;
	return false;
}

/* explain, for "auto": a backend that failed this channel is only named. */
static enum fit explain_auto(struct ask *ask, const char *name)
{
	if (listed(ask->exclude, name)) {
		msg_add(&ask->m, "%s: passed over (it failed this channel)", name);
		return CANNOT;
	}
	return explain(ask, name);
}

/* The last part of a refusal: what software would do. */
static enum fit explain_software(struct ask *ask, bool software_fallback)
{
	char label[192], why[256];
	enum fit fit;

	if (!software_fallback) {
		msg_add(&ask->m, "software fallback is off (set \"software_fallback\": true on the "
				 "channel to let the CPU take it)");
		return CANNOT;
	}
	if (listed(ask->exclude, SOFTWARE)) {
		msg_add(&ask->m, "software: passed over (it failed this channel)");
		return CANNOT;
	}
	if (!ask->sw) {
		msg_add(&ask->m, "software: not in this firmware");
		return CANNOT;
	}
	fit = fit_encode(ask->sw, ask->demand, why, sizeof(why));
	slot_name(ask->sw, label, sizeof(label));
	msg_add(&ask->m, "%s: %s", label, why);
	return fit;
}

/* Each hardware backend in turn, table order: the first with a device that encodes the
 * ladder (encode), or that decodes it for the CPU's encoders. */
static bool pick_auto(const struct ask *ask, bool encode, size_t *best)
{
	for (size_t i = 0; i < ask->n; i++)
		if (!is_software(&ask->slots[i]) && !seen_before(ask->slots, i) &&
		    !listed(ask->exclude, backend_name(&ask->slots[i])) &&
		    pick(ask, backend_name(&ask->slots[i]), encode, best))
			return true;
	return false;
}

/* ob_hw_place; report (may be NULL) adds the probe's reason to "no device". */
static int place(const struct ob_hw_slot *slots, size_t n, const struct ob_hw_demand *demand,
		 const char *preference, bool software_fallback, const char *const *exclude,
		 const json_t *report, struct ob_hw_choice *out, char *err, size_t err_len)
{
	struct ask ask = { .slots = slots, .n = n, .demand = demand, .exclude = exclude,
			   .report = report, .m = { .text = err, .len = err_len } };
	const struct ob_hw_backend *const *table;
	ssize_t sw_index;
	size_t best = 0, compiled = 0;
	char why[256], label[192];
	enum fit verdict = CANNOT;
	enum fit fit;

	if (err && err_len)
		err[0] = '\0';
	if (!demand || !demand->codec || !demand->codec[0] || !out || (n && !slots)) {
		msg_add(&ask.m, "no codec to place");
		return OB_EINVAL;
	}
	if (!preference || !preference[0])
		preference = "auto";
	sw_index = software_slot(slots, n);
	ask.sw = sw_index < 0 ? NULL : &slots[sw_index];

	if (strcmp(preference, SOFTWARE) == 0) {
		if (listed(exclude, SOFTWARE)) {
			msg_add(&ask.m, "software: passed over (it failed this channel)");
			return OB_EUNSUPPORTED;
		}
		if (!ask.sw) {
			msg_add(&ask.m, "software: not in this firmware");
			return OB_EUNSUPPORTED;
		}
		fit = fit_encode(ask.sw, demand, why, sizeof(why));
		if (fit == FITS)
			goto chose_software;
		slot_name(ask.sw, label, sizeof(label));
		msg_add(&ask.m, "%s: %s", label, why);
		return fit == FULL ? OB_EBUSY : OB_EUNSUPPORTED;
	}

	if (strcmp(preference, "auto") != 0) {
		/* A named backend: its devices or nothing, unless it failed this channel. */
		if (listed(exclude, preference)) {
			msg_add(&ask.m, "%s: passed over (it failed this channel)", preference);
		} else {
			if (pick(&ask, preference, true, &best)) {
				out->slot = best;
				out->encode_on_device = true;
				return 0;
			}
			if (pick(&ask, preference, false, &best)) {
				out->slot = best;
				out->encode_on_device = false;
				return 0;
			}
			verdict = explain(&ask, preference);
			return verdict == FULL ? OB_EBUSY : OB_EUNSUPPORTED;
		}
	} else {
		if (pick_auto(&ask, true, &best)) {
			out->slot = best;
			out->encode_on_device = true;
			return 0;
		}
		if (pick_auto(&ask, false, &best)) {
			out->slot = best;
			out->encode_on_device = false;
			return 0;
		}
		/* Nothing in hardware: say why, backend by backend, in table order (a backend
		 * of the slots that is not compiled in, as the tests make, after them). */
		table = ob_hw_backends(&compiled);
		for (size_t i = 0; i < compiled; i++) {
			if (strcmp(table[i]->name, SOFTWARE) == 0)
				continue;
			fit = explain_auto(&ask, table[i]->name);
			if (fit < verdict)
				verdict = fit;
		}
		for (size_t i = 0; i < n; i++) {
			if (is_software(&slots[i]) || seen_before(slots, i) ||
			    in_table(table, compiled, backend_name(&slots[i])))
				continue;
			fit = explain_auto(&ask, backend_name(&slots[i]));
			if (fit < verdict)
				verdict = fit;
		}
	}

	/* Software, when the channel allows it. */
	if (software_fallback && ask.sw && !listed(exclude, SOFTWARE) &&
	    fit_encode(ask.sw, demand, why, sizeof(why)) == FITS)
		goto chose_software;
	fit = explain_software(&ask, software_fallback);
	if (fit < verdict)
		verdict = fit;
	return verdict == FULL ? OB_EBUSY : OB_EUNSUPPORTED;

chose_software:
	if (err && err_len)
		err[0] = '\0';
	out->slot = (size_t)sw_index;
	out->encode_on_device = true;
	return 0;
}

int ob_hw_place(const struct ob_hw_slot *slots, size_t n, const struct ob_hw_demand *demand,
		const char *preference, bool software_fallback, const char *const *exclude,
		struct ob_hw_choice *out, char *err, size_t err_len)
{
	return place(slots, n, demand, preference, software_fallback, exclude, NULL, out, err,
		     err_len);
}

/* ---- the ledger: the newest report, and the leases held on it ---- */

/* A lease as the ledger keeps it: its own copy of the codec's name. */
struct held {
	struct ob_hw_lease lease;
	char codec[16];
};

static struct {
	pthread_mutex_t lock; /* guards everything below */
	json_t *report;       /* the newest probe report, or NULL before the first */
	int64_t probed_ms;    /* wall clock of that probe */
	struct held leases[LEASES_MAX];
	size_t lease_count;
} ledger = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A new reference to the kept report (made now when there is none, or with refresh), or
 * NULL when out of memory. The probe runs without the lock. */
static json_t *kept_report(bool refresh, int64_t *probed_ms)
{
	json_t *fresh = NULL, *old = NULL, *out = NULL;

	pthread_mutex_lock(&ledger.lock);
	if (!refresh && ledger.report) {
		out = json_incref(ledger.report);
		if (probed_ms)
			*probed_ms = ledger.probed_ms;
	}
	pthread_mutex_unlock(&ledger.lock);
	if (out)
		return out;

	fresh = ob_hw_probe_all();
	if (!fresh)
		return NULL;
	pthread_mutex_lock(&ledger.lock);
	if (refresh || !ledger.report) {
		old = ledger.report;
		ledger.report = fresh;
		ledger.probed_ms = ob_time_wall_ms();
		fresh = NULL;
	}
	out = json_incref(ledger.report);
	if (probed_ms)
		*probed_ms = ledger.probed_ms;
	pthread_mutex_unlock(&ledger.lock);
	json_decref(fresh); /* another thread's probe got there first */
	json_decref(old);
	return out;
}

json_t *ob_hw_report_at(bool refresh, int64_t *probed_ms)
{
	json_t *report = kept_report(refresh, probed_ms);
	json_t *copy = json_deep_copy(report);

	json_decref(report);
	return copy;
}

json_t *ob_hw_report(bool refresh)
{
	return ob_hw_report_at(refresh, NULL);
}

void ob_hw_set_report(json_t *report)
{
	json_t *old;

	pthread_mutex_lock(&ledger.lock);
	old = ledger.report;
	ledger.report = json_incref(report);
	ledger.probed_ms = report ? ob_time_wall_ms() : 0;
	pthread_mutex_unlock(&ledger.lock);
	json_decref(old);
}

/* The devices of a report, each backend's capacity() of its own report, in report order.
 * Reads the report only. */
static size_t report_slots(const json_t *report, struct ob_hw_slot *slots, size_t max)
{
	struct ob_hw_device_caps caps[OB_HW_DEVICES_MAX];
	size_t n = 0, index;
	json_t *entry;

	json_array_foreach(report, index, entry) {
		const char *name = json_string_value(json_object_get(entry, "name"));
		const struct ob_hw_backend *backend = name ? ob_hw_backend_find(name) : NULL;
		size_t count = 0;

		if (!backend || !backend->capacity)
			continue;
		memset(caps, 0, sizeof(caps));
		if (backend->capacity(entry, caps, OB_HW_DEVICES_MAX, &count) != 0)
			continue;
		for (size_t i = 0; i < count && i < OB_HW_DEVICES_MAX && n < max; i++) {
			memset(&slots[n], 0, sizeof(slots[n]));
			slots[n].backend = backend;
			slots[n].caps = caps[i];
			slots[n].caps.id[sizeof(slots[n].caps.id) - 1] = '\0';
			slots[n].caps.label[sizeof(slots[n].caps.label) - 1] = '\0';
			n++;
		}
	}
	return n;
}

static ssize_t find_slot(const struct ob_hw_slot *slots, size_t n,
			 const struct ob_hw_backend *backend, const char *device)
{
	for (size_t i = 0; i < n; i++)
		if (slots[i].backend == backend && strcmp(slots[i].caps.id, device) == 0)
			return (ssize_t)i;
	return -1;
}

/* Counts what the held leases use on slots. Call with the lock held. */
static void count_leases(struct ob_hw_slot *slots, size_t n)
{
	ssize_t sw_index = software_slot(slots, n);
	struct ob_hw_slot *sw = sw_index < 0 ? NULL : &slots[sw_index];

	for (size_t i = 0; i < ledger.lease_count; i++) {
		const struct ob_hw_lease *lease = &ledger.leases[i].lease;
		ssize_t at = find_slot(slots, n, lease->backend, lease->device);
		struct ob_hw_slot *device = at < 0 ? NULL : &slots[at];
		struct ob_hw_slot *encoders = lease->encode_on_device ? device : sw;

		if (device)
			device->decode_used += lease->demand.decode_pixel_rate;
		if (encoders) {
			encoders->sessions_used += lease->demand.sessions;
			encoders->encode_used += lease->demand.encode_pixel_rate;
		}
	}
}

int ob_hw_admit(const char *channel, const struct ob_hw_demand *demand, const char *preference,
		bool software_fallback, const char *const *exclude, struct ob_hw_lease *lease,
		char *err, size_t err_len)
{
	struct ob_hw_slot slots[SLOTS_MAX];
	struct ob_hw_choice choice;
	struct held *held;
	json_t *report;
	size_t n;
	int ret;

	if (err && err_len)
		err[0] = '\0';
	if (!lease || !channel || !channel[0] || strlen(channel) >= sizeof(lease->channel)) {
		if (err && err_len)
			snprintf(err, err_len,
				 "a channel id of 1 to %zu bytes is needed to place it",
				 sizeof(lease->channel) - 1);
		return OB_EINVAL;
	}
	report = kept_report(false, NULL);
	if (!report) {
		if (err && err_len)
			snprintf(err, err_len, "channel \"%s\": out of memory probing the hardware",
				 channel);
		return OB_ENOMEM;
	}
	n = report_slots(report, slots, SLOTS_MAX);

	pthread_mutex_lock(&ledger.lock);
	if (ledger.lease_count >= LEASES_MAX) {
		if (err && err_len)
			snprintf(err, err_len,
				 "channel \"%s\": the box already runs %d channels, its most",
				 channel, LEASES_MAX);
		ret = OB_EBUSY;
		goto unlock;
	}
	count_leases(slots, n);
	ret = place(slots, n, demand, preference, software_fallback, exclude, report, &choice,
		    err, err_len);
	if (ret != 0)
		goto unlock;
	memset(lease, 0, sizeof(*lease));
	lease->held = true;
	ob_strlcpy(lease->channel, channel, sizeof(lease->channel));
	lease->backend = slots[choice.slot].backend;
	lease->encode_on_device = choice.encode_on_device;
	ob_strlcpy(lease->device, slots[choice.slot].caps.id, sizeof(lease->device));
	lease->demand = *demand;
	held = &ledger.leases[ledger.lease_count++];
	held->lease = *lease;
	ob_strlcpy(held->codec, demand->codec, sizeof(held->codec));
	held->lease.demand.codec = held->codec;
unlock:
	pthread_mutex_unlock(&ledger.lock);
	json_decref(report);
	return ret;
}

static bool same_lease(const struct ob_hw_lease *a, const struct ob_hw_lease *b)
{
	return a->backend == b->backend && a->encode_on_device == b->encode_on_device &&
	       strcmp(a->channel, b->channel) == 0 && strcmp(a->device, b->device) == 0 &&
	       a->demand.sessions == b->demand.sessions &&
	       a->demand.encode_pixel_rate == b->demand.encode_pixel_rate &&
	       a->demand.decode_pixel_rate == b->demand.decode_pixel_rate;
}

void ob_hw_release(struct ob_hw_lease *lease)
{
	if (!lease || !lease->held)
		return;
	pthread_mutex_lock(&ledger.lock);
	for (size_t i = 0; i < ledger.lease_count; i++) {
		if (!same_lease(&ledger.leases[i].lease, lease))
			continue;
		ledger.lease_count--;
		if (i != ledger.lease_count) {
			ledger.leases[i] = ledger.leases[ledger.lease_count];
			ledger.leases[i].lease.demand.codec = ledger.leases[i].codec;
		}
		break;
	}
	pthread_mutex_unlock(&ledger.lock);
	lease->held = false;
}

static json_int_t rounded(double value)
{
	return (json_int_t)llround(value);
}

static json_t *load_entry(const struct ob_hw_slot *slot, const char *label)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:[]}", "backend",
			 backend_name(slot), "device", slot->caps.id, "label", label,
			 "sessions", slot->caps.sessions, "sessions_used", slot->sessions_used,
			 "encode_pixel_rate", rounded(slot->caps.encode_pixel_rate),
			 "encode_used", rounded(slot->encode_used), "decode_pixel_rate",
			 rounded(slot->caps.decode_pixel_rate), "decode_used",
			 rounded(slot->decode_used), "channels");
}

/* Appends channel to the "channels" of load's entry at index. */
static void list_channel(json_t *load, size_t index, const char *channel)
{
	json_array_append_new(json_object_get(json_array_get(load, index), "channels"),
			      json_string(channel));
}

json_t *ob_hw_load(void)
{
	/* The report's devices, then those only leases still hold: on the heap, as an HTTP
	 * worker's stack may be small. */
	struct ob_hw_slot *slots = calloc(SLOTS_MAX + LEASES_MAX, sizeof(*slots));
	json_t *report = kept_report(false, NULL);
	json_t *load = json_array();
	size_t n = 0, total;
	ssize_t sw_index;
	bool complete = true;

	if (!slots || !report || !load)
		goto fail;
	n = report_slots(report, slots, SLOTS_MAX);

	pthread_mutex_lock(&ledger.lock);
	total = n;
	for (size_t i = 0; i < ledger.lease_count; i++) {
		const struct ob_hw_lease *lease = &ledger.leases[i].lease;

		if (find_slot(slots, total, lease->backend, lease->device) >= 0)
			continue;
		slots[total].backend = lease->backend;
		ob_strlcpy(slots[total].caps.id, lease->device, sizeof(slots[total].caps.id));
		total++;
	}
	count_leases(slots, total);
	sw_index = software_slot(slots, n);
	for (size_t i = 0; i < total && complete; i++)
		complete = json_array_append_new(load, load_entry(&slots[i],
								  i < n ? slots[i].caps.label
									: NOT_IN_REPORT)) == 0;
	for (size_t i = 0; i < ledger.lease_count && complete; i++) {
		const struct ob_hw_lease *lease = &ledger.leases[i].lease;
		ssize_t at = find_slot(slots, total, lease->backend, lease->device);

		if (at >= 0)
			list_channel(load, (size_t)at, lease->channel);
		if (!lease->encode_on_device && sw_index >= 0 && at != sw_index)
			list_channel(load, (size_t)sw_index, lease->channel);
	}
	pthread_mutex_unlock(&ledger.lock);
	if (!complete)
		goto fail;
	json_decref(report);
	free(slots);
	return load;

fail:
	json_decref(report);
	json_decref(load);
	free(slots);
	return NULL;
}
