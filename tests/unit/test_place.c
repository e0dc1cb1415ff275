/* drivers-glue admission: ob_hw_place over boxes built from devices that exist in the field
 * (which backend and device a ladder lands on, the mixed path of a GPU without NVENC, the
 * refusals and what they say), and the box's ledger (leases admitted, listed by
 * ob_hw_load, released) on the real software backend.
 *
 * The device figures below are admission's model of each card, not measurements: per-engine
 * rates times the engines the vendor lists, session limits as the vendor's driver enforces
 * them. docs/hardware.md ("Admission and placement") gives their sources. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "hw.h"
#include "place.h"

#define PX(w, h, fps) ((double)(w) * (double)(h) * (double)(fps))

/* Per engine, at a mid-quality preset (assumed; see docs/hardware.md). */
#define NVENC_ADA PX(1920, 1080, 500)      /* 8th-generation NVENC, H.264 1080p */
#define NVENC_AMPERE PX(1920, 1080, 400)   /* 7th generation */
#define NVENC_MAXWELL1 PX(1920, 1080, 240) /* first Maxwell chip (GM107): H.264 only */
#define NVDEC_ENGINE PX(1920, 1080, 600)
#define INTEL_VDBOX PX(3840, 2160, 60)     /* one media engine (VDBOX), either way */

/* Test backends: placement only looks at their names. */
static const struct ob_hw_backend nvenc = { .name = "nvenc", .description = "test NVENC" };
static const struct ob_hw_backend vaapi = { .name = "vaapi", .description = "test VAAPI" };
static const struct ob_hw_backend software = { .name = "software", .description = "test CPU" };

/* The field devices, as capacity() would count them. */
static const struct ob_hw_device_caps iris_xe = {
	.id = "/dev/dri/renderD128",
	.label = "Intel Iris Xe Graphics (Tiger Lake GT2, 2 VDBOX)",
	.decodes = true, .encodes = true, .encode_codecs = { "h264", "hevc" },
	.sessions = 0, /* the iHD driver has no session limit: throughput is the limit */
	.encode_pixel_rate = 2 * INTEL_VDBOX, .decode_pixel_rate = 2 * INTEL_VDBOX,
};
static const struct ob_hw_device_caps rtx_a4000 = {
	.id = "0", .label = "NVIDIA RTX A4000",
	.decodes = true, .encodes = true, .encode_codecs = { "h264", "hevc" },
	.sessions = 0, /* professional cards: no session limit */
	.encode_pixel_rate = 1 * NVENC_AMPERE, .decode_pixel_rate = 1 * NVDEC_ENGINE,
};
static const struct ob_hw_device_caps l4_0 = {
	.id = "0", .label = "NVIDIA L4",
	.decodes = true, .encodes = true, .encode_codecs = { "h264", "hevc", "av1" },
	.sessions = 0, .encode_pixel_rate = 2 * NVENC_ADA, .decode_pixel_rate = 4 * NVDEC_ENGINE,
};
static const struct ob_hw_device_caps l4_1 = {
	.id = "1", .label = "NVIDIA L4",
	.decodes = true, .encodes = true, .encode_codecs = { "h264", "hevc", "av1" },
	.sessions = 0, .encode_pixel_rate = 2 * NVENC_ADA, .decode_pixel_rate = 4 * NVDEC_ENGINE,
};
static const struct ob_hw_device_caps rtx_4070 = {
	.id = "0", .label = "NVIDIA GeForce RTX 4070",
	.decodes = true, .encodes = true, .encode_codecs = { "h264", "hevc", "av1" },
	.sessions = 8, /* GeForce: 8 encode sessions at once since the drivers of early 2024 */
	.encode_pixel_rate = 1 * NVENC_ADA, .decode_pixel_rate = 1 * NVDEC_ENGINE,
};
static const struct ob_hw_device_caps h100 = {
	.id = "0", .label = "NVIDIA H100 80GB HBM3",
	.decodes = true, .encodes = false, /* NVDEC without NVENC */
	.decode_pixel_rate = 7 * NVDEC_ENGINE,
};
static const struct ob_hw_device_caps quadro_k2200 = {
	.id = "0", .label = "NVIDIA Quadro K2200",
	.decodes = true, .encodes = true, .encode_codecs = { "h264" },
	.sessions = 0, .encode_pixel_rate = NVENC_MAXWELL1, .decode_pixel_rate = NVDEC_ENGINE / 2,
};
static const struct ob_hw_device_caps encoder_only = {
	/* a render node whose driver lists encode entrypoints and no decode one */
	.id = "/dev/dri/renderD129", .label = "encode-only driver",
	.decodes = false, .encodes = true, .encode_codecs = { "h264" },
	.encode_pixel_rate = INTEL_VDBOX,
};
static const struct ob_hw_device_caps cpu = {
	.id = "cpu", .label = "libavcodec",
	.decodes = true, .encodes = true, .encode_codecs = { "h264", "hevc" },
	/* 0: unlimited */
};
static const struct ob_hw_device_caps cpu_6_sessions = {
	.id = "cpu", .label = "libavcodec",
	.decodes = true, .encodes = true, .encode_codecs = { "h264", "hevc" }, .sessions = 6,
};

