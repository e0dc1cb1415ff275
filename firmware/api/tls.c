#include <dlfcn.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/api.h"
#include "api/internal.h"
#include "core/err.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"

#define MODULE "tls"
#define PEM_MAX 8192

/* Appends one GeneralName (context tag, short length) to the SAN buffer. */
static int san_append(unsigned char *buf, size_t cap, size_t *used, unsigned char tag,
		      const void *value, size_t len)
{
	if (len > 127 || *used + 2 + len > cap)
		return OB_ETOOBIG;
	buf[(*used)++] = tag;
	buf[(*used)++] = (unsigned char)len;
	memcpy(buf + *used, value, len);
	*used += len;
	return 0;
}

static bool is_dns_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* DER of SubjectAltName: the host name, localhost and 127.0.0.1. */
static int build_san(const char *host, unsigned char *out, size_t cap, size_t *out_len)
{
	static const unsigned char loopback[4] = { 127, 0, 0, 1 };
	unsigned char names[200];
	size_t used = 0;
	int ret = 0;

	if (is_dns_name(host) && strcmp(host, "localhost") != 0)
		ret = san_append(names, sizeof(names), &used, 0x82, host, strlen(host));
	if (ret == 0)
		ret = san_append(names, sizeof(names), &used, 0x82, "localhost", 9);
	if (ret == 0)
		ret = san_append(names, sizeof(names), &used, 0x87, loopback, sizeof(loopback));
	if (ret != 0 || used > 127 || used + 2 > cap)
		return OB_ETOOBIG;
	out[0] = 0x30; /* SEQUENCE */
	out[1] = (unsigned char)used;
	memcpy(out + 2, names, used);
	*out_len = used + 2;
	return 0;
}

static void validity_stamp(time_t when, char out[15])
{
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

static int generate(const char *host, unsigned char *pem, size_t pem_cap, char *err,
		    size_t err_len)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	unsigned char serial_raw[16];
	unsigned char san[256];
	size_t san_len = 0;
	char subject[128];
	char not_before[15];
	char not_after[15];
	time_t now = time(NULL);
	size_t key_len;
	int rc;
	int ret = OB_EIO;

	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (rc == 0)
		rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
					 ob_random_mbedtls, NULL);
	if (rc != 0) {
		snprintf(err, err_len, "TLS key generation failed (mbedTLS -0x%04x)", -rc);
		goto out_free;
	}
	if (ob_random_bytes(serial_raw, sizeof(serial_raw)) != 0)
		goto out_free;
	serial_raw[0] &= 0x7f; /* a positive serial number */
	serial_raw[0] |= 0x40;
	snprintf(subject, sizeof(subject), "CN=%s,O=ottbox", is_dns_name(host) ? host : "ottbox");
	validity_stamp(now - 86400, not_before);
	validity_stamp(now + 10L * 365 * 86400, not_after);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	rc = mbedtls_mpi_read_binary(&serial, serial_raw, sizeof(serial_raw));
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_serial(&crt, &serial);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_subject_name(&crt, subject);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_issuer_name(&crt, subject);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_validity(&crt, not_before, not_after);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
								MBEDTLS_X509_KU_KEY_AGREEMENT);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_subject_key_identifier(&crt);
	if (rc == 0 && build_san(host, san, sizeof(san), &san_len) == 0)
		rc = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
							 MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
							 0, san, san_len);
	if (rc == 0)
		rc = mbedtls_pk_write_key_pem(&key, pem, pem_cap);
	if (rc == 0) {
		key_len = strlen((char *)pem);
		rc = mbedtls_x509write_crt_pem(&crt, pem + key_len, pem_cap - key_len,
					       ob_random_mbedtls, NULL);
	}
	if (rc != 0) {
		snprintf(err, err_len, "TLS certificate generation failed (mbedTLS -0x%04x)", -rc);
		goto out_free;
	}
	ret = 0;
out_free:
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return ret;
}

