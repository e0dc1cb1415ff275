"""Acknowledged writes survive kill -9: settings are written with synchronous=FULL, and
the change and its audit record commit together."""

import http.client
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import unittest
from contextlib import closing

from ottbox import Box


def quick_check(path, readonly=True):
    """PRAGMA quick_check on an SQLite file; returns its lines."""
    uri = "file:%s%s" % (path, "?mode=ro" if readonly else "")
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        return [row[0] for row in db.execute("PRAGMA quick_check")]


class Writer(threading.Thread):
    """Streams PATCH /api/v1/settings {"box_name": "w-<n>"} until the daemon goes away."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client = client
        self.acked = []      # n of every write answered 200
        self.sent = 0        # the highest n sent
        self.errors = []     # answers other than 200 before the daemon went away
        self.stopped_by = None

    def run(self):
        n = 0
        while True:
            n += 1
            self.sent = n
            try:
                r = self.client.patch("/api/v1/settings", {"box_name": "w-%d" % n})
            except (OSError, http.client.HTTPException) as e:
                # refused, reset, closed without an answer, or cut off mid-answer
                self.stopped_by = e
                return
            if r.status == 200:
                self.acked.append(n)
            else:
                self.errors.append(r)
                return


class KillDuringWritesTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.box = Box()
        cls.addClassCleanup(cls.box.close)
        cls.key = cls.box.create_apikey("durability", "admin")
        writer = Writer(cls.box.client(api_key=cls.key, timeout=10))
        writer.start()
        time.sleep(0.4)
        cls.box.kill9()
        writer.join(15)
        cls.writer = writer
        # A copy of the store as the crash left it (database and write-ahead log).
        cls.crash_copy = tempfile.mkdtemp(prefix="ottbox-crash-")
        cls.addClassCleanup(shutil.rmtree, cls.crash_copy, True)
        for name in ("ottbox.db", "ottbox.db-wal"):
            if os.path.exists(cls.box.path(name)):
                shutil.copy(cls.box.path(name), os.path.join(cls.crash_copy, name))
        cls.box.start()
        cls.api = cls.box.client(api_key=cls.key)

    def test_writer_was_stopped_by_the_kill(self):
        self.assertFalse(self.writer.is_alive(), "the writer did not notice the kill")
        self.assertEqual(self.writer.errors, [], "writes refused before the kill")
        self.assertIsNotNone(self.writer.stopped_by)
        self.assertGreaterEqual(len(self.writer.acked), 5,
                                "too few writes before the kill to test anything")

    def test_store_left_by_the_crash_passes_quick_check(self):
        self.assertEqual(quick_check(os.path.join(self.crash_copy, "ottbox.db"),
                                     readonly=False), ["ok"])

    def test_store_passes_quick_check_after_restart(self):
        self.assertEqual(quick_check(self.box.db_path), ["ok"])

    def audit_box_names(self):
        names = set()
        before = None
        while True:
            path = "/api/v1/audit?limit=1000" + ("&before=%d" % before if before else "")
            r = self.api.get(path)
            self.assertEqual(r.status, 200, r)
            records = r.json["records"]
            for rec in records:
                if rec.get("action") == "settings.update" and rec.get("result") == "ok":
                    names.add(rec["detail"]["box_name"]["to"])
            if len(records) < 1000:
                return names
            before = records[-1]["id"]

    def test_every_acknowledged_write_is_in_the_audit_log(self):
        names = self.audit_box_names()
        missing = [n for n in self.writer.acked if "w-%d" % n not in names]
        self.assertEqual(missing, [], "acknowledged writes missing from the audit log")
        self.assertLessEqual(len(names), self.writer.sent)

    def test_box_name_is_the_last_acknowledged_write_or_a_later_one(self):
        r = self.api.get("/api/v1/settings")
        self.assertEqual(r.status, 200, r)
        name = r.json["box_name"]
        self.assertRegex(name, r"^w-[0-9]+$")
        n = int(name[2:])
        self.assertGreaterEqual(n, self.writer.acked[-1])
        self.assertLessEqual(n, self.writer.sent)

    def test_audit_and_settings_agree(self):
        # The change and its audit record are one transaction: a write the store kept
        # has its record, and no record is there for a write it lost.
        name = self.api.get("/api/v1/settings").json["box_name"]
        names = self.audit_box_names()
        self.assertIn(name, names)
        self.assertEqual(max(int(x[2:]) for x in names), int(name[2:]))


if __name__ == "__main__":
    unittest.main()
