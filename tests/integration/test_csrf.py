"""Cookie-authenticated changes need the session's X-CSRF-Token."""

import unittest

from ottbox import BoxTestCase, assert_error


class CsrfTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    def box_name(self):
        return self.admin.get("/api/v1/settings").json["box_name"]

    def test_patch_without_the_token_is_403_csrf(self):
        before = self.box_name()
        r = self.admin.patch("/api/v1/settings", {"box_name": "csrf-missing"}, csrf=False)
        assert_error(self, r, 403, "csrf", mentions=["X-CSRF-Token"])
        self.assertEqual(self.box_name(), before)

    def test_patch_with_a_wrong_token_is_403_csrf(self):
        before = self.box_name()
        token = self.admin.csrf_token
        wrong = ("0" if token[0] != "0" else "1") + token[1:]
        for bad in (wrong, token.upper() if token.upper() != token else "f" * 32, token[:-1],
                    token + "0", ""):
            with self.subTest(token=bad):
                r = self.admin.patch("/api/v1/settings", {"box_name": "csrf-wrong"}, csrf=False,
                                     headers={"X-CSRF-Token": bad})
                assert_error(self, r, 403, "csrf")
        self.assertEqual(self.box_name(), before)

    def test_another_sessions_token_is_refused(self):
        other = self.box.admin()
        self.assertNotEqual(other.csrf_token, self.admin.csrf_token)
        r = self.admin.patch("/api/v1/settings", {"box_name": "csrf-other"}, csrf=False,
                             headers={"X-CSRF-Token": other.csrf_token})
        assert_error(self, r, 403, "csrf")

    def test_patch_with_the_right_token_is_200(self):
        r = self.admin.patch("/api/v1/settings", {"box_name": "csrf-right"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["box_name"], "csrf-right")
        self.assertEqual(self.box_name(), "csrf-right")

    def test_session_answer_repeats_the_token(self):
        r = self.admin.get("/api/v1/session")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["csrf_token"], self.admin.csrf_token)

    def test_reads_need_no_token(self):
        r = self.admin.get("/api/v1/settings", csrf=False)
        self.assertEqual(r.status, 200, r)

    def test_logout_without_the_token_is_refused(self):
        c = self.box.admin()
        r = c.delete("/api/v1/session", csrf=False)
        assert_error(self, r, 403, "csrf")
        self.assertEqual(c.get("/api/v1/session").status, 200)

    def test_other_changes_without_the_token_are_refused(self):
        r = self.admin.post("/api/v1/users", {"name": "csrf-user", "role": "admin",
                                              "password": "a decent passphrase"}, csrf=False)
        assert_error(self, r, 403, "csrf")
        r = self.admin.post("/api/v1/apikeys", {"name": "csrf-key", "role": "admin"},
                            csrf=False)
        assert_error(self, r, 403, "csrf")
        assert_error(self, self.admin.get("/api/v1/users/csrf-user"), 404, "not_found")
        self.assertEqual(self.admin.get("/api/v1/apikeys").json["apikeys"], [])


if __name__ == "__main__":
    unittest.main()
