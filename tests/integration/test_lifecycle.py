"""The daemon's life: clean stop on SIGTERM/SIGINT, refusal of a damaged store, and the
store and usage commands."""

import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
from contextlib import closing

from ottbox import (NEW_ADMIN_PASSWORD, REPO_ROOT, Box, daemon_env, sanitizer_report,
                    assert_error)

STOP_WITHIN_S = 5
CORRUPT_EXIT_WITHIN_S = 15


class SigtermTest(unittest.TestCase):
    """A box that has done some work, stopped once with SIGTERM in setUpClass."""

    @classmethod
    def setUpClass(cls):
        cls.box = Box()
        cls.addClassCleanup(cls.box.close)
        cls.box.admin().patch("/api/v1/settings", {"box_name": "stopping"})
        cls.code, cls.elapsed = cls.box.signal_stop(signal.SIGTERM)
        cls.log = cls.box.stderr()

    def test_sigterm_exits_0_within_a_few_seconds(self):
        self.assertEqual(self.code, 0, self.log)
        self.assertLess(self.elapsed, STOP_WITHIN_S, "took %.1f s to stop" % self.elapsed)

    def test_sigterm_log_says_stopped_cleanly(self):
        self.assertIn("SIGTERM received", self.log)
        self.assertIn("stopped cleanly", self.log)
        self.assertEqual(sanitizer_report(self.log), "")

    def test_clean_stop_leaves_a_checkpointed_store(self):
        wal = self.box.path("ottbox.db-wal")
        self.assertFalse(os.path.exists(wal) and os.path.getsize(wal) > 0,
                         "the write-ahead log was not checkpointed at stop")
        with closing(sqlite3.connect("file:%s?mode=ro" % self.box.db_path, uri=True)) as db:
            self.assertEqual(db.execute("PRAGMA quick_check").fetchall(), [("ok",)])
            row = db.execute("SELECT value FROM settings WHERE name = 'box_name'").fetchone()
        self.assertEqual(row, ('"stopping"',))


