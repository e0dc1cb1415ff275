/* Hardware backends behind one vtable, registered in one table (hw.c), each compiled in by
 * its Kconfig option. The engine asks this module for a backend; it never names one. */
#ifndef OB_HW_HW_H
#define OB_HW_HW_H

#include <jansson.h>

struct ob_hw_backend {
	const char *name;        /* "software", "vaapi", "qsv", "nvenc" */
	const char *description; /* one line for people */
	/* Fills report (an empty object) with what this backend finds on the box:
	 * "available" (bool), "reason" when it is not, and what it can do. 0 or OB_E*. */
	int (*probe)(json_t *report);
};

/* The backends compiled into this firmware, best first; *count gets their number. */
const struct ob_hw_backend *const *ob_hw_backends(size_t *count);

/* Probes every backend and returns a new array of reports, each with "name" and
 * "description" added. */
json_t *ob_hw_probe_all(void);

#endif
