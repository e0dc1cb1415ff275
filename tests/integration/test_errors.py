"""Bad requests get a 4xx with {"error": {"code", "message"}} that says what to fix; none
of them gets a 5xx."""

import http.client
import socket
import unittest

from ottbox import BoxTestCase, assert_error

LIMIT = 64 * 1024


class ErrorsTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.box.create_apikey("errors", "admin")
        cls.clients = [cls.admin]

    def api(self):
        c = self.box.client(api_key=self.key)
        self.clients.append(c)
        return c

    def tearDown(self):
        server_errors = []
        for c in self.clients:
            server_errors += ["%s %s answered %d" % h for h in c.history if h[2] >= 500]
            c.history.clear()
        self.assertEqual(server_errors, [], "a bad request got a 5xx")

    def patch_settings(self, raw, **kw):
        return self.api().patch("/api/v1/settings", raw=raw, **kw)

    def test_malformed_json_is_400_with_a_message(self):
        for raw in ('{"box_name": ', "{'box_name': 'x'}", '{"box_name": "x",}', "nope"):
            with self.subTest(body=raw):
                r = self.patch_settings(raw)
                assert_error(self, r, 400, "invalid_json", mentions=["JSON"])

    def test_empty_body_is_400(self):
        assert_error(self, self.patch_settings(""), 400, "invalid_json")

    def test_body_that_is_not_an_object_is_400(self):
        r = self.patch_settings("[1, 2]")
        assert_error(self, r, 400, mentions=["object", "array"])
        for raw in ('"box"', "42", "null", "true"):
            with self.subTest(body=raw):
                r = self.patch_settings(raw)
                message = assert_error(self, r, 400)
                self.assertTrue("object" in message or "'{'" in message,
                                "the message does not say an object is expected: " + message)

    def test_wrong_type_is_400_naming_the_field(self):
        r = self.api().patch("/api/v1/settings", {"session_idle_timeout_s": "x"})
        assert_error(self, r, 400, "invalid", mentions=["session_idle_timeout_s", "integer"])
        r = self.api().patch("/api/v1/settings", {"box_name": 7})
        assert_error(self, r, 400, "invalid", mentions=["box_name", "string"])
        r = self.api().patch("/api/v1/settings", {"log_level": True})
        assert_error(self, r, 400, "invalid", mentions=["log_level"])
        r = self.api().patch("/api/v1/settings", {"session_idle_timeout_s": 600.5})
        assert_error(self, r, 400, "invalid", mentions=["session_idle_timeout_s"])
        r = self.api().post("/api/v1/users", {"name": "typed", "role": "viewer",
                                              "password": 12345678})
        assert_error(self, r, 400, "invalid", mentions=["password", "string"])

    def test_unknown_field_is_400_naming_it(self):
        r = self.api().patch("/api/v1/settings", {"box_nmae": "typo"})
        assert_error(self, r, 400, "invalid", mentions=["box_nmae", "box_name"])
        r = self.api().post("/api/v1/apikeys", {"name": "k", "role": "viewer", "scope": "all"})
        assert_error(self, r, 400, "invalid", mentions=["scope"])

    def test_out_of_bounds_value_is_400_naming_the_field_and_bounds(self):
        for value in (59, 86401, -1):
            with self.subTest(value=value):
                r = self.api().patch("/api/v1/settings", {"session_idle_timeout_s": value})
                assert_error(self, r, 400, "invalid",
                             mentions=["session_idle_timeout_s", "60", "86400"])
        r = self.api().patch("/api/v1/settings", {"login_free_attempts": 0})
        assert_error(self, r, 400, "invalid", mentions=["login_free_attempts", "1", "20"])
        r = self.api().patch("/api/v1/settings", {"box_name": "x" * 64})
        assert_error(self, r, 400, "invalid", mentions=["box_name", "63"])
        r = self.api().patch("/api/v1/settings", {"box_name": ""})
        assert_error(self, r, 400, "invalid", mentions=["box_name"])
        r = self.api().patch("/api/v1/settings", {"log_level": "verbose"})
        assert_error(self, r, 400, "invalid", mentions=["log_level", "debug"])

    def test_huge_integer_is_400(self):
        r = self.patch_settings('{"session_idle_timeout_s": 99999999999999999999999}')
        self.assertEqual(r.status, 400, r)
        assert_error(self, r, 400)

    def test_refused_patch_changes_nothing(self):
        before = self.api().get("/api/v1/settings").json
        r = self.api().patch("/api/v1/settings", {"box_name": "half-applied",
                                                  "session_idle_timeout_s": 1})
        assert_error(self, r, 400, "invalid", mentions=["session_idle_timeout_s"])
        self.assertEqual(self.api().get("/api/v1/settings").json, before)

    def test_contradicting_settings_are_400(self):
        r = self.api().patch("/api/v1/settings", {"session_idle_timeout_s": 7200,
                                                  "session_absolute_timeout_s": 3600})
        assert_error(self, r, 400, "invalid", mentions=["session_absolute_timeout_s"])

    def test_duplicate_keys_are_400(self):
        r = self.patch_settings('{"box_name": "a", "box_name": "b"}')
        assert_error(self, r, 400, "invalid_json")

    def test_invalid_utf8_is_400(self):
        r = self.patch_settings(b'{"box_name": "\xff\xfe"}')
        assert_error(self, r, 400, "invalid_json")

    def test_control_characters_in_box_name_are_400(self):
        r = self.api().patch("/api/v1/settings", {"box_name": "two\nlines"})
        assert_error(self, r, 400, "invalid", mentions=["box_name"])

    def test_empty_patch_is_400(self):
        r = self.api().patch("/api/v1/settings", {})
        assert_error(self, r, 400, "invalid")

    def test_missing_required_field_is_400_naming_it(self):
        r = self.api().post("/api/v1/users", {"name": "nopass", "role": "viewer"})
        assert_error(self, r, 400, "invalid", mentions=["password", "required"])

    def test_body_over_64_kib_is_413(self):
        body = '{"box_name": "%s"}' % ("x" * LIMIT)
        self.assertGreater(len(body), LIMIT)
        try:
            r = self.patch_settings(body)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.fail("the daemon dropped the connection instead of answering 413: %s" % e)
        assert_error(self, r, 413, "too_large", mentions=[str(LIMIT)])

    def test_body_of_exactly_64_kib_is_read(self):
        head = '{"box_name": "exactly-64-kib"'
        body = head + " " * (LIMIT - len(head) - 1) + "}"
        self.assertEqual(len(body), LIMIT)
        r = self.patch_settings(body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["box_name"], "exactly-64-kib")

    def test_chunked_body_over_64_kib_is_413(self):
        body = ('{"box_name": "%s"}' % ("x" * LIMIT)).encode()
        sock = socket.create_connection(("127.0.0.1", self.box.port), timeout=10)
        try:
            head = ("PATCH /api/v1/settings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % self.key)
            sock.sendall(head.encode())
            try:
                for i in range(0, len(body), 8192):
                    chunk = body[i:i + 8192]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon may answer before it has read everything
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            data = resp.read()
        finally:
            sock.close()
        self.assertEqual(resp.status, 413, data)
        self.assertIn(b"too_large", data)

    def test_unknown_route_is_404(self):
        for path in ("/api/v1/nothing-here", "/api/v1/users/admin/extra", "/api/v2/health",
                     "/api/v1/" + "x" * 600):
            with self.subTest(path=path[:40]):
                r = self.api().get(path)
                assert_error(self, r, 404, "not_found", mentions=["no such endpoint"])

    def test_unknown_route_is_404_even_without_auth(self):
        r = self.box.client().get("/api/v1/nothing-here")
        assert_error(self, r, 404, "not_found")

    def test_trailing_slash_names_the_same_route(self):
        self.assertEqual(self.api().get("/api/v1/settings/").status, 200)

    def test_wrong_method_is_405_with_an_allow_header(self):
        r = self.api().put("/api/v1/settings", {"box_name": "put"})
        assert_error(self, r, 405, "method_not_allowed")
        allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
        self.assertEqual(allow, {"GET", "PATCH"}, r.headers)
        r = self.api().delete("/api/v1/health")
        assert_error(self, r, 405, "method_not_allowed")
        self.assertEqual({m.strip() for m in r.header("Allow").split(",")}, {"GET"})
        r = self.api().post("/api/v1/users/admin", {})
        assert_error(self, r, 405)
        self.assertEqual({m.strip() for m in r.header("Allow").split(",")},
                         {"GET", "PATCH", "DELETE"})

    def test_missing_content_type_is_415(self):
        r = self.api().patch("/api/v1/settings", {"box_name": "untyped"}, content_type=None)
        assert_error(self, r, 415, "unsupported_media_type", mentions=["application/json"])

    def test_wrong_content_type_is_415(self):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "json"):
            with self.subTest(content_type=ctype):
                r = self.api().patch("/api/v1/settings", {"box_name": "typed"},
                                     content_type=ctype)
                assert_error(self, r, 415, "unsupported_media_type")

    def test_content_type_that_only_starts_with_application_json_is_415(self):
        for ctype in ("application/jsonp", "application/json-seq", "application/json5"):
            with self.subTest(content_type=ctype):
                r = self.api().patch("/api/v1/settings", {"box_name": "jsonp"},
                                     content_type=ctype)
                assert_error(self, r, 415, "unsupported_media_type")

    def test_json_with_a_charset_is_accepted(self):
        r = self.api().patch("/api/v1/settings", {"box_name": "charset"},
                             content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 200, r)

    def test_session_client_gets_the_same_error_shapes(self):
        r = self.admin.patch("/api/v1/settings", {"session_idle_timeout_s": "x"})
        assert_error(self, r, 400, "invalid", mentions=["session_idle_timeout_s"])
        r = self.admin.patch("/api/v1/settings", raw="{", content_type="application/json")
        assert_error(self, r, 400, "invalid_json")

    def test_bad_query_parameter_is_400_naming_it(self):
        for query in ("limit=0", "limit=1001", "limit=ten", "limit=", "before=-5"):
            with self.subTest(query=query):
                r = self.api().get("/api/v1/audit?" + query)
                assert_error(self, r, 400, "invalid", mentions=[query.split("=")[0]])

    def test_malformed_authorization_is_401(self):
        for value in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "Bearer obk_nope",
                      "Bearer " + "obk_" + "g" * 16 + "_" + "A" * 43):
            with self.subTest(authorization=value):
                r = self.box.client().get("/api/v1/settings",
                                          headers={"Authorization": value})
                assert_error(self, r, 401, "unauthenticated")

    def test_head_and_options_are_405(self):
        for method in ("HEAD", "OPTIONS"):
            with self.subTest(method=method):
                r = self.api().request(method, "/api/v1/settings")
                self.assertEqual(r.status, 405, r)
                self.assertEqual({m.strip() for m in r.header("Allow").split(",")},
                                 {"GET", "PATCH"})

    def test_missing_credentials_answer_401_with_www_authenticate(self):
        r = self.box.client().get("/api/v1/settings")
        assert_error(self, r, 401, "unauthenticated")
        self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="ottbox"')
        r = self.box.client(api_key="obk_nope").get("/api/v1/settings")
        assert_error(self, r, 401, "unauthenticated")
        self.assertEqual(r.header("WWW-Authenticate"), 'Bearer realm="ottbox"')

    def test_body_is_checked_only_after_authentication(self):
        anonymous = self.box.client()
        self.clients.append(anonymous)
        r = anonymous.patch("/api/v1/settings", raw="{not json")
        assert_error(self, r, 401, "unauthenticated")
        r = anonymous.patch("/api/v1/settings", {"box_name": "x"}, content_type="text/plain")
        assert_error(self, r, 401, "unauthenticated")
        r = anonymous.patch("/api/v1/settings", raw="x" * (LIMIT + 1))
        assert_error(self, r, 401, "unauthenticated")

    def test_body_is_checked_only_after_authorization(self):
        viewer = self.box.client(api_key=self.box.create_apikey("errors-viewer", "viewer"))
        self.clients.append(viewer)
        r = viewer.patch("/api/v1/settings", raw="{not json")
        assert_error(self, r, 403, "forbidden")
        r = viewer.patch("/api/v1/settings", {"nonsense": 1})
        assert_error(self, r, 403, "forbidden")

    def test_errors_are_not_cached(self):
        r = self.box.client().get("/api/v1/settings")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertTrue(r.header("Content-Type").startswith("application/json"))


if __name__ == "__main__":
    unittest.main()
