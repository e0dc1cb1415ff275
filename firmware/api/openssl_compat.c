/* A shim that CivetWeb loads in place of libssl.so (found through ottboxd's RPATH).
 *
 * Debian 12's libcivetweb 1.15 loads OpenSSL at run time with dlopen("libssl.so") and looks
 * up SSL_get_peer_certificate, which OpenSSL 3 no longer exports (it became a macro for
 * SSL_get1_peer_certificate). CivetWeb keeps the NULL pointer and calls it after every TLS
 * handshake, which kills the process. This library exports that one function and depends
 * on the real libssl.so.3 and libcrypto.so.3, so every other lookup through its handle finds
 * OpenSSL's own symbols. It is built only with CONFIG_HTTPS. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

X509 *SSL_get_peer_certificate(const SSL *ssl);

/* Same contract as in OpenSSL 1.1: the caller owns a reference and frees it with X509_free. */
X509 *SSL_get_peer_certificate(const SSL *ssl)
{
	return SSL_get1_peer_certificate(ssl);
}