/* Ladders: 1080p30 input. */
static const struct ob_hw_demand ladder5 = {
	/* 1080p, 720p, 540p, 360p, 270p at 30 fps */
	.codec = "h264", .sessions = 5,
	.encode_pixel_rate = PX(1920, 1080, 30) + PX(1280, 720, 30) + PX(960, 540, 30) +
			     PX(640, 360, 30) + PX(480, 270, 30),
	.decode_pixel_rate = PX(1920, 1080, 30),
};
static const struct ob_hw_demand ladder5_hevc = {
	.codec = "hevc", .sessions = 5,
	.encode_pixel_rate = PX(1920, 1080, 30) + PX(1280, 720, 30) + PX(960, 540, 30) +
			     PX(640, 360, 30) + PX(480, 270, 30),
	.decode_pixel_rate = PX(1920, 1080, 30),
};
static const struct ob_hw_demand ladder_4k60 = {
	/* 2160p, 1440p, 1080p at 60 fps: more than a Maxwell NVENC can ever encode */
	.codec = "h264", .sessions = 3,
	.encode_pixel_rate = PX(3840, 2160, 60) + PX(2560, 1440, 60) + PX(1920, 1080, 60),
	.decode_pixel_rate = PX(3840, 2160, 60),
};

/* One device of a test box, with what is placed on it already. */
struct device {
	const struct ob_hw_backend *backend;
	const struct ob_hw_device_caps *caps;
	int sessions_used;
	double encode_used;
	double decode_used;
};

#define DEV(b, c) { .backend = &(b), .caps = &(c) }
#define DEV_USED(b, c, sessions, encode, decode) \
	{ .backend = &(b), .caps = &(c), .sessions_used = (sessions), .encode_used = (encode), \
	  .decode_used = (decode) }
#define END { .backend = NULL }
#define BOX_MAX 6

struct place_case {
	const char *name;
	struct device box[BOX_MAX]; /* ends at the first without a backend */
	const struct ob_hw_demand *demand;
	const char *preference;
	bool software_fallback;
	const char *exclude[4];    /* NULL-terminated */
	int ret;
	const char *backend;       /* the chosen slot's, when ret is 0 */
	const char *device;
	bool encode_on_device;
	const char *says[3];       /* in the message, when ret is not 0 */
};

