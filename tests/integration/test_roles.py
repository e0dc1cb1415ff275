"""Roles (viewer, operator, admin) for users and API keys, and the user/key admin API."""

import json
import unittest

from ottbox import BoxTestCase, assert_error

PASSWORD = "roles test passphrase"
OTHER_PASSWORD = "another fine passphrase"


class RolesTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Made with the CLI: no forced password change.
        cls.box.add_user("cli-viewer", "viewer", PASSWORD)
        cls.box.add_user("cli-operator", "operator", PASSWORD)
        cls.box.add_user("cli-admin", "admin", PASSWORD)

    def login(self, name, password=PASSWORD):
        c = self.box.client()
        r = c.login(name, password)
        self.assertEqual(r.status, 200, r)
        return c

    # ---- users ----

    def test_admin_creates_users_of_each_role(self):
        for role in ("viewer", "operator", "admin"):
            with self.subTest(role=role):
                name = "api-" + role
                r = self.admin.post("/api/v1/users", {"name": name, "role": role,
                                                      "password": PASSWORD})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json["name"], name)
                self.assertEqual(r.json["role"], role)
                self.assertIs(r.json["must_change_password"], True)
                self.assertIs(r.json["disabled"], False)
                self.assertNotIn("password", r.json)
                self.assertNotIn("password_hash", r.json)
                self.assertNotIn(b"argon2", r.raw)
                r = self.admin.get("/api/v1/users/" + name)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["role"], role)
                r = self.box.client().login(name, PASSWORD)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["role"], role)
        names = [u["name"] for u in self.admin.get("/api/v1/users").json["users"]]
        for role in ("viewer", "operator", "admin"):
            self.assertIn("api-" + role, names)

    def test_cli_creates_users_of_each_role(self):
        for role in ("viewer", "operator", "admin"):
            with self.subTest(role=role):
                r = self.login("cli-" + role)
                self.assertEqual(r.get("/api/v1/session").json["role"], role)
        users = {u["name"]: u for u in json.loads(self.box.cli_ok("user", "list").stdout)}
        self.assertEqual(users["cli-operator"]["role"], "operator")
        self.assertIs(users["cli-operator"]["must_change_password"], False)

    def test_cli_refuses_an_unknown_role(self):
        r = self.box.cli("user", "add", "cli-root", "--role", "root", "--password-stdin",
                         input=PASSWORD + "\n")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("role", r.stderr)

    def test_api_refuses_an_unknown_role(self):
        r = self.admin.post("/api/v1/users", {"name": "rooty", "role": "root",
                                              "password": PASSWORD})
        assert_error(self, r, 400, "invalid", mentions=["role", "viewer", "operator", "admin"])

    def test_creating_a_user_twice_is_409(self):
        r = self.admin.post("/api/v1/users", {"name": "cli-viewer", "role": "viewer",
                                              "password": PASSWORD})
        assert_error(self, r, 409, mentions=["cli-viewer"])

    def test_user_name_rules_are_checked(self):
        r = self.admin.post("/api/v1/users", {"name": "Bad Name", "role": "viewer",
                                              "password": PASSWORD})
        assert_error(self, r, 400, "invalid", mentions=["name"])

    def test_viewer_reads_settings_but_cannot_change_them(self):
        c = self.login("cli-viewer")
        self.assertEqual(c.get("/api/v1/settings").status, 200)
        self.assertEqual(c.get("/api/v1/settings/schema").status, 200)
        self.assertEqual(c.get("/api/v1/system").status, 200)
        r = c.patch("/api/v1/settings", {"box_name": "viewer-was-here"})
        assert_error(self, r, 403, "forbidden", mentions=["admin"])
        self.assertNotEqual(c.get("/api/v1/settings").json["box_name"], "viewer-was-here")

    def test_viewer_cannot_manage_users_or_keys(self):
        c = self.login("cli-viewer")
        assert_error(self, c.get("/api/v1/users"), 403, "forbidden")
        assert_error(self, c.get("/api/v1/apikeys"), 403, "forbidden")
        assert_error(self, c.get("/api/v1/audit"), 403, "forbidden")
        r = c.post("/api/v1/users", {"name": "viewer-made", "role": "admin",
                                     "password": PASSWORD})
        assert_error(self, r, 403, "forbidden")
        r = c.patch("/api/v1/users/cli-viewer", {"role": "admin"})
        assert_error(self, r, 403, "forbidden")
        self.assertEqual(c.get("/api/v1/session").json["role"], "viewer")

    def test_operator_cannot_change_settings_nor_list_users(self):
        c = self.login("cli-operator")
        self.assertEqual(c.get("/api/v1/settings").status, 200)
        r = c.patch("/api/v1/settings", {"box_name": "operator-was-here"})
        assert_error(self, r, 403, "forbidden")
        assert_error(self, c.get("/api/v1/users"), 403, "forbidden")
        r = c.post("/api/v1/apikeys", {"name": "operator-key", "role": "admin"})
        assert_error(self, r, 403, "forbidden")

    def test_admin_changes_settings_and_lists_users(self):
        c = self.login("cli-admin")
        r = c.patch("/api/v1/settings", {"box_name": "admin-was-here"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["box_name"], "admin-was-here")
        self.assertEqual(c.get("/api/v1/settings").json["box_name"], "admin-was-here")
        r = c.get("/api/v1/users")
        self.assertEqual(r.status, 200, r)
        self.assertIn("cli-admin", [u["name"] for u in r.json["users"]])

    def test_user_a_admin_sets_a_password_for_must_change_it(self):
        self.box.add_user("reset-me", "viewer", PASSWORD)
        r = self.admin.patch("/api/v1/users/reset-me", {"password": OTHER_PASSWORD})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], True)
        c = self.box.client()
        r = c.login("reset-me", OTHER_PASSWORD)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], True)
        assert_error(self, c.get("/api/v1/settings"), 403, "password_change_required")
        self.assertEqual(c.change_password(OTHER_PASSWORD, "chosen by the user").status, 204)
        self.assertEqual(c.get("/api/v1/settings").status, 200)
        assert_error(self, self.box.client().login("reset-me", PASSWORD), 401)

    def test_user_an_admin_creates_must_change_the_password(self):
        r = self.admin.post("/api/v1/users", {"name": "newbie", "role": "operator",
                                              "password": PASSWORD})
        self.assertEqual(r.status, 201, r)
        c = self.box.client()
        r = c.login("newbie", PASSWORD)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], True)
        assert_error(self, c.get("/api/v1/settings"), 403, "password_change_required")

    def test_password_reset_ends_the_users_sessions(self):
        self.box.add_user("kicked", "viewer", PASSWORD)
        c = self.login("kicked")
        self.assertEqual(self.admin.patch("/api/v1/users/kicked",
                                          {"password": OTHER_PASSWORD}).status, 200)
        assert_error(self, c.get("/api/v1/settings"), 401, "unauthenticated")

    def test_role_change_takes_effect_at_once(self):
        self.box.add_user("promoted", "viewer", PASSWORD)
        c = self.login("promoted")
        assert_error(self, c.get("/api/v1/users"), 403, "forbidden")
        r = self.admin.patch("/api/v1/users/promoted", {"role": "admin"})
        self.assertEqual(r.status, 200, r)
        # The old session carried the old role: it must not keep it.
        r = c.get("/api/v1/settings")
        self.assertIn(r.status, (200, 401), r)
        if r.status == 200:
            self.assertEqual(c.get("/api/v1/session").json["role"], "admin")
        self.assertEqual(self.login("promoted").get("/api/v1/users").status, 200)

    def test_disabled_user_cannot_log_in(self):
        self.box.add_user("sleepy", "viewer", PASSWORD)
        c = self.login("sleepy")
        r = self.admin.patch("/api/v1/users/sleepy", {"disabled": True})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["disabled"], True)
        assert_error(self, c.get("/api/v1/settings"), 401, "unauthenticated")
        assert_error(self, self.box.client().login("sleepy", PASSWORD), 403, "account_disabled")

    def test_deleted_user_cannot_log_in(self):
        self.box.add_user("leaving", "viewer", PASSWORD)
        c = self.login("leaving")
        r = self.admin.delete("/api/v1/users/leaving")
        self.assertEqual(r.status, 204, r)
        assert_error(self, c.get("/api/v1/settings"), 401, "unauthenticated")
        assert_error(self, self.box.client().login("leaving", PASSWORD), 401)
        assert_error(self, self.admin.get("/api/v1/users/leaving"), 404, "not_found")
        assert_error(self, self.admin.delete("/api/v1/users/leaving"), 404, "not_found")

    # ---- API keys ----

    def create_key(self, name, role):
        r = self.admin.post("/api/v1/apikeys", {"name": name, "role": role})
        self.assertEqual(r.status, 201, r)
        return r.json

    def test_api_key_is_shown_once(self):
        created = self.create_key("shown-once", "viewer")
        self.assertRegex(created["key"], r"^obk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
        self.assertEqual(created["role"], "viewer")
        self.assertEqual(created["name"], "shown-once")
        self.assertEqual(created["created_by"], "user:admin")
        self.assertIn(created["id"], created["key"])
        r = self.admin.get("/api/v1/apikeys")
        self.assertEqual(r.status, 200, r)
        listed = [k for k in r.json["apikeys"] if k["id"] == created["id"]]
        self.assertEqual(len(listed), 1, r.json)
        self.assertNotIn("key", listed[0])
        secret = created["key"].rsplit("_", 1)[1]
        self.assertNotIn(secret.encode(), r.raw)
        self.assertNotIn(secret, self.box.cli_ok("apikey", "list").stdout)
        audit = self.admin.get("/api/v1/audit?limit=1000")
        self.assertNotIn(secret.encode(), audit.raw)

    def test_api_keys_carry_their_role(self):
        keys = {role: self.create_key("role-" + role, role)["key"]
                for role in ("viewer", "operator", "admin")}
        viewer = self.box.client(api_key=keys["viewer"])
        operator = self.box.client(api_key=keys["operator"])
        admin = self.box.client(api_key=keys["admin"])
        for c in (viewer, operator, admin):
            self.assertEqual(c.get("/api/v1/settings").status, 200)
        assert_error(self, viewer.patch("/api/v1/settings", {"box_name": "k"}), 403,
                     "forbidden")
        assert_error(self, operator.patch("/api/v1/settings", {"box_name": "k"}), 403,
                     "forbidden")
        assert_error(self, viewer.get("/api/v1/users"), 403, "forbidden")
        assert_error(self, operator.get("/api/v1/users"), 403, "forbidden")
        self.assertEqual(admin.get("/api/v1/users").status, 200)
        self.assertEqual(admin.patch("/api/v1/settings", {"box_name": "key-admin"}).status, 200)
        r = operator.get("/api/v1/session")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["role"], "operator")
        self.assertEqual(r.json["via"], "apikey")

    def test_cli_api_key_carries_its_role(self):
        key = self.box.create_apikey("cli-key", "viewer")
        self.assertRegex(key, r"^obk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
        c = self.box.client(api_key=key)
        self.assertEqual(c.get("/api/v1/settings").status, 200)
        assert_error(self, c.patch("/api/v1/settings", {"box_name": "x"}), 403, "forbidden")

    def test_bearer_requests_need_no_csrf_header(self):
        key = self.create_key("no-csrf", "admin")["key"]
        c = self.box.client(api_key=key)
        self.assertIsNone(c.csrf_token)
        r = c.patch("/api/v1/settings", {"box_name": "bearer-no-csrf"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["box_name"], "bearer-no-csrf")

    def test_deleted_api_key_gets_401(self):
        created = self.create_key("short-lived", "admin")
        c = self.box.client(api_key=created["key"])
        self.assertEqual(c.get("/api/v1/settings").status, 200)
        r = self.admin.delete("/api/v1/apikeys/" + created["id"])
        self.assertEqual(r.status, 204, r)
        assert_error(self, c.get("/api/v1/settings"), 401, "unauthenticated")
        ids = [k["id"] for k in self.admin.get("/api/v1/apikeys").json["apikeys"]]
        self.assertNotIn(created["id"], ids)
        assert_error(self, self.admin.delete("/api/v1/apikeys/" + created["id"]), 404,
                     "not_found")

    def test_cli_revoked_api_key_gets_401(self):
        key = self.box.create_apikey("cli-revoked", "viewer")
        c = self.box.client(api_key=key)
        self.assertEqual(c.get("/api/v1/settings").status, 200)
        self.box.cli_ok("apikey", "revoke", key[4:20])
        assert_error(self, c.get("/api/v1/settings"), 401, "unauthenticated")

    def test_api_key_with_a_wrong_secret_gets_401(self):
        created = self.create_key("tampered", "admin")
        key = created["key"]
        tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
        assert_error(self, self.box.client(api_key=tampered).get("/api/v1/settings"), 401,
                     "unauthenticated")

    def test_api_key_cannot_use_session_only_routes(self):
        key = self.create_key("not-a-session", "admin")["key"]
        c = self.box.client(api_key=key)
        assert_error(self, c.delete("/api/v1/session"), 403, "forbidden")
        assert_error(self, c.post("/api/v1/session/password",
                                  {"current_password": "x", "new_password": "y"}),
                     403, "forbidden")

    def test_api_key_needs_a_name_and_a_known_role(self):
        assert_error(self, self.admin.post("/api/v1/apikeys", {"name": "", "role": "admin"}),
                     400, "invalid", mentions=["name"])
        assert_error(self, self.admin.post("/api/v1/apikeys", {"name": "x", "role": "god"}),
                     400, "invalid", mentions=["role"])


class LastAdminTest(BoxTestCase, unittest.TestCase):
    """A box whose only admin is "admin"."""
    login_admin = True

    def test_last_admin_cannot_be_deleted(self):
        assert_error(self, self.admin.delete("/api/v1/users/admin"), 409)
        self.assertEqual(self.admin.get("/api/v1/users/admin").status, 200)

    def test_last_admin_cannot_be_demoted(self):
        for role in ("operator", "viewer"):
            with self.subTest(role=role):
                r = self.admin.patch("/api/v1/users/admin", {"role": role})
                assert_error(self, r, 409)
        self.assertEqual(self.admin.get("/api/v1/users/admin").json["role"], "admin")

    def test_last_admin_cannot_be_disabled(self):
        assert_error(self, self.admin.patch("/api/v1/users/admin", {"disabled": True}), 409)
        self.assertIs(self.admin.get("/api/v1/users/admin").json["disabled"], False)

    def test_refused_changes_leave_no_audit_record(self):
        self.admin.delete("/api/v1/users/admin")
        records = self.admin.get("/api/v1/audit?limit=1000").json["records"]
        self.assertFalse([r for r in records if r["action"] in ("user.delete", "user.update")],
                         records)


if __name__ == "__main__":
    unittest.main()
