"""HTTPS with --listen-tls: a self-signed certificate made on first use, and Secure cookies."""

import os
import socket
import ssl
import stat
import unittest

from ottbox import NEW_ADMIN_PASSWORD, BoxTestCase, parse_set_cookie, tls_context_for


class HttpsTest(BoxTestCase, unittest.TestCase):
    box_args = {"tls": True}
    login_admin = True

    @property
    def pem(self):
        return self.box.path("tls", "server.pem")

    def test_certificate_is_created_mode_0600(self):
        self.assertTrue(os.path.isfile(self.pem), "%s was not created" % self.pem)
        self.assertEqual(stat.S_IMODE(os.stat(self.pem).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.box.path("tls")).st_mode) & 0o077, 0,
                         "the tls directory is open to others")
        with open(self.pem) as f:
            text = f.read()
        self.assertIn("PRIVATE KEY-----", text)
        self.assertIn("-----BEGIN CERTIFICATE-----", text)

    def test_private_key_is_not_in_the_log(self):
        with open(self.pem) as f:
            key_lines = [line for line in f.read().split("-----END")[0].splitlines()
                         if line and not line.startswith("-----")]
        log = self.box.all_stderr() + self.box.all_stdout()
        for line in key_lines:
            self.assertNotIn(line, log)

    def test_health_over_https_without_verification(self):
        r = self.box.tls_client().get("/api/v1/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ok")

    def test_certificate_verifies_for_localhost(self):
        c = self.box.tls_client(host="localhost", ssl_context=tls_context_for(self.pem))
        r = c.get("/api/v1/health")
        self.assertEqual(r.status, 200, r)

    def test_certificate_verifies_for_127_0_0_1(self):
        c = self.box.tls_client(ssl_context=tls_context_for(self.pem))
        r = c.get("/api/v1/health")
        self.assertEqual(r.status, 200, r)

    def test_certificate_does_not_verify_for_another_name(self):
        ctx = tls_context_for(self.pem)
        with socket.create_connection(("127.0.0.1", self.box.tls_port), timeout=10) as sock:
            with self.assertRaises(ssl.SSLCertVerificationError):
                with ctx.wrap_socket(sock, server_hostname="not-this-box.example"):
                    pass

    def test_tls_1_2_or_newer_is_negotiated(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.box.tls_port), timeout=10) as sock:
            with ctx.wrap_socket(sock) as tls:
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))

    def test_login_over_tls_sets_a_secure_cookie(self):
        c = self.box.tls_client()
        r = c.login("admin", NEW_ADMIN_PASSWORD)
        self.assertEqual(r.status, 200, r)
        cookies = [parse_set_cookie(h) for h in r.set_cookies()]
        session = [attrs for name, _, attrs in cookies if name == "ob_session"]
        self.assertEqual(len(session), 1, r.set_cookies())
        self.assertIs(session[0].get("secure"), True, r.set_cookies())
        self.assertIs(session[0].get("httponly"), True, r.set_cookies())
        self.assertEqual(session[0].get("samesite", "").lower(), "strict")
        self.assertEqual(c.get("/api/v1/settings").status, 200)
        self.assertEqual(c.patch("/api/v1/settings", {"box_name": "over-tls"}).status, 200)

    def test_logout_over_tls_clears_the_cookie_with_the_secure_flag(self):
        c = self.box.tls_client()
        self.assertEqual(c.login("admin", NEW_ADMIN_PASSWORD).status, 200)
        r = c.logout()
        self.assertEqual(r.status, 204, r)
        cookies = [parse_set_cookie(h) for h in r.set_cookies()]
        cleared = [attrs for name, _, attrs in cookies if name == "ob_session"]
        self.assertEqual(len(cleared), 1, r.set_cookies())
        self.assertEqual(cleared[0].get("max-age"), "0")
        self.assertIs(cleared[0].get("secure"), True, r.set_cookies())

    def test_plain_http_still_answers_next_to_https(self):
        self.assertEqual(self.box.client().get("/api/v1/health").status, 200)

    def test_certificate_is_kept_across_a_restart(self):
        with open(self.pem, "rb") as f:
            before = f.read()
        self.box.restart()
        with open(self.pem, "rb") as f:
            self.assertEqual(f.read(), before)
        c = self.box.tls_client(ssl_context=tls_context_for(self.pem))
        self.assertEqual(c.get("/api/v1/health").status, 200)


if __name__ == "__main__":
    unittest.main()
