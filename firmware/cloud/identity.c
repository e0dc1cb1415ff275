#include "cloud/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"

#define MODULE "cloud"
#define KEY_FILE_MAX 16384   /* a P-256 key in PEM is about 230 bytes */
#define METHOD_MAX 16
#define AUDIENCE_MAX 1024
#define HTU_MAX 2048
#define ENROLLMENT_TOKEN_MAX 1024

struct ob_cloud_identity {
	struct ob_cloud_key *key;                      /* a key pair */
	char device_id[OB_CLOUD_DEVICE_ID_CHARS + 1];
};

int ob_cloud_device_id(const struct ob_cloud_key *key, char out[OB_CLOUD_DEVICE_ID_CHARS + 1])
{
	unsigned char digest[32];
	size_t prefix = strlen(OB_CLOUD_DEVICE_ID_PREFIX);

	if (ob_cloud_key_spki_sha256(key, digest) != 0)
		return OB_EINTERNAL;
	memcpy(out, OB_CLOUD_DEVICE_ID_PREFIX, prefix);
	ob_hex_encode(digest, (OB_CLOUD_DEVICE_ID_CHARS - prefix) / 2, out + prefix);
	return 0;
}

int ob_cloud_identity_from_key(struct ob_cloud_key **key, struct ob_cloud_identity **out)
{
	struct ob_cloud_identity *identity;

	*out = NULL;
	if (!key || !*key || !ob_cloud_key_has_private(*key))
		return OB_EINVAL;
	identity = calloc(1, sizeof(*identity));
	if (!identity)
		return OB_ENOMEM;
	if (ob_cloud_device_id(*key, identity->device_id) != 0) {
		free(identity);
		return OB_EINTERNAL;
	}
	identity->key = *key;
	*key = NULL;
	*out = identity;
	return 0;
}

void ob_cloud_identity_free(struct ob_cloud_identity **identity)
{
	if (!identity || !*identity)
		return;
	ob_cloud_key_free(&(*identity)->key);
	free(*identity);
	*identity = NULL;
}

const char *ob_cloud_identity_device_id(const struct ob_cloud_identity *identity)
{
	return identity->device_id;
}

const struct ob_cloud_key *ob_cloud_identity_key(const struct ob_cloud_identity *identity)
{
	return identity->key;
}

/* ---- the key file ---- */

/* Reads the key file through one descriptor (no window between the checks and the read):
 * a regular file of this user's, closed to everyone else. OB_ENOTFOUND when there is none. */
static int read_key_file(const char *path, char **pem, size_t *pem_len, char *err,
			 size_t err_len)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd;
	int ret = OB_EPERM;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return OB_ENOTFOUND;
	if (fd < 0) {
		snprintf(err, err_len, errno == ELOOP ?
			 "device key %s is a symbolic link; it must be a plain file (replace the "
			 "link with the file it points to, mode 0600)" :
			 "device key %s cannot be opened: %s", path, strerror(errno));
		return errno == ELOOP ? OB_EPERM : OB_EIO;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, err_len, "device key %s: %s", path, strerror(errno));
		ret = OB_EIO;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "device key %s is not a regular file; move it away", path);
		goto out_close;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, err_len,
			 "device key %s belongs to uid %ld, not to ottboxd's user (uid %ld); the key "
			 "must be private to ottboxd: run `chown %ld %s`",
			 path, (long)st.st_uid, (long)geteuid(), (long)geteuid(), path);
		goto out_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, err_len,
			 "device key %s is open to other users (mode %04o); the key must be "
			 "readable by ottboxd's user only: run `chmod 600 %s`",
			 path, (unsigned)(st.st_mode & 07777), path);
		goto out_close;
	}
	if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
		snprintf(err, err_len, "device key %s is %lld bytes, not a P-256 key in PEM", path,
			 (long long)st.st_size);
		ret = OB_ECORRUPT;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = OB_ENOMEM;
		goto out_close;
	}
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		snprintf(err, err_len, "device key %s could not be read whole", path);
		ret = OB_EIO;
		goto out_close;
	}
	buf[n] = '\0';
	*pem = buf;
	*pem_len = (size_t)n;
	buf = NULL;
	ret = 0;