int ob_api_tls_ensure_cert(const char *data_dir, const char *host_name, char *path_out,
			   size_t path_len, char *err, size_t err_len)
{
	unsigned char pem[PEM_MAX] = { 0 };
	char dir[4200];
	struct stat st;
	int ret;

	if (snprintf(dir, sizeof(dir), "%s/tls", data_dir) >= (int)sizeof(dir) ||
	    snprintf(path_out, path_len, "%s/server.pem", dir) >= (int)path_len) {
		snprintf(err, err_len, "data directory path is too long: %s", data_dir);
		return OB_EINVAL;
	}
	if (stat(path_out, &st) == 0)
		return 0;
	if (ob_mkdir_p(dir, 0700) != 0) {
		snprintf(err, err_len, "cannot create %s", dir);
		return OB_EIO;
	}
	ret = generate(host_name, pem, sizeof(pem), err, err_len);
	if (ret == 0) {
		ret = ob_write_file_atomic(path_out, pem, strlen((char *)pem), 0600);
		if (ret != 0)
			snprintf(err, err_len, "cannot write %s", path_out);
	}
	ob_secure_zero(pem, sizeof(pem));
	if (ret == 0)
		ob_info(MODULE, "made a self-signed certificate for %s in %s; install your own "
			"there (key and certificate in one PEM file) to replace it",
			host_name, path_out);
	return ret;
}

int ob_api_tls_check_runtime(char *err, size_t err_len)
{
	/* The same name and search CivetWeb uses (our RPATH first, then the system). */
	void *ssl = dlopen("libssl.so", RTLD_LAZY | RTLD_LOCAL);
	int ret = 0;

	if (!ssl) {
		snprintf(err, err_len,
			 "HTTPS needs OpenSSL's libssl.so, which CivetWeb loads at run time, and "
			 "none loads (%s); keep lib/ottbox/libssl.so beside bin/ottboxd as `make` "
			 "lays it out",
			 dlerror());
		return OB_EUNSUPPORTED;
	}
	if (!dlsym(ssl, "SSL_get_peer_certificate")) {
		snprintf(err, err_len,
			 "the libssl.so that loads lacks SSL_get_peer_certificate, which CivetWeb "
			 "calls on every TLS connection (OpenSSL 3 dropped it); keep "
			 "lib/ottbox/libssl.so from the build beside bin/ottboxd");
		ret = OB_EUNSUPPORTED;
	}
	dlclose(ssl);
	return ret;
}

static void x509_time_iso(const mbedtls_x509_time *t, char *out, size_t len)
{
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", t->year, t->mon, t->day, t->hour,
		 t->min, t->sec);
}

json_t *ob_api_tls_cert_info(const char *path)
{
	mbedtls_x509_crt crt;
	unsigned char digest[32];
	char hex[65];
	char subject[256];
	char issuer[256];
	char not_before[32];
	char not_after[32];
	json_t *out = NULL;

	mbedtls_x509_crt_init(&crt);
	if (!path || !path[0] || mbedtls_x509_crt_parse_file(&crt, path) != 0)
		goto out_free;
	if (mbedtls_x509_dn_gets(subject, sizeof(subject), &crt.subject) < 0)
		ob_strlcpy(subject, "?", sizeof(subject));
	if (mbedtls_x509_dn_gets(issuer, sizeof(issuer), &crt.issuer) < 0)
		ob_strlcpy(issuer, "?", sizeof(issuer));
	x509_time_iso(&crt.valid_from, not_before, sizeof(not_before));
	x509_time_iso(&crt.valid_to, not_after, sizeof(not_after));
	if (mbedtls_sha256_ret(crt.raw.p, crt.raw.len, digest, 0) != 0)
		goto out_free;
	ob_hex_encode(digest, sizeof(digest), hex);
	out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "subject", subject, "issuer", issuer,
			"not_before", not_before, "not_after", not_after, "sha256", hex,
			"self_signed",
			crt.subject_raw.len == crt.issuer_raw.len &&
				memcmp(crt.subject_raw.p, crt.issuer_raw.p, crt.subject_raw.len) == 0);
out_free:
	mbedtls_x509_crt_free(&crt);
	return out;
}
