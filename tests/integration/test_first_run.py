"""First start: the one-time admin password, and the forced change before anything else."""

import json
import os
import re
import sqlite3
import stat
from contextlib import closing
import unittest

from ottbox import NEW_ADMIN_PASSWORD, Box, BoxTestCase, assert_error

# The routes a session may use before its one-time password is replaced, and the public ones.
ALLOWED_BEFORE_CHANGE = {
    "GET /api/v1/health", "POST /api/v1/session", "GET /api/v1/session",
    "DELETE /api/v1/session", "POST /api/v1/session/password",
}
# Harmless bodies and path values for the routes that must be refused before the change.
BODIES = {
    "PATCH /api/v1/settings": {"box_name": "too-early"},
    "POST /api/v1/users": {"name": "sneaky", "role": "admin",
                           "password": "a long enough password"},
    "PATCH /api/v1/users/{name}": {"must_change_password": False},
    "POST /api/v1/apikeys": {"name": "sneaky", "role": "admin"},
}
PATH_VALUES = {"name": "admin", "id": "0123456789abcdef", "delivery": "1"}


class BeforePasswordChangeTest(BoxTestCase, unittest.TestCase):
    """A fresh box whose one-time password is never changed."""

    def test_first_start_writes_the_password_file_mode_0600(self):
        path = self.box.path("initial-admin-password")
        self.assertTrue(os.path.isfile(path), "%s was not created" % path)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o600, "%s has mode %o" % (path, mode))
        password = self.box.initial_password()
        self.assertGreaterEqual(len(password), 16, "the one-time password is too short")

    def test_first_start_prints_the_password_on_stdout(self):
        self.assertIn(self.box.initial_password(), self.box.stdout())

    def test_password_never_appears_in_the_log(self):
        self.assertNotIn(self.box.initial_password(), self.box.stderr())

    def test_one_time_password_login_must_change_password(self):
        c = self.box.client()
        r = c.login("admin", self.box.initial_password())
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], True)
        self.assertEqual(r.json["user"], "admin")
        self.assertEqual(r.json["role"], "admin")
        r = c.get("/api/v1/session")
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], True)

    def test_every_other_endpoint_is_403_until_the_change(self):
        routes = self.box.cli_ok("routes").stdout.split("\n")
        blocked = sorted(r for r in routes if r.strip() and r not in ALLOWED_BEFORE_CHANGE)
        self.assertGreaterEqual(len(blocked), 10, routes)
        c = self.box.client()
        self.assertEqual(c.login("admin", self.box.initial_password()).status, 200)
        for route in blocked:
            method, pattern = route.split(" ", 1)
            path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], pattern)
            body = BODIES.get(route, {} if method in ("POST", "PATCH", "PUT") else None)
            with self.subTest(route=route):
                r = c.request(method, path, body=body)
                assert_error(self, r, 403, "password_change_required",
                             mentions=["/api/v1/session/password"])
        # Nothing slipped through: users, keys and settings are as they were.
        users = json.loads(self.box.cli_ok("user", "list").stdout)
        self.assertEqual([(u["name"], u["role"], u["must_change_password"]) for u in users],
                         [("admin", "admin", True)])
        self.assertEqual(json.loads(self.box.cli_ok("apikey", "list").stdout), [])
        with closing(sqlite3.connect("file:%s?mode=ro" % self.box.db_path, uri=True)) as db:
            self.assertEqual(db.execute("SELECT count(*) FROM settings").fetchone()[0], 0)

    def test_logout_is_allowed_before_the_change(self):
        c = self.box.client()
        self.assertEqual(c.login("admin", self.box.initial_password()).status, 200)
        old = c.session_id
        self.assertEqual(c.logout().status, 204)
        r = self.box.client().get("/api/v1/session", headers={"Cookie": "ob_session=" + old})
        assert_error(self, r, 401, "unauthenticated")

    def test_change_with_a_wrong_current_password_is_refused(self):
        c = self.box.client()
        self.assertEqual(c.login("admin", self.box.initial_password()).status, 200)
        r = c.change_password("not the password", NEW_ADMIN_PASSWORD)
        assert_error(self, r, 403, mentions=["current_password"])
        self.assertTrue(os.path.exists(self.box.path("initial-admin-password")))

    def test_change_to_the_same_password_is_refused(self):
        c = self.box.client()
        password = self.box.initial_password()
        self.assertEqual(c.login("admin", password).status, 200)
        r = c.change_password(password, password)
        assert_error(self, r, 400, "invalid", mentions=["new_password"])


class PasswordChangeTest(unittest.TestCase):
    """A fresh box whose one-time password is changed once, in setUpClass."""

    @classmethod
    def setUpClass(cls):
        cls.box = Box()
        cls.addClassCleanup(cls.box.close)
        cls.one_time = cls.box.initial_password()
        cls.session = cls.box.client()
        cls.login_answer = cls.session.login("admin", cls.one_time)
        cls.change_answer = cls.session.change_password(cls.one_time, NEW_ADMIN_PASSWORD)
        cls.session_after = cls.session.get("/api/v1/session")
        cls.settings_after = cls.session.get("/api/v1/settings")

    def test_change_answers_204(self):
        self.assertEqual(self.login_answer.status, 200, self.login_answer)
        self.assertEqual(self.change_answer.status, 204, self.change_answer)
        self.assertEqual(self.change_answer.raw, b"")

    def test_password_file_is_removed_after_the_change(self):
        self.assertFalse(os.path.exists(self.box.path("initial-admin-password")))

    def test_the_session_that_changed_it_goes_on(self):
        r = self.session_after
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], False)
        self.assertEqual(self.settings_after.status, 200, self.settings_after)

    def test_old_password_fails(self):
        r = self.box.client().login("admin", self.one_time)
        assert_error(self, r, 401, "unauthenticated")

    def test_new_password_works_without_a_forced_change(self):
        c = self.box.client()
        r = c.login("admin", NEW_ADMIN_PASSWORD)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], False)
        self.assertEqual(c.get("/api/v1/users").status, 200)

    def test_restart_creates_no_new_password(self):
        self.box.restart()
        self.assertFalse(os.path.exists(self.box.path("initial-admin-password")))
        self.assertNotIn("one-time password", self.box.stdout())
        self.assertEqual(self.box.stdout().strip(), "")
        c = self.box.client()
        r = c.login("admin", NEW_ADMIN_PASSWORD)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["must_change_password"], False)

    def test_passwords_never_appear_in_the_log(self):
        c = self.box.client()
        c.login("admin", "a wrong password for the log test")
        log = self.box.all_stderr()
        self.assertNotIn(self.one_time, log)
        self.assertNotIn(NEW_ADMIN_PASSWORD, log)
        self.assertNotIn("a wrong password for the log test", log)

    def test_change_is_in_the_audit_log(self):
        c = self.box.client()
        self.assertEqual(c.login("admin", NEW_ADMIN_PASSWORD).status, 200)
        records = c.get("/api/v1/audit?limit=1000").json["records"]
        changes = [r for r in records if r.get("action") == "user.password_change"
                   and r.get("result") == "ok"]
        self.assertEqual(len(changes), 1, records)
        self.assertEqual(changes[0]["target"], "admin")
        self.assertNotIn(NEW_ADMIN_PASSWORD, str(records))


if __name__ == "__main__":
    unittest.main()