class StopTest(unittest.TestCase):

    def test_sigint_stops_cleanly(self):
        box = Box()
        self.addCleanup(box.close)
        box.admin()
        code, elapsed = box.signal_stop(signal.SIGINT)
        log = box.stderr()
        self.assertEqual(code, 0, log)
        self.assertLess(elapsed, STOP_WITHIN_S, "took %.1f s to stop" % elapsed)
        self.assertIn("SIGINT received", log)
        self.assertIn("stopped cleanly", log)
        self.assertEqual(sanitizer_report(log), "")

    def test_sigterm_stops_with_an_idle_keep_alive_connection_open(self):
        box = Box()
        self.addCleanup(box.close)
        conn = http.client.HTTPConnection("127.0.0.1", box.port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("GET", "/api/v1/health")
        resp = conn.getresponse()
        resp.read()
        self.assertFalse(resp.will_close, "the daemon did not keep the connection open")
        code, elapsed = box.signal_stop(signal.SIGTERM)
        self.assertEqual(code, 0, box.stderr())
        self.assertLess(elapsed, STOP_WITHIN_S, "took %.1f s to stop" % elapsed)

    def test_request_in_flight_at_sigterm_gets_its_answer(self):
        # docs/operations.md: "the HTTP server finishes the requests in flight". A login
        # spends ~0.1 s in Argon2id; SIGTERM lands while it runs.
        box = Box()
        self.addCleanup(box.close)
        password = box.initial_password()
        answer = {}

        def login():
            try:
                answer["r"] = box.client().login("admin", password)
            except OSError as e:
                answer["r"] = e

        thread = threading.Thread(target=login)
        thread.start()
        time.sleep(0.05)
        code, elapsed = box.signal_stop(signal.SIGTERM)
        thread.join(10)
        self.assertEqual(code, 0, box.stderr())
        r = answer.get("r")
        self.assertNotIsInstance(r, OSError,
                                 "the login in flight at SIGTERM got no answer (%s); the log "
                                 "says:\n%s" % (r, box.stderr()))
        self.assertEqual(r.status, 200, r)

    def test_busy_port_fails_with_a_message(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            box = Box(start=False)
            self.addCleanup(box.close)
            box.port = port
            box.start(wait=False)
            code = box.wait_exit(CORRUPT_EXIT_WITHIN_S)
            self.assertIsNotNone(code, "the daemon kept running on a busy port")
            self.assertNotEqual(code, 0)
            self.assertIn(str(port), box.stderr())


class DamagedStoreTest(unittest.TestCase):
    """A daemon must refuse to run on a damaged store, say why, and leave it as it is."""

    @classmethod
    def setUpClass(cls):
        # One good store, made and stopped cleanly, to damage in different ways.
        box = Box()
        cls.addClassCleanup(box.close)
        box.admin()
        box.stop()
        with open(box.db_path, "rb") as f:
            cls.good = f.read()
        cls.page_size = 4096

    def start_on(self, content):
        box = Box(start=False)
        self.addCleanup(box.close)
        with open(box.db_path, "wb") as f:
            f.write(content)
        box.start(wait=False)
        code = box.wait_exit(CORRUPT_EXIT_WITHIN_S)
        if code is None:
            box.kill9()
            self.fail("the daemon ran on a damaged store; its log:\n" + box.stderr())
        self.assertNotEqual(code, 0, box.stderr())
        self.assertEqual(sanitizer_report(box.stderr()), "")
        with open(box.db_path, "rb") as f:
            self.assertEqual(f.read(), content, "the damaged store was changed")
        return box

    def check_message(self, log):
        self.assertIn("integrity check", log)
        self.assertIn("docs/operations.md", log)
        self.assertNotIn("ready", log)

    def test_store_with_damaged_pages_is_refused_naming_the_integrity_check(self):
        content = bytearray(self.good)
        content[self.page_size:] = os.urandom(len(content) - self.page_size)
        box = self.start_on(bytes(content))
        self.check_message(box.stderr())

    def test_store_overwritten_with_garbage_is_refused_naming_the_integrity_check(self):
        cases = {
            "whole file": os.urandom(len(self.good)),
            "first page": os.urandom(self.page_size) + self.good[self.page_size:],
        }
        for what, content in cases.items():
            with self.subTest(garbage_over=what):
                box = self.start_on(content)
                self.check_message(box.stderr())

    def test_store_check_reports_a_damaged_store(self):
        box = Box(start=False)
        self.addCleanup(box.close)
        content = bytearray(self.good)
        content[self.page_size:] = os.urandom(len(content) - self.page_size)
        with open(box.db_path, "wb") as f:
            f.write(content)
        r = box.cli("store", "check")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("integrity check", r.stderr)
        self.assertIn("docs/operations.md", r.stderr)


class CommandsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.box = Box()
        cls.addClassCleanup(cls.box.close)
        cls.box.admin()
        cls.box.add_user("backed-up", "operator", "a passphrase to keep")
        cls.tmp = tempfile.mkdtemp(prefix="ottbox-cmd-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)

    def test_store_check_says_ok(self):
        r = self.box.cli("store", "check")
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"ok, schema version (\d+) of \1")

    def test_store_backup_writes_a_consistent_copy(self):
        dest = os.path.join(self.tmp, "backup.db")
        r = self.box.cli("store", "backup", dest)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn(dest, r.stdout)
        self.assertFalse(os.path.exists(dest + ".partial"))
        with closing(sqlite3.connect("file:%s?mode=ro" % dest, uri=True)) as db:
            self.assertEqual(db.execute("PRAGMA quick_check").fetchall(), [("ok",)])
            self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "delete")
            names = {row[0] for row in db.execute("SELECT name FROM users")}
        self.assertLessEqual({"admin", "backed-up"}, names)

    def test_backup_restores_into_a_working_box(self):
        dest = os.path.join(self.tmp, "restore.db")
        self.box.cli_ok("store", "backup", dest)
        restored = Box(start=False)
        self.addCleanup(restored.close)
        shutil.copy(dest, restored.db_path)
        restored.start()
        self.assertFalse(os.path.exists(restored.path("initial-admin-password")),
                         "a restored store with an admin must not get a new one-time password")
        r = restored.client().login("admin", NEW_ADMIN_PASSWORD)
        self.assertEqual(r.status, 200, r)
        r = restored.client().login("backed-up", "a passphrase to keep")
        self.assertEqual(r.status, 200, r)

    def test_store_backup_to_an_unwritable_place_fails(self):
        r = self.box.cli("store", "backup", os.path.join(self.tmp, "no", "such", "dir.db"))
        self.assertEqual(r.returncode, 1, r)
        self.assertTrue(r.stderr.strip())

    def test_store_backup_without_a_file_is_a_usage_error(self):
        r = self.box.cli("store", "backup")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("usage", r.stderr)

    def test_unknown_command_exits_2(self):
        for args in (["frobnicate"], ["store", "explode"], ["user", "fly"]):
            with self.subTest(args=args):
                r = self.box.cli(*args)
                self.assertEqual(r.returncode, 2, r)
                self.assertIn("unknown command", r.stderr)
                self.assertIn("usage", r.stderr)

    def test_unknown_option_exits_2(self):
        r = subprocess.run([self.box.binary, "--no-such-option"], capture_output=True,
                           text=True, env=daemon_env(), cwd=REPO_ROOT, timeout=30)
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("usage", r.stderr)

    def test_help_exits_0(self):
        r = subprocess.run([self.box.binary, "--help"], capture_output=True, text=True,
                           env=daemon_env(), cwd=REPO_ROOT, timeout=30)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("usage", r.stdout)

    def test_incomplete_user_add_is_a_usage_error(self):
        r = self.box.cli("user", "add", "half")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("usage", r.stderr)

    def test_cli_user_passwd_sets_a_password_that_works(self):
        self.box.add_user("forgetful", "viewer", "the first passphrase")
        self.box.cli_ok("user", "passwd", "forgetful", "--password-stdin",
                        input="the second passphrase\n")
        assert_error(self, self.box.client().login("forgetful", "the first passphrase"), 401)
        self.assertEqual(self.box.client().login("forgetful", "the second passphrase").status,
                         200)

    def test_commands_work_while_the_box_runs(self):
        self.assertTrue(self.box.running)
        self.box.cli_ok("store", "check")
        key = self.box.create_apikey("while-running", "viewer")
        self.assertEqual(self.box.client(api_key=key).get("/api/v1/settings").status, 200)


if __name__ == "__main__":
    unittest.main()