out_close:
	if (buf) {
		ob_secure_zero(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	close(fd);
	return ret;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return OB_EIO;
	if (fsync(fd) != 0)
		ret = OB_EIO;
	close(fd);
	return ret;
}

/* Writes a new key to path without ever replacing one: written whole under a temporary
 * name, then linked to path. OB_EEXIST when another process made path first. */
static int write_new_key(const struct ob_cloud_key *key, const char *dir, const char *path,
			 char *err, size_t err_len)
{
	char pem[OB_CLOUD_KEY_PEM_MAX];
	char tmp[PATH_MAX];
	int ret;

	if (snprintf(tmp, sizeof(tmp), "%s.new.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, err_len, "device key path is too long: %s", path);
		return OB_EINVAL;
	}
	ret = ob_cloud_key_private_pem(key, pem, sizeof(pem));
	if (ret != 0) {
		snprintf(err, err_len, "the new device key could not be written as PEM");
		goto out_wipe;
	}
	ret = ob_write_file_atomic(tmp, pem, strlen(pem), 0600);
	if (ret != 0) {
		snprintf(err, err_len, "cannot write the device key to %s: %s", tmp, strerror(errno));
		goto out_wipe;
	}
	if (link(tmp, path) != 0) {
		ret = errno == EEXIST ? OB_EEXIST : OB_EIO;
		if (ret == OB_EIO)
			snprintf(err, err_len, "cannot put the device key at %s: %s", path,
				 strerror(errno));
	}
	unlink(tmp);
	if (ret == 0 && fsync_dir(dir) != 0) {
		snprintf(err, err_len, "cannot sync %s after writing the device key", dir);
		ret = OB_EIO;
	}
out_wipe:
	ob_secure_zero(pem, sizeof(pem));
	return ret;
}

/* Makes the device directory (0700) under an existing or new data directory. */
static int make_key_dir(const char *data_dir, const char *dir, char *err, size_t err_len)
{
	struct stat st;

	if (ob_mkdir_p(data_dir, 0750) != 0 || (mkdir(dir, 0700) != 0 && errno != EEXIST)) {
		snprintf(err, err_len, "cannot create %s: %s", dir, strerror(errno));
		return OB_EIO;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "%s must be a directory (mode 0700)", dir);
		return OB_EIO;
	}
	return 0;
}

static int load_key(const char *path, struct ob_cloud_key **key, char *err, size_t err_len)
{
	char *pem = NULL;
	size_t pem_len = 0;
	char why[256];
	int ret;

	ret = read_key_file(path, &pem, &pem_len, err, err_len);
	if (ret != 0)
		return ret;
	ret = ob_cloud_key_from_pem(pem, pem_len, true, key, why, sizeof(why));
	if (ret == OB_EINVAL) {
		snprintf(err, err_len,
			 "device key %s is unusable: %s; move it away and the box makes a new key at "
			 "the next start (a new key is a new device: enroll it again)",
			 path, why);
		ret = OB_ECORRUPT;
	} else if (ret != 0) {
		snprintf(err, err_len, "device key %s: %s", path, why);
	}
	ob_secure_zero(pem, pem_len);
	free(pem);
	return ret;
}

int ob_cloud_identity_open(const char *data_dir, struct ob_cloud_identity **out, bool *created,
			   char *err, size_t err_len)
{
	struct ob_cloud_key *key = NULL;
	char dir[PATH_MAX];
	char path[PATH_MAX];
	bool made = false;
	int ret;

	*out = NULL;
	if (created)
		*created = false;
	if (err_len)
		err[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/%s", data_dir, OB_CLOUD_KEY_FILE) >= (int)sizeof(path)) {
		snprintf(err, err_len, "data directory path is too long: %s", data_dir);
		return OB_EINVAL;
	}
	ob_strlcpy(dir, path, sizeof(dir));
	*strrchr(dir, '/') = '\0';
	ret = load_key(path, &key, err, err_len);
	if (ret == OB_ENOTFOUND) {
		ret = make_key_dir(data_dir, dir, err, err_len);
		if (ret == 0)
			ret = ob_cloud_key_generate(&key);
		if (ret == 0)
			ret = write_new_key(key, dir, path, err, err_len);
		if (ret == OB_EEXIST) {
			/* Another process made the key first: it is the box's key. */
			ob_cloud_key_free(&key);
			ret = load_key(path, &key, err, err_len);
		} else if (ret == 0) {
			made = true;
		} else if (!err[0]) {
			snprintf(err, err_len, "cannot make a device key: %s", ob_strerror(ret));
		}
	}
	if (ret != 0)
		goto fail_free;
	ret = ob_cloud_identity_from_key(&key, out);
	if (ret != 0) {
		snprintf(err, err_len, "device key %s: %s", path, ob_strerror(ret));
		goto fail_free;
	}
	if (made)
		ob_info(MODULE, "made the device key %s; this box is %s", path, (*out)->device_id);
	if (created)
		*created = made;
	return 0;

fail_free:
	ob_cloud_key_free(&key);
	return ret;
}

/* ---- what the identity signs ---- */

json_t *ob_cloud_identity_jwk(const struct ob_cloud_identity *identity)
{
	unsigned char x[OB_CLOUD_COORD_BYTES];
	unsigned char y[OB_CLOUD_COORD_BYTES];
	char x_b64[OB_BASE64URL_CHARS(OB_CLOUD_COORD_BYTES) + 1];
	char y_b64[OB_BASE64URL_CHARS(OB_CLOUD_COORD_BYTES) + 1];

	if (ob_cloud_key_public_xy(identity->key, x, y) != 0)
		return NULL;
	ob_base64url_encode(x, sizeof(x), x_b64);
	ob_base64url_encode(y, sizeof(y), y_b64);
	return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x_b64, "y",
			 y_b64);
}

