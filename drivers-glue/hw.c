#include "hw.h"

#include <string.h>

#include "generated/autoconf.h"
#include "core/util.h"

#ifdef CONFIG_HW_SOFTWARE
extern const struct ob_hw_backend ob_hw_software;
#endif

static const struct ob_hw_backend *const backends[] = {
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
