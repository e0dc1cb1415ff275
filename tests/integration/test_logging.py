"""The log: what --log-level and the log_level setting show, and that no secret is in it."""

import time
import unittest

from ottbox import BoxTestCase, assert_error


def wait_for_log(test, box, text, timeout=5):
    """Waits until the daemon's log holds text (request lines are written just after the
    answer is sent); returns whether it did."""
    deadline = time.monotonic() + timeout
    while text not in box.all_stderr():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class CommandLineLogLevelTest(BoxTestCase, unittest.TestCase):
    """A box started with --log-level debug: one log line per API request."""
    box_args = {"extra_args": ["--log-level", "debug"]}
    login_admin = True

    def test_changing_box_name_keeps_the_command_line_log_level(self):
        self.box.client().get("/api/v1/health?before=box-name-change")
        self.assertTrue(wait_for_log(self, self.box, "GET /api/v1/health"),
                        "--log-level debug gave no request lines:\n" + self.box.all_stderr())
        # --log-level wins over the stored log_level at start; a PATCH that does not
        # touch log_level must not put the stored level back.
        r = self.admin.patch("/api/v1/settings", {"box_name": "still-debugging"})
        self.assertEqual(r.status, 200, r)
        self.box.client().get("/api/v1/nothing-after-box-name-change")
        self.assertTrue(wait_for_log(self, self.box, "GET /api/v1/nothing-after-box-name"),
                        "after PATCH {box_name}, the debug log stopped: the stored "
                        "log_level replaced --log-level debug")


class LogLevelSettingTest(BoxTestCase, unittest.TestCase):
    """A box at the default level (info), whose log_level setting is changed."""
    login_admin = True

    def test_log_level_setting_applies_at_once(self):
        self.box.client().get("/api/v1/not-at-info")
        r = self.admin.patch("/api/v1/settings", {"log_level": "debug"})
        self.assertEqual(r.status, 200, r)
        self.box.client().get("/api/v1/seen-at-debug")
        self.assertTrue(wait_for_log(self, self.box, "GET /api/v1/seen-at-debug"),
                        "log_level debug did not take effect")
        r = self.admin.patch("/api/v1/settings", {"log_level": "info"})
        self.assertEqual(r.status, 200, r)
        self.box.client().get("/api/v1/not-at-info-again")
        self.box.client().get("/api/v1/health")
        time.sleep(0.3)
        log = self.box.all_stderr()
        self.assertNotIn("/api/v1/not-at-info", log)
        self.assertNotIn("/api/v1/not-at-info-again", log)

    def test_log_level_setting_survives_a_restart(self):
        r = self.admin.patch("/api/v1/settings", {"log_level": "warn"})
        self.assertEqual(r.status, 200, r)
        try:
            self.box.restart()
            # At warn, nothing below it is logged once the store (and the setting) is read.
            log = self.box.stderr()
            self.assertNotIn("main: ready", log)
            self.assertNotIn("listening on", log)
            self.assertEqual(self.box.client(api_key=self.box.create_apikey(
                "lvl", "viewer")).get("/api/v1/settings").json["log_level"], "warn")
        finally:
            admin = self.box.admin()
            admin.patch("/api/v1/settings", {"log_level": "info"})
            type(self).admin = admin

    def test_no_password_session_id_csrf_token_or_key_in_the_debug_log(self):
        r = self.admin.patch("/api/v1/settings", {"log_level": "debug"})
        self.assertEqual(r.status, 200, r)
        secrets = [self.box.admin_password, self.admin.session_id, self.admin.csrf_token]
        r = self.admin.post("/api/v1/users", {"name": "logged", "role": "viewer",
                                              "password": "first secret passphrase"})
        self.assertEqual(r.status, 201, r)
        user = self.box.client()
        self.assertEqual(user.login("logged", "first secret passphrase").status, 200)
        self.assertEqual(user.change_password("first secret passphrase",
                                              "second secret passphrase").status, 204)
        assert_error(self, self.box.client().login("logged", "third wrong passphrase"), 401)
        r = self.admin.post("/api/v1/apikeys", {"name": "logged-key", "role": "admin"})
        self.assertEqual(r.status, 201, r)
        key = r.json["key"]
        self.assertEqual(self.box.client(api_key=key).get("/api/v1/settings").status, 200)
        secrets += ["first secret passphrase", "second secret passphrase",
                    "third wrong passphrase", user.session_id, user.csrf_token,
                    key, key.split("_", 2)[2]]  # obk_ID_SECRET: the secret may hold "_"
        self.assertTrue(wait_for_log(self, self.box, "by apikey:" + r.json["id"]),
                        "the debug log has no line for the API key's request")
        log = self.box.all_stderr()
        for secret in secrets:
            self.assertTrue(secret)
            self.assertNotIn(secret, log)


if __name__ == "__main__":
    unittest.main()
