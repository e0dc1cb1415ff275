/* One line per event on stderr: time, level, module, message. Never log a secret. */
#ifndef OB_CORE_LOG_H
#define OB_CORE_LOG_H

enum ob_log_level {
	OB_LOG_ERROR = 0,
	OB_LOG_WARN = 1,
	OB_LOG_INFO = 2,
	OB_LOG_DEBUG = 3,
};

/* Sets the most verbose level that is written (thread-safe). */
void ob_log_set_level(enum ob_log_level level);

/* Parses "error", "warn", "info" or "debug"; returns 0 or OB_EINVAL. */
int ob_log_level_parse(const char *name, enum ob_log_level *out);

/* Writes one line: "2026-11-24T20:52:00.123Z info  store: <message>". Newlines in the
 * message are replaced so a line is always one event. */
void ob_log(enum ob_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define ob_error(module, ...) ob_log(OB_LOG_ERROR, module, __VA_ARGS__)
#define ob_warn(module, ...) ob_log(OB_LOG_WARN, module, __VA_ARGS__)
#define ob_info(module, ...) ob_log(OB_LOG_INFO, module, __VA_ARGS__)
#define ob_debug(module, ...) ob_log(OB_LOG_DEBUG, module, __VA_ARGS__)

#endif