static const struct place_case cases[] = {
	{
		.name = "auto takes the NVENC card before the VAAPI iGPU (table order)",
		.box = { DEV(nvenc, rtx_a4000), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = true,
		.backend = "nvenc", .device = "0", .encode_on_device = true,
	},
	{
		.name = "of two identical L4s, the less loaded (the second)",
		.box = { DEV_USED(nvenc, l4_0, 10, 0.8e9, 0.3e9),
			 DEV_USED(nvenc, l4_1, 5, 0.2e9, 0.1e9), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = true,
		.backend = "nvenc", .device = "1", .encode_on_device = true,
	},
	{
		.name = "of two identical L4s, the less loaded (the first)",
		.box = { DEV_USED(nvenc, l4_0, 5, 0.2e9, 0.1e9),
			 DEV_USED(nvenc, l4_1, 10, 0.8e9, 0.3e9), DEV(software, cpu) },
		.demand = &ladder5, .preference = "nvenc", .software_fallback = false,
		.backend = "nvenc", .device = "0", .encode_on_device = true,
	},
	{
		.name = "a GeForce with 5 of 8 sessions taken refuses a second 5-rung ladder",
		.box = { DEV_USED(nvenc, rtx_4070, 5, 116.208e6, 62.208e6), DEV(vaapi, iris_xe),
			 DEV(software, cpu) },
		.demand = &ladder5, .preference = "nvenc", .software_fallback = true,
		.ret = OB_EBUSY,
		.says = { "nvenc GPU 0 (NVIDIA GeForce RTX 4070): 3 of 8 encode sessions free, the "
			  "ladder needs 5" },
	},
	{
		.name = "under auto the second 5-rung ladder goes from the full GeForce to VAAPI",
		.box = { DEV_USED(nvenc, rtx_4070, 5, 116.208e6, 62.208e6), DEV(vaapi, iris_xe),
			 DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = false,
		.backend = "vaapi", .device = "/dev/dri/renderD128", .encode_on_device = true,
	},
	{
		.name = "a full GeForce and no fallback: busy, saying what is full and the setting",
		.box = { DEV_USED(nvenc, rtx_4070, 5, 116.208e6, 62.208e6), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = false,
		.ret = OB_EBUSY,
		.says = { "nvenc GPU 0 (NVIDIA GeForce RTX 4070): 3 of 8 encode sessions free, the "
			  "ladder needs 5",
			  "software fallback is off (set \"software_fallback\": true on the "
			  "channel" },
	},
	{
		.name = "an RTX A4000 with 100 Mpixel/s of encoding left refuses 116 Mpixel/s",
		.box = { DEV_USED(nvenc, rtx_a4000, 10, NVENC_AMPERE - 100e6, 0),
			 DEV(software, cpu) },
		.demand = &ladder5, .preference = "nvenc", .software_fallback = true,
		.ret = OB_EBUSY,
		.says = { "nvenc GPU 0 (NVIDIA RTX A4000): 100 of 829 Mpixel/s of encoding free, "
			  "the ladder needs 116 Mpixel/s" },
	},
	{
		.name = "an H100 whose decoders are busy refuses the mixed path",
		.box = { DEV_USED(nvenc, h100, 0, 0, 7 * NVDEC_ENGINE - 50e6), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = false,
		.ret = OB_EBUSY,
		.says = { "nvenc GPU 0 (NVIDIA H100 80GB HBM3): 50.0 of 8709 Mpixel/s of decoding "
			  "free, the input needs 62.2 Mpixel/s" },
	},
	{
		.name = "an H100 decodes and scales, the CPU encodes (the mixed path)",
		.box = { DEV(nvenc, h100), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = false,
		.backend = "nvenc", .device = "0", .encode_on_device = false,
	},
	{
		.name = "naming nvenc on an H100 gives the mixed path too",
		.box = { DEV(nvenc, h100), DEV(software, cpu) },
		.demand = &ladder5_hevc, .preference = "nvenc", .software_fallback = false,
		.backend = "nvenc", .device = "0", .encode_on_device = false,
	},
	{
		.name = "auto: a device that encodes (VAAPI) before a decode-only one (H100)",
		.box = { DEV(nvenc, h100), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = true,
		.backend = "vaapi", .device = "/dev/dri/renderD128", .encode_on_device = true,
	},
	{
		.name = "the mixed path counts the encoders on the CPU's sessions",
		.box = { DEV(nvenc, h100), DEV_USED(software, cpu_6_sessions, 2, 0, 0) },
		.demand = &ladder5, .preference = "nvenc", .software_fallback = true,
		.ret = OB_EBUSY,
		.says = { "nvenc GPU 0 (NVIDIA H100 80GB HBM3): its CPU encoders: 4 of 6 encode "
			  "sessions free, the ladder needs 5" },
	},
	{
		.name = "HEVC skips a device without an HEVC encoder",
		.box = { DEV(nvenc, quadro_k2200), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5_hevc, .preference = "auto", .software_fallback = false,
		.backend = "vaapi", .device = "/dev/dri/renderD128", .encode_on_device = true,
	},
	{
		.name = "HEVC on a named backend without an HEVC encoder: unsupported",
		.box = { DEV(nvenc, quadro_k2200), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5_hevc, .preference = "nvenc", .software_fallback = true,
		.ret = OB_EUNSUPPORTED,
		.says = { "nvenc GPU 0 (NVIDIA Quadro K2200): does not encode hevc" },
	},
	{
		.name = "a ladder larger than the device can ever encode: unsupported, not busy",
		.box = { DEV(nvenc, quadro_k2200), DEV(software, cpu) },
		.demand = &ladder_4k60, .preference = "nvenc", .software_fallback = true,
		.ret = OB_EUNSUPPORTED,
		.says = { "nvenc GPU 0 (NVIDIA Quadro K2200): encodes 498 Mpixel/s at most, the "
			  "ladder needs 843 Mpixel/s" },
	},
	{
		.name = "a hardware device must decode the input to take the ladder",
		.box = { DEV(vaapi, encoder_only), DEV(software, cpu) },
		.demand = &ladder5, .preference = "vaapi", .software_fallback = true,
		.ret = OB_EUNSUPPORTED,
		.says = { "vaapi /dev/dri/renderD129 (encode-only driver): does not decode" },
	},
	{
		.name = "named vaapi on a box without a VAAPI device",
		.box = { DEV(nvenc, l4_0), DEV(software, cpu) },
		.demand = &ladder5, .preference = "vaapi", .software_fallback = true,
		.ret = OB_EUNSUPPORTED, .says = { "vaapi: no device" },
	},
	{
		.name = "exclude passes over the backend that failed",
		.box = { DEV(nvenc, l4_0), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = true,
		.exclude = { "nvenc" },
		.backend = "vaapi", .device = "/dev/dri/renderD128", .encode_on_device = true,
	},
	{
		.name = "only software and no fallback: an error naming the setting",
		.box = { DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = false,
		.ret = OB_EUNSUPPORTED, .says = { "\"software_fallback\": true" },
	},
	{
		.name = "only software with fallback: software",
		.box = { DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = true,
		.backend = "software", .device = "cpu", .encode_on_device = true,
	},
	{
		.name = "everything excluded: software when allowed",
		.box = { DEV(nvenc, l4_0), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = true,
		.exclude = { "nvenc", "vaapi" },
		.backend = "software", .device = "cpu", .encode_on_device = true,
	},
	{
		.name = "everything excluded and no fallback: an error saying both",
		.box = { DEV(nvenc, l4_0), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5, .preference = "auto", .software_fallback = false,
		.exclude = { "nvenc", "vaapi" },
		.ret = OB_EUNSUPPORTED,
		.says = { "nvenc: passed over (it failed this channel)",
			  "vaapi: passed over (it failed this channel)", "software_fallback" },
	},
	{
		.name = "a named backend that failed the channel hands it to software when allowed",
		.box = { DEV(nvenc, l4_0), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5, .preference = "nvenc", .software_fallback = true,
		.exclude = { "nvenc" },
		.backend = "software", .device = "cpu", .encode_on_device = true,
	},
	{
		.name = "a named backend that failed the channel, no fallback: an error",
		.box = { DEV(nvenc, l4_0), DEV(vaapi, iris_xe), DEV(software, cpu) },
		.demand = &ladder5, .preference = "nvenc", .software_fallback = false,
		.exclude = { "nvenc" },
		.ret = OB_EUNSUPPORTED, .says = { "nvenc: passed over", "software_fallback" },
	},
	{
		.name = "a named backend that is full does not fall back to software",
		.box = { DEV_USED(nvenc, rtx_4070, 8, 0, 0), DEV(software, cpu) },
		.demand = &ladder5, .preference = "nvenc", .software_fallback = true,
		.ret = OB_EBUSY, .says = { "0 of 8 encode sessions free" },
	},
	{
		.name = "naming software takes software whatever software_fallback says",
		.box = { DEV(nvenc, l4_0), DEV(software, cpu) },
		.demand = &ladder5, .preference = "software", .software_fallback = false,
		.backend = "software", .device = "cpu", .encode_on_device = true,
	},
	{
		.name = "naming software when software failed the channel: an error",
		.box = { DEV(nvenc, l4_0), DEV(software, cpu) },
		.demand = &ladder5, .preference = "software", .software_fallback = true,
		.exclude = { "software" },
		.ret = OB_EUNSUPPORTED, .says = { "software: passed over" },
	},
};

static size_t build_box(const struct device *box, struct ob_hw_slot *slots)
{
	size_t n = 0;

	for (; n < BOX_MAX && box[n].backend; n++) {
		memset(&slots[n], 0, sizeof(slots[n]));
		slots[n].backend = box[n].backend;
		slots[n].caps = *box[n].caps;
		slots[n].sessions_used = box[n].sessions_used;
		slots[n].encode_used = box[n].encode_used;
		slots[n].decode_used = box[n].decode_used;
	}
	return n;
}

static void test_placement_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct place_case *pc = &cases[c];
		struct ob_hw_slot slots[BOX_MAX];
		struct ob_hw_choice choice = { .slot = 99 };
		char err[1024];
		size_t n = build_box(pc->box, slots);
		int ret;

		ret = ob_hw_place(slots, n, pc->demand, pc->preference, pc->software_fallback,
				  pc->exclude[0] ? pc->exclude : NULL, &choice, err, sizeof(err));
		if (ret != pc->ret)
			fail_msg("case \"%s\": %d (\"%s\"), expected %d", pc->name, ret, err,
				 pc->ret);
		if (ret == 0) {
			if (choice.slot >= n ||
			    strcmp(slots[choice.slot].backend->name, pc->backend) != 0 ||
			    strcmp(slots[choice.slot].caps.id, pc->device) != 0 ||
			    choice.encode_on_device != pc->encode_on_device)
				fail_msg("case \"%s\": slot %zu (%s %s, encode_on_device %d), "
					 "expected %s %s, %d",
					 pc->name, choice.slot,
					 choice.slot < n ? slots[choice.slot].backend->name : "-",
					 choice.slot < n ? slots[choice.slot].caps.id : "-",
					 choice.encode_on_device, pc->backend, pc->device,
					 pc->encode_on_device);
			continue;
		}
		for (size_t s = 0; s < 3 && pc->says[s]; s++)
			if (!strstr(err, pc->says[s]))
				fail_msg("case \"%s\": \"%s\" is not in \"%s\"", pc->name,
					 pc->says[s], err);
	}
}

/* Places ladder on slots as the ledger would and counts it there. */
static int place_and_count(struct ob_hw_slot *slots, size_t n, const struct ob_hw_demand *demand,
			   const char *preference, bool fallback, struct ob_hw_choice *choice,
			   char *err, size_t err_len)
{
	int ret = ob_hw_place(slots, n, demand, preference, fallback, NULL, choice, err, err_len);

	if (ret == 0) {
		struct ob_hw_slot *slot = &slots[choice->slot];

		slot->decode_used += demand->decode_pixel_rate;
		if (choice->encode_on_device) {
			slot->sessions_used += demand->sessions;
			slot->encode_used += demand->encode_pixel_rate;
		}
	}
	return ret;
}

static void test_geforce_takes_one_5_rung_ladder_then_says_3_of_8(void **state)
{
	const struct device box[] = { DEV(nvenc, rtx_4070), DEV(vaapi, iris_xe),
				      DEV(software, cpu), END };
	struct ob_hw_slot slots[BOX_MAX];
	struct ob_hw_choice choice;
	char err[512];
	size_t n = build_box(box, slots);

	(void)state;
	assert_int_equal(place_and_count(slots, n, &ladder5, "nvenc", false, &choice, err,
					 sizeof(err)),
			 0);
	assert_int_equal(choice.slot, 0);
	assert_int_equal(slots[0].sessions_used, 5);
	assert_int_equal(place_and_count(slots, n, &ladder5, "nvenc", false, &choice, err,
					 sizeof(err)),
			 OB_EBUSY);
	assert_string_equal(err, "nvenc GPU 0 (NVIDIA GeForce RTX 4070): 3 of 8 encode sessions "
				 "free, the ladder needs 5");
	/* auto: the next backend in the table takes it, then the one after that (software) */
	assert_int_equal(place_and_count(slots, n, &ladder5, "auto", true, &choice, err,
					 sizeof(err)),
			 0);
	assert_string_equal(slots[choice.slot].backend->name, "vaapi");
	/* a 3-rung ladder still fits the GeForce's last 3 sessions */
	{
		struct ob_hw_demand ladder3 = ladder5;

		ladder3.sessions = 3;
		assert_int_equal(place_and_count(slots, n, &ladder3, "auto", true, &choice, err,
						 sizeof(err)),
				 0);
		assert_string_equal(slots[choice.slot].backend->name, "nvenc");
		assert_int_equal(slots[0].sessions_used, 8);
	}
}

static void test_least_loaded_spreads_channels_over_two_l4s(void **state)
{
	const struct device box[] = { DEV(nvenc, l4_0), DEV(nvenc, l4_1), DEV(software, cpu),
				      END };
	struct ob_hw_slot slots[BOX_MAX];
	struct ob_hw_choice choice;
	char err[512];
	size_t n = build_box(box, slots);
	int on[2] = { 0, 0 };

	(void)state;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(place_and_count(slots, n, &ladder5, "auto", false, &choice, err,
						 sizeof(err)),
				 0);
		assert_true(choice.slot < 2);
		on[choice.slot]++;
	}
	assert_int_equal(on[0], 3);
	assert_int_equal(on[1], 3);
}

static void test_refusals_fit_and_never_overrun_a_small_buffer(void **state)
{
	const struct device box[] = { DEV_USED(nvenc, rtx_4070, 8, 0, 0),
				      DEV_USED(vaapi, iris_xe, 0, 2e9, 0), DEV(software, cpu),
				      END };
	struct ob_hw_slot slots[BOX_MAX];
	struct ob_hw_choice choice;
	char err[24];
	size_t n = build_box(box, slots);

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(ob_hw_place(slots, n, &ladder5, "auto", false, NULL, &choice, err, 16),
			 OB_EBUSY);
	assert_int_equal(strlen(err), 15);
	assert_int_equal(err[16], 'x');
	assert_int_equal(ob_hw_place(slots, n, &ladder5, "auto", false, NULL, &choice, NULL, 0),
			 OB_EBUSY);
}

static void test_auto_names_each_compiled_backend_without_a_device(void **state)
{
	const struct device box[] = { DEV_USED(nvenc, rtx_4070, 8, 0, 0), DEV(software, cpu),
				      END };
	const struct ob_hw_backend *const *table;
	struct ob_hw_slot slots[BOX_MAX];
	struct ob_hw_choice choice;
	char err[1024], expect[64];
	size_t n = build_box(box, slots), count = 0;

	(void)state;
	assert_int_equal(ob_hw_place(slots, n, &ladder5, "auto", false, NULL, &choice, err,
				     sizeof(err)),
			 OB_EBUSY);
	table = ob_hw_backends(&count);
	for (size_t i = 0; i < count; i++) {
		if (strcmp(table[i]->name, "software") == 0 || strcmp(table[i]->name, "nvenc") == 0)
			continue;
		snprintf(expect, sizeof(expect), "%s: no device", table[i]->name);
		if (!strstr(err, expect))
			fail_msg("\"%s\" is not in \"%s\"", expect, err);
	}
	assert_null(strstr(err, "nvenc: no device"));
}

static void test_a_demand_without_codec_is_invalid(void **state)
{
	struct ob_hw_slot slot = { .backend = &software, .caps = cpu };
	struct ob_hw_demand demand = ladder5;
	struct ob_hw_choice choice;
	char err[128];

	(void)state;
	demand.codec = NULL;
	assert_int_equal(ob_hw_place(&slot, 1, &demand, "auto", true, NULL, &choice, err,
				     sizeof(err)),
			 OB_EINVAL);
	demand.codec = "vp9";
	assert_int_equal(ob_hw_place(&slot, 1, &demand, "auto", true, NULL, &choice, err,
				     sizeof(err)),
			 OB_EUNSUPPORTED);
	assert_non_null(strstr(err, "does not encode vp9"));
}

/* ---- the ledger, on the real software backend ---- */

static const struct ob_hw_demand small_ladder = {
	.codec = "h264", .sessions = 2,
	.encode_pixel_rate = PX(480, 270, 25) + PX(320, 180, 25),
	.decode_pixel_rate = PX(480, 270, 25),
};

/* The box's real report, cut down to the software backend: the ledger then places every
 * channel on software whatever GPUs this machine has. */
static int software_only(void **state)
{
	json_t *all = ob_hw_probe_all();
	json_t *only = json_array();
	json_t *entry;
	size_t i;

	*state = NULL;
	json_array_foreach(all, i, entry)
		if (strcmp(json_string_value(json_object_get(entry, "name")), "software") == 0)
			json_array_append(only, entry);
	json_decref(all);
	ob_hw_set_report(only);
	json_decref(only);
	return 0;
}

static int forget_report(void **state)
{
	(void)state;
	ob_hw_set_report(NULL);
	return 0;
}

static json_t *software_load(void)
{
	json_t *load = ob_hw_load();
	json_t *entry, *found = NULL;
	size_t i;

	assert_non_null(load);
	json_array_foreach(load, i, entry)
		if (strcmp(json_string_value(json_object_get(entry, "backend")), "software") == 0)
			found = json_incref(entry);
	json_decref(load);
	assert_non_null(found);
	return found;
}

static bool lists(const json_t *entry, const char *channel)
{
	json_t *name;
	size_t i;

	json_array_foreach(json_object_get(entry, "channels"), i, name)
		if (strcmp(json_string_value(name), channel) == 0)
			return true;
	return false;
}

static void test_ledger_admits_lists_and_releases(void **state)
{
	const struct ob_hw_backend *sw = ob_hw_backend_find("software");
	struct ob_hw_lease leases[3];
	const char *names[3] = { "news", "sport", "kids" };
	char err[512];
	json_t *entry, *report;

	(void)state;
	if (!sw)
		skip();
	report = ob_hw_report(false);
	assert_int_equal(json_array_size(report), 1);
	json_decref(report);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ob_hw_admit(names[i], &small_ladder, i == 2 ? "software" : "auto",
					     true, NULL, &leases[i], err, sizeof(err)),
				 0);
		assert_true(leases[i].held);
		assert_ptr_equal(leases[i].backend, sw);
		assert_true(leases[i].encode_on_device);
		assert_string_equal(leases[i].channel, names[i]);
		assert_string_equal(leases[i].demand.codec, "h264");
	}
	entry = software_load();
	assert_int_equal(json_integer_value(json_object_get(entry, "sessions_used")), 6);
	assert_int_equal(json_integer_value(json_object_get(entry, "encode_used")),
			 (json_int_t)(3 * small_ladder.encode_pixel_rate));
	assert_int_equal(json_array_size(json_object_get(entry, "channels")), 3);
	for (int i = 0; i < 3; i++)
		assert_true(lists(entry, names[i]));
	assert_string_equal(json_string_value(json_object_get(entry, "device")), leases[0].device);
	json_decref(entry);

	ob_hw_release(&leases[1]);
	assert_false(leases[1].held);
	ob_hw_release(&leases[1]); /* not held: left alone */
	entry = software_load();
	assert_int_equal(json_integer_value(json_object_get(entry, "sessions_used")), 4);
	assert_false(lists(entry, "sport"));
	assert_true(lists(entry, "news"));
	assert_true(lists(entry, "kids"));
	json_decref(entry);

	ob_hw_release(&leases[0]);
	ob_hw_release(&leases[2]);
	entry = software_load();
	assert_int_equal(json_integer_value(json_object_get(entry, "sessions_used")), 0);
	assert_int_equal(json_array_size(json_object_get(entry, "channels")), 0);
	json_decref(entry);
}

static void test_ledger_two_leases_of_one_channel_are_released_apart(void **state)
{
	struct ob_hw_lease first, second;
	char err[512];
	json_t *entry;

	(void)state;
	if (!ob_hw_backend_find("software"))
		skip();
	assert_int_equal(ob_hw_admit("news", &small_ladder, "software", false, NULL, &first, err,
				     sizeof(err)),
			 0);
	assert_int_equal(ob_hw_admit("news", &small_ladder, "software", false, NULL, &second,
				     err, sizeof(err)),
			 0);
	ob_hw_release(&first);
	entry = software_load();
	assert_int_equal(json_integer_value(json_object_get(entry, "sessions_used")), 2);
	assert_true(lists(entry, "news"));
	json_decref(entry);
	ob_hw_release(&second);
	entry = software_load();
	assert_int_equal(json_integer_value(json_object_get(entry, "sessions_used")), 0);
	assert_false(lists(entry, "news"));
	json_decref(entry);
}

static void test_ledger_keeps_leases_on_a_device_gone_from_the_report(void **state)
{
	struct ob_hw_lease lease;
	char err[512];
	json_t *empty = json_array(), *load, *entry;

	(void)state;
	if (!ob_hw_backend_find("software"))
		skip();
	assert_int_equal(ob_hw_admit("news", &small_ladder, "software", false, NULL, &lease, err,
				     sizeof(err)),
			 0);
	ob_hw_set_report(empty); /* a refresh that found nothing */
	json_decref(empty);
	load = ob_hw_load();
	assert_int_equal(json_array_size(load), 1);
	entry = json_array_get(load, 0);
	assert_string_equal(json_string_value(json_object_get(entry, "backend")), "software");
	assert_string_equal(json_string_value(json_object_get(entry, "label")),
			    "not in the newest probe report");
	assert_int_equal(json_integer_value(json_object_get(entry, "sessions_used")), 2);
	assert_true(lists(entry, "news"));
	json_decref(load);
	ob_hw_release(&lease);
	load = ob_hw_load();
	assert_int_equal(json_array_size(load), 0);
	json_decref(load);
}

static void test_ledger_refuses_without_fallback_saying_so(void **state)
{
	struct ob_hw_lease lease = { .held = false };
	char err[512];

	(void)state;
	if (!ob_hw_backend_find("software"))
		skip();
	assert_int_not_equal(ob_hw_admit("news", &small_ladder, "auto", false, NULL, &lease, err,
					 sizeof(err)),
			     0);
	assert_false(lease.held);
	assert_non_null(strstr(err, "\"software_fallback\": true"));
	assert_int_equal(ob_hw_admit("", &small_ladder, "auto", true, NULL, &lease, err,
				     sizeof(err)),
			 OB_EINVAL);
	assert_int_equal(ob_hw_admit("a-channel-id-longer-than-sixty-three-bytes-is-refused-here-"
				     "by-admission",
				     &small_ladder, "auto", true, NULL, &lease, err, sizeof(err)),
			 OB_EINVAL);
	assert_int_equal(ob_hw_admit("news", &small_ladder, "nvenc", true, NULL, &lease, err,
				     sizeof(err)),
			 OB_EUNSUPPORTED);
	assert_non_null(strstr(err, "nvenc: no device"));
}

static void test_ledger_says_why_a_backend_has_no_device(void **state)
{
	json_t *report = ob_hw_report(false);
	struct ob_hw_lease lease = { .held = false };
	char err[512];

	(void)state;
	if (!ob_hw_backend_find("software"))
		skip();
	/* the report of a box whose VAAPI probe found no render node */
	json_array_insert_new(report, 0,
			      json_pack("{s:s, s:s, s:b, s:s}", "name", "vaapi", "description",
					"VAAPI", "available", 0, "reason",
					"no /dev/dri render node"));
	ob_hw_set_report(report);
	json_decref(report);
	assert_int_equal(ob_hw_admit("news", &small_ladder, "vaapi", true, NULL, &lease, err,
				     sizeof(err)),
			 OB_EUNSUPPORTED);
	assert_string_equal(err, "vaapi: no device (no /dev/dri render node)");
	assert_false(lease.held);
}

static void *admit_and_release(void *arg)
{
	char channel[32], err[256];

	for (int i = 0; i < 200; i++) {
		struct ob_hw_lease lease;

		snprintf(channel, sizeof(channel), "t%d-%d", (int)(intptr_t)arg, i);
		if (ob_hw_admit(channel, &small_ladder, "software", false, NULL, &lease, err,
				sizeof(err)) != 0)
			return (void *)1;
		ob_hw_release(&lease);
	}
	return NULL;
}

static void test_ledger_is_thread_safe(void **state)
{
	pthread_t threads[4];
	json_t *entry;

	(void)state;
	if (!ob_hw_backend_find("software"))
		skip();
	for (intptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, admit_and_release, (void *)i),
				 0);
	for (int i = 0; i < 4; i++) {
		void *failed = (void *)1;

		pthread_join(threads[i], &failed);
		assert_null(failed);
	}
	entry = software_load();
	assert_int_equal(json_integer_value(json_object_get(entry, "sessions_used")), 0);
	assert_int_equal(json_array_size(json_object_get(entry, "channels")), 0);
	json_decref(entry);
}

static void test_report_is_kept_until_refreshed(void **state)
{
	int64_t first = 0, again = 0, refreshed = 0;
	json_t *a, *b, *c;

	(void)state;
	ob_hw_set_report(NULL);
	a = ob_hw_report_at(false, &first);
	b = ob_hw_report_at(false, &again);
	assert_non_null(a);
	assert_true(first > 0);
	assert_int_equal(again, first);
	assert_true(json_equal(a, b));
	assert_ptr_not_equal(a, b); /* each caller its own copy */
	c = ob_hw_report_at(true, &refreshed);
	assert_true(refreshed >= first);
	assert_int_equal(json_array_size(c), json_array_size(a));
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placement_table),
		cmocka_unit_test(test_geforce_takes_one_5_rung_ladder_then_says_3_of_8),
		cmocka_unit_test(test_least_loaded_spreads_channels_over_two_l4s),
		cmocka_unit_test(test_refusals_fit_and_never_overrun_a_small_buffer),
		cmocka_unit_test(test_auto_names_each_compiled_backend_without_a_device),
		cmocka_unit_test(test_a_demand_without_codec_is_invalid),
		cmocka_unit_test_setup_teardown(test_ledger_admits_lists_and_releases,
						software_only, forget_report),
		cmocka_unit_test_setup_teardown(
			test_ledger_two_leases_of_one_channel_are_released_apart, software_only,
			forget_report),
		cmocka_unit_test_setup_teardown(
			test_ledger_keeps_leases_on_a_device_gone_from_the_report, software_only,
			forget_report),
		cmocka_unit_test_setup_teardown(test_ledger_refuses_without_fallback_saying_so,
						software_only, forget_report),
		cmocka_unit_test_setup_teardown(test_ledger_says_why_a_backend_has_no_device,
						software_only, forget_report),
		cmocka_unit_test_setup_teardown(test_ledger_is_thread_safe, software_only,
						forget_report),
		cmocka_unit_test_setup_teardown(test_report_is_kept_until_refreshed, NULL,
						forget_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
