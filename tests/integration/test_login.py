"""POST/DELETE /api/v1/session: credentials, the login rate limiter, the session cookie,
and the password policy.

The rate limiter keys on the client address and on the user name. The daemon listens on
127.0.0.1 and Linux lets a client send from any 127.0.0.0/8 address, so each test that
fails logins on purpose uses addresses and users of its own and cannot block another."""

import time
import unittest

from ottbox import BoxTestCase, assert_error, parse_set_cookie

PASSWORD = "a perfectly fine passphrase"
# An address may fail this many times login_free_attempts (many people may share one).
ADDRESS_ALLOWANCE_FACTOR = 4


class LoginTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for name in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "paul",
                     "quentin"):
            cls.box.add_user(name, "viewer", PASSWORD)

    def client_from(self, address):
        return self.box.client(source_address=address)

    def test_right_password_logs_in(self):
        c = self.client_from("127.0.0.2")
        r = c.login("alice", PASSWORD)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user"], "alice")
        self.assertEqual(r.json["role"], "viewer")
        self.assertIs(r.json["must_change_password"], False)
        self.assertRegex(r.json["csrf_token"], r"^[0-9a-f]{32}$")
        self.assertEqual(c.get("/api/v1/session").json["user"], "alice")

    def test_wrong_password_is_401(self):
        r = self.client_from("127.0.0.3").login("alice", "not alice's password")
        assert_error(self, r, 401, "unauthenticated")
        self.assertNotIn("Set-Cookie", r.headers)

    def test_unknown_user_is_401_with_the_same_message(self):
        wrong_password = self.client_from("127.0.0.4").login("alice", "not alice's password")
        unknown_user = self.client_from("127.0.0.4").login("nobody-here", "whatever it is")
        invalid_name = self.client_from("127.0.0.4").login("No Such User!", "whatever it is")
        assert_error(self, unknown_user, 401, "unauthenticated")
        assert_error(self, invalid_name, 401, "unauthenticated")
        self.assertEqual(unknown_user.json, wrong_password.json)
        self.assertEqual(invalid_name.json, wrong_password.json)

    def test_missing_credentials_are_400(self):
        r = self.client_from("127.0.0.5").post("/api/v1/session", {"name": "alice"})
        assert_error(self, r, 400, mentions=["password"])

    def test_after_the_free_attempts_the_next_login_is_429_even_with_the_right_password(self):
        c = self.client_from("127.0.1.1")
        for attempt in range(5):
            r = c.login("bob", "wrong password %d" % attempt)
            assert_error(self, r, 401, "unauthenticated")
        r = c.login("bob", PASSWORD)
        assert_error(self, r, 429, "rate_limited")
        retry_after = r.header("Retry-After")
        self.assertIsNotNone(retry_after, "a 429 must say when to retry")
        self.assertRegex(retry_after, r"^[1-9][0-9]*$")
        self.assertNotIn("Set-Cookie", r.headers)
        # The wait is short after the first block; once it is over, the right password works.
        time.sleep(int(retry_after) + 0.2)
        r = c.login("bob", PASSWORD)
        self.assertEqual(r.status, 200, r)

    def test_each_further_failure_doubles_the_wait(self):
        c = self.client_from("127.0.1.2")
        for attempt in range(5):
            assert_error(self, c.login("paul", "wrong password %d" % attempt), 401)
        r = c.login("paul", PASSWORD)
        assert_error(self, r, 429, "rate_limited")
        self.assertEqual(r.header("Retry-After"), "1")
        time.sleep(1.1)
        assert_error(self, c.login("paul", "wrong again"), 401)
        r = c.login("paul", PASSWORD)
        assert_error(self, r, 429, "rate_limited")
        self.assertEqual(r.header("Retry-After"), "2")

    def test_failed_logins_are_audited_without_the_password(self):
        c = self.client_from("127.0.1.3")
        assert_error(self, c.login("quentin", "a guessed secret 123"), 401)
        records = self.admin.get("/api/v1/audit?limit=1000").json["records"]
        denied = [r for r in records if r["action"] == "session.login"
                  and r["result"] == "denied" and r.get("remote_addr") == "127.0.1.3"]
        self.assertEqual(len(denied), 1, records)
        self.assertEqual(denied[0]["actor"], "user:quentin")
        self.assertNotIn("a guessed secret 123", str(records))

    def address_allowance(self):
        """Failed logins an address may make before it must wait (docs/operations.md)."""
        free = self.admin.get("/api/v1/settings").json["login_free_attempts"]
        return free * ADDRESS_ALLOWANCE_FACTOR

    def test_rate_limit_is_per_address(self):
        blocked = self.client_from("127.0.2.1")
        allowance = self.address_allowance()
        for attempt in range(allowance):
            # Different unknown users: only the address collects the failures.
            r = blocked.login("ghost-%d" % attempt, "wrong password")
            assert_error(self, r, 401, "unauthenticated")
        r = blocked.login("carol", PASSWORD)
        assert_error(self, r, 429, "rate_limited", mentions=["address"])
        self.assertIsNotNone(r.header("Retry-After"))
        # The same user from another address is not blocked.
        r = self.client_from("127.0.2.2").login("carol", PASSWORD)
        self.assertEqual(r.status, 200, r)

    def test_successful_login_does_not_clear_the_address_count(self):
        c = self.client_from("127.0.2.3")
        allowance = self.address_allowance()
        for attempt in range(allowance - 1):
            assert_error(self, c.login("ghost-%d" % attempt, "wrong password"), 401)
        self.assertEqual(c.login("carol", PASSWORD).status, 200)
        assert_error(self, c.login("ghost-last", "wrong password"), 401)
        r = c.login("carol", PASSWORD)
        assert_error(self, r, 429, "rate_limited")

    def test_rate_limit_is_per_user(self):
        for attempt in range(5):
            # One failure from each of five addresses: only the user collects them all.
            r = self.client_from("127.0.3.%d" % (attempt + 1)).login("dave", "wrong password")
            assert_error(self, r, 401, "unauthenticated")
        r = self.client_from("127.0.3.6").login("dave", PASSWORD)
        assert_error(self, r, 429, "rate_limited", mentions=["user"])
        self.assertIsNotNone(r.header("Retry-After"))
        # Another user from one of those addresses is not blocked.
        r = self.client_from("127.0.3.1").login("erin", PASSWORD)
        self.assertEqual(r.status, 200, r)

    def test_session_cookie_is_httponly_and_samesite_strict(self):
        r = self.client_from("127.0.0.6").login("frank", PASSWORD)
        self.assertEqual(r.status, 200, r)
        cookies = [parse_set_cookie(h) for h in r.set_cookies()]
        session = [c for c in cookies if c[0] == "ob_session"]
        self.assertEqual(len(session), 1, r.set_cookies())
        _, value, attrs = session[0]
        self.assertGreaterEqual(len(value), 22, "the session id is too short to be random")
        self.assertIs(attrs.get("httponly"), True, r.set_cookies())
        self.assertEqual(attrs.get("samesite", "").lower(), "strict", r.set_cookies())
        self.assertEqual(attrs.get("path"), "/", r.set_cookies())

    def test_logout_ends_the_session_on_the_server(self):
        c = self.client_from("127.0.0.7")
        self.assertEqual(c.login("frank", PASSWORD).status, 200)
        old_cookie = "ob_session=" + c.session_id
        r = c.logout()
        self.assertEqual(r.status, 204, r)
        # The answer clears the cookie in the browser...
        cleared = [parse_set_cookie(h) for h in r.set_cookies()]
        self.assertTrue(any(n == "ob_session" and (a.get("max-age") == "0" or not v)
                            for n, v, a in cleared), r.set_cookies())
        # ...and a client that keeps sending the old one is refused.
        r = self.client_from("127.0.0.7").get("/api/v1/session",
                                              headers={"Cookie": old_cookie})
        assert_error(self, r, 401, "unauthenticated")
        r = self.client_from("127.0.0.7").get("/api/v1/settings",
                                              headers={"Cookie": old_cookie})
        assert_error(self, r, 401, "unauthenticated")

    def test_each_login_gives_a_new_session_id(self):
        c = self.client_from("127.0.0.8")
        self.assertEqual(c.login("grace", PASSWORD).status, 200)
        first = c.session_id
        second_client = self.client_from("127.0.0.8")
        self.assertEqual(second_client.login("grace", PASSWORD).status, 200)
        self.assertNotEqual(first, second_client.session_id)
        # Logging in again with a session still in the cookie replaces it (no fixation).
        self.assertEqual(c.login("grace", PASSWORD).status, 200)
        third = c.session_id
        self.assertNotIn(third, (first, second_client.session_id))
        r = self.client_from("127.0.0.8").get("/api/v1/session",
                                              headers={"Cookie": "ob_session=" + first})
        assert_error(self, r, 401, "unauthenticated")
        self.assertEqual(c.get("/api/v1/session").status, 200)
        self.assertEqual(second_client.get("/api/v1/session").status, 200)

    def test_made_up_session_id_is_401(self):
        r = self.client_from("127.0.0.9").get(
            "/api/v1/settings", headers={"Cookie": "ob_session=AAAAAAAAAAAAAAAAAAAAAA"})
        assert_error(self, r, 401, "unauthenticated")

    def own_session(self, name, address):
        self.box.add_user(name, "viewer", PASSWORD)
        c = self.client_from(address)
        self.assertEqual(c.login(name, PASSWORD).status, 200)
        return c

    def test_common_new_password_is_refused(self):
        c = self.own_session("heidi", "127.0.0.10")
        for common in ("password123", "Password123", "12345678"):
            with self.subTest(password=common):
                r = c.change_password(PASSWORD, common)
                assert_error(self, r, 400, "invalid", mentions=["new_password"])
        r = self.admin.post("/api/v1/users", {"name": "ivan", "role": "viewer",
                                              "password": "password123"})
        assert_error(self, r, 400, "invalid", mentions=["password"])
        self.assertEqual(self.client_from("127.0.0.10").login("heidi", PASSWORD).status, 200)

    def test_too_short_new_password_is_refused(self):
        c = self.own_session("judy", "127.0.0.11")
        r = c.change_password(PASSWORD, "7 chars")
        assert_error(self, r, 400, "invalid", mentions=["new_password", "8"])
        r = self.admin.post("/api/v1/users", {"name": "kim", "role": "viewer",
                                              "password": "short12"})
        assert_error(self, r, 400, "invalid", mentions=["password", "8"])
        r = self.box.cli("user", "add", "kim", "--role", "viewer", "--password-stdin",
                         input="short12\n")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("password", r.stderr)

    def test_password_equal_to_the_user_name_is_refused(self):
        c = self.own_session("mallory1", "127.0.0.12")
        r = c.change_password(PASSWORD, "Mallory1")
        assert_error(self, r, 400, "invalid", mentions=["new_password"])

    def test_eight_character_password_is_accepted(self):
        c = self.own_session("niaj", "127.0.0.13")
        r = c.change_password(PASSWORD, "8 chars!")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.client_from("127.0.0.13").login("niaj", "8 chars!").status, 200)

    def test_password_change_ends_the_users_other_sessions(self):
        c = self.own_session("olivia", "127.0.0.14")
        other = self.client_from("127.0.0.14")
        self.assertEqual(other.login("olivia", PASSWORD).status, 200)
        self.assertEqual(c.change_password(PASSWORD, "a brand new passphrase").status, 204)
        self.assertEqual(c.get("/api/v1/session").status, 200)
        assert_error(self, other.get("/api/v1/session"), 401, "unauthenticated")


if __name__ == "__main__":
    unittest.main()
