#include "hw.h"

#include <stdio.h>
#include <string.h>

#include "generated/autoconf.h"
#include "core/err.h"
#include "core/util.h"

#ifdef CONFIG_HW_NVENC
extern const struct ob_hw_backend ob_hw_nvenc;
#endif
#ifdef CONFIG_HW_QSV
extern const struct ob_hw_backend ob_hw_qsv;
#endif
#ifdef CONFIG_HW_VAAPI
extern const struct ob_hw_backend ob_hw_vaapi;
#endif
#ifdef CONFIG_HW_SOFTWARE
extern const struct ob_hw_backend ob_hw_software;
#endif

/* Best first: "auto" takes the first one whose open_encoder opens the ladder's top rung. */
static const struct ob_hw_backend *const backends[] = {
#ifdef CONFIG_HW_NVENC
	&ob_hw_nvenc,
#endif
#ifdef CONFIG_HW_QSV
	&ob_hw_qsv,
#endif
#ifdef CONFIG_HW_VAAPI
	&ob_hw_vaapi,
#endif
#ifdef CONFIG_HW_SOFTWARE
	&ob_hw_software,
#endif
	NULL,
};

const struct ob_hw_backend *const *ob_hw_backends(size_t *count)
{
	*count = OB_ARRAY_SIZE(backends) - 1;
	return backends;
}

const struct ob_hw_backend *ob_hw_backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

json_t *ob_hw_probe_all(void)
{
	json_t *out = json_array();

	for (size_t i = 0; out && backends[i]; i++) {
		json_t *report = json_object();

		if (!report)
			continue;
		if (backends[i]->probe(report) != 0 && !json_object_get(report, "available"))
			json_object_set_new(report, "available", json_false());
		json_object_set_new(report, "name", json_string(backends[i]->name));
		json_object_set_new(report, "description", json_string(backends[i]->description));
		json_array_append_new(out, report);
	}
	return out;
}

int ob_hw_refuse(const struct ob_hw_backend *backend, char *err, size_t err_len)
{
	json_t *report = json_object();
	const char *reason = NULL;

	if (report && backend->probe(report) == 0 &&
	    json_is_true(json_object_get(report, "available")))
		snprintf(err, err_len,
			 "%s: the device is there, but this firmware does not encode or decode "
			 "on it yet; use the software backend (or auto)",
			 backend->name);
	else {
		reason = report ? json_string_value(json_object_get(report, "reason")) : NULL;
		snprintf(err, err_len, "%s: %s", backend->name,
			 reason ? reason : "the probe found no usable device");
	}
	json_decref(report);
	return OB_EUNSUPPORTED;
}
