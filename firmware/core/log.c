#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

static atomic_int log_level = OB_LOG_INFO;

static const char *const level_names[] = {
	[OB_LOG_ERROR] = "error",
	[OB_LOG_WARN] = "warn",
	[OB_LOG_INFO] = "info",
	[OB_LOG_DEBUG] = "debug",
};

void ob_log_set_level(enum ob_log_level level)
{
	atomic_store(&log_level, (int)level);
}

int ob_log_level_parse(const char *name, enum ob_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum ob_log_level)i;
			return 0;
		}
	}
	return OB_EINVAL;
}

void ob_log(enum ob_log_level level, const char *module, const char *fmt, ...)
{
	char message[1024];
	char stamp[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if ((int)level > atomic_load(&log_level))
		return;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	for (char *p = message; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio locks the stream, so lines from threads never interleave. */
	fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", stamp, now.tv_nsec / 1000000L,
		level_names[level], module, message);
}