/* Signs a payload object (borrowed) under a header object (borrowed). */
static int sign_json(const struct ob_cloud_identity *identity, const json_t *header,
		     const json_t *payload, char **out)
{
	char *text;
	int ret;

	*out = NULL;
	if (!header || !payload)
		return OB_ENOMEM;
	text = json_dumps(payload, JSON_COMPACT);
	if (!text)
		return OB_ENOMEM;
	ret = ob_cloud_jws_sign(identity->key, header, text, strlen(text), out);
	free(text);
	return ret;
}

/* An HTTP method as a request line writes it: 1 to 16 capital letters. */
static bool is_method(const char *method)
{
	size_t len = strlen(method);

	if (len < 1 || len > METHOD_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (method[i] < 'A' || method[i] > 'Z')
			return false;
	return true;
}

/* Printable ASCII without spaces, 1 to max characters. */
static bool is_visible(const char *text, size_t max)
{
	size_t len = strlen(text);

	if (len < 1 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (text[i] <= ' ' || text[i] > '~')
			return false;
	return true;
}

int ob_cloud_identity_device_token(const struct ob_cloud_identity *identity,
				   const char *audience, const char *method, const char *path,
				   int64_t now_s, char **out)
{
	char jti[OB_BASE64URL_CHARS(OB_CLOUD_JTI_BYTES) + 1];
	json_t *header = NULL;
	json_t *payload = NULL;
	int ret;

	*out = NULL;
	if (!identity || !audience || !method || !path || !is_visible(audience, AUDIENCE_MAX) ||
	    !is_method(method) || path[0] != '/' || !is_visible(path, HTU_MAX) || now_s < 0 ||
	    now_s > INT64_MAX - OB_CLOUD_DEVICE_TOKEN_TTL_S)
		return OB_EINVAL;
	ret = ob_random_base64url(jti, sizeof(jti), OB_CLOUD_JTI_BYTES);
	if (ret != 0)
		return OB_EIO;
	header = json_pack("{s:s, s:s, s:s}", "alg", OB_JWS_ALG, "typ", OB_CLOUD_DEVICE_TOKEN_TYP,
			   "kid", identity->device_id);
	payload = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "iss", identity->device_id,
			    "aud", audience, "iat", (json_int_t)now_s, "exp",
			    (json_int_t)(now_s + OB_CLOUD_DEVICE_TOKEN_TTL_S), "jti", jti, "htm",
			    method, "htu", path);
	ret = sign_json(identity, header, payload, out);
	json_decref(payload);
	json_decref(header);
	return ret;
}

int ob_cloud_identity_enrollment_jws(const struct ob_cloud_identity *identity,
				     const char *enrollment_token, const json_t *box,
				     int64_t now_s, char **out)
{
	json_t *header = NULL;
	json_t *payload = NULL;
	json_t *jwk;
	int ret;

	*out = NULL;
	if (!identity || !enrollment_token || !is_visible(enrollment_token, ENROLLMENT_TOKEN_MAX) ||
	    !json_is_object(box) || now_s < 0)
		return OB_EINVAL;
	jwk = ob_cloud_identity_jwk(identity);
	if (jwk)
		header = json_pack("{s:s, s:s, s:o}", "alg", OB_JWS_ALG, "typ", OB_CLOUD_ENROLL_TYP,
				   "jwk", jwk);
	payload = json_pack("{s:s, s:s, s:I, s:O}", "device_id", identity->device_id,
			    "enrollment_token", enrollment_token, "iat", (json_int_t)now_s, "box",
			    (json_t *)box);
	ret = sign_json(identity, header, payload, out);
	json_decref(payload);
	json_decref(header);
	return ret;
}
