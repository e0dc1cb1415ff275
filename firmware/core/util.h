/* Small helpers: time, encodings, constant-time comparison, files. */
#ifndef OB_CORE_UTIL_H
#define OB_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds on a clock that never jumps (for timeouts and rates). */
int64_t ob_time_mono_ms(void);

/* Milliseconds since the Unix epoch (for records a person reads). */
int64_t ob_time_wall_ms(void);

/* Writes ms since the epoch as "2026-11-24T20:52:00.123Z" into out (at least 25 bytes). */
void ob_time_iso8601(int64_t wall_ms, char *out, size_t out_len);

/* Reads an RFC 3339 time ("2026-11-25T10:00:00Z", "2026-11-25T11:00:00.5+01:00"; fractions
 * of a second dropped) as ms since the epoch. 0, or OB_EINVAL for anything else. */
int ob_time_parse_iso8601(const char *text, int64_t *wall_ms);

/* Lowercase hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void ob_hex_encode(const unsigned char *in, size_t len, char *out);

/* The value of one hex digit (either case), or -1 when c is not one. */
int ob_hex_digit(char c);

/* Decodes exactly out_len bytes from 2*out_len hex digits; returns 0 or OB_EINVAL. */
int ob_hex_decode(const char *in, unsigned char *out, size_t out_len);

/* Length of the unpadded base64url text of len bytes (without the NUL). */
size_t ob_base64url_len(size_t len);

/* Unpadded base64url of len bytes into out (ob_base64url_len(len)+1 bytes). */
void ob_base64url_encode(const unsigned char *in, size_t len, char *out);

/* True when the two buffers are equal; the time taken does not depend on where they differ. */
bool ob_ct_equal(const void *a, const void *b, size_t len);

/* Zeroes memory in a way the compiler may not drop. */
void ob_secure_zero(void *buf, size_t len);

/* Creates dir and its missing parents with mode; 0 or OB_EIO (errno kept). */
int ob_mkdir_p(const char *dir, mode_t mode);

/* Writes a whole file atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. Readers see the old file or the new one, never a part. */
int ob_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole file of at most max_len bytes into a new NUL-terminated buffer the caller
 * frees. Returns 0, OB_ENOTFOUND, OB_ETOOBIG or OB_EIO. */
int ob_read_file(const char *path, size_t max_len, char **out, size_t *out_len);

/* Counts the characters of UTF-8 text; -1 when it is not valid UTF-8 (overlong forms and
 * surrogates included) or holds a control character. */
long ob_utf8_chars(const char *text);

/* True when text is 1 to max_len characters of a-z, 0-9, '-' and '_', starting with a
 * letter or digit: an id that may appear in a URL or a file name. */
bool ob_is_slug(const char *text, size_t max_len);

/* True when value is one of the strings of a NULL-terminated list. */
bool ob_str_in_list(const char *const *list, const char *value);

/* Writes all len bytes to fd, retrying short writes and EINTR. 0 or OB_EIO. */
int ob_write_all(int fd, const void *data, size_t len);

/* Copies src into dst (dst_len bytes) and always NUL-terminates; returns OB_ETOOBIG when
 * src did not fit (dst then holds a truncated copy). */
int ob_strlcpy(char *dst, const char *src, size_t dst_len);

#endif
