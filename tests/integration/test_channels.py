"""Channels as stored configuration: create with defaults, validation that names the field,
ladders that must exist and cannot be deleted while used, roles, audit, persistence."""

import unittest

from ottbox import BoxTestCase, assert_error


class ChannelsTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.viewer = cls.box.client(api_key=cls.box.create_apikey("ch-viewer", "viewer"))
        cls.operator = cls.box.client(api_key=cls.box.create_apikey("ch-operator", "operator"))

    def test_a_channel_gets_its_defaults_and_an_id_from_its_name(self):
        r = self.operator.post("/api/v1/channels",
                               {"name": "Morning Show", "input": {"url": "test://pattern"}})
        self.assertEqual(r.status, 201, r)
        ch = r.json
        self.assertEqual(ch["id"], "morning-show")
        self.assertEqual(ch["ladder"], "720p-3")
        self.assertEqual(ch["segment_seconds"], 4)
        self.assertEqual(ch["access"], "public")
        self.assertEqual(ch["backend"], "auto")
        self.assertIs(ch["autostart"], False)
        self.assertIsNone(ch["input"]["backup_url"])
        self.assertEqual(ch["input"]["failover_after_s"], 3)
        self.assertEqual(ch["status"]["state"], "stopped")
        listed = self.viewer.get("/api/v1/channels").json["channels"]
        self.assertIn("morning-show", [c["id"] for c in listed])

    def test_a_read_document_can_be_sent_back_as_it_is(self):
        created = self.operator.post("/api/v1/channels", {
            "id": "roundtrip", "name": "Round trip",
            "input": {"url": "srt://0.0.0.0:9000?mode=listener"}}).json
        created["name"] = "Round trip 2"
        r = self.operator.put("/api/v1/channels/roundtrip", created)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.viewer.get("/api/v1/channels/roundtrip").json["name"],
                         "Round trip 2")

    def test_bad_inputs_are_refused_naming_the_field(self):
        cases = [
            ({"url": "ftp://files/x.ts"}, ["input.url", "ftp"]),
            ({"url": "srt://0.0.0.0"}, ["input.url", "port"]),
            ({"url": "file:/etc/passwd"}, ["input.url", "media library"]),
            ({"url": "file:../ottbox.db"}, ["input.url", ".."]),
            ({"url": "test://pattern", "backup_url": "test://pattern"}, ["input.backup_url"]),
        ]
        for source, mentions in cases:
            with self.subTest(source=source):
                r = self.operator.post("/api/v1/channels", {"name": "Bad", "input": source})
                assert_error(self, r, 400, "invalid", mentions=mentions)

    def test_a_10_second_segment_is_refused(self):
        r = self.operator.post("/api/v1/channels", {"name": "Long", "segment_seconds": 10,
                                                    "input": {"url": "test://pattern"}})
        assert_error(self, r, 400, "invalid", mentions=["segment_seconds", "2 and 6"])

    def test_the_ladder_must_exist_and_stays_while_used(self):
        r = self.operator.post("/api/v1/channels", {"name": "X", "ladder": "nope",
                                                    "input": {"url": "test://pattern"}})
        assert_error(self, r, 400, "invalid", mentions=["ladder", "nope"])
        ladder = {"id": "in-use", "name": "In use",
                  "rungs": [{"width": 1280, "height": 720, "video_bitrate_kbps": 3000}]}
        self.assertEqual(self.operator.post("/api/v1/ladders", ladder).status, 201)
        r = self.operator.post("/api/v1/channels", {"id": "uses-it", "name": "Uses it",
                                                    "ladder": "in-use",
                                                    "input": {"url": "test://pattern"}})
        self.assertEqual(r.status, 201, r)
        assert_error(self, self.operator.delete("/api/v1/ladders/in-use"), 409, "conflict",
                     mentions=["uses-it"])
        self.assertEqual(self.operator.delete("/api/v1/channels/uses-it").status, 204)
        self.assertEqual(self.operator.delete("/api/v1/ladders/in-use").status, 204)

    def test_duplicate_ids_and_missing_channels(self):
        body = {"id": "dup", "name": "Dup", "input": {"url": "test://pattern"}}
        self.assertEqual(self.operator.post("/api/v1/channels", body).status, 201)
        assert_error(self, self.operator.post("/api/v1/channels", body), 409, "exists")
        assert_error(self, self.viewer.get("/api/v1/channels/none"), 404, "not_found")
        assert_error(self, self.operator.delete("/api/v1/channels/none"), 404, "not_found")

    def test_viewers_read_operators_change(self):
        assert_error(self, self.viewer.post("/api/v1/channels", {
            "name": "V", "input": {"url": "test://pattern"}}), 403, "forbidden")

    def test_changes_are_audited_and_kept_across_a_restart(self):
        self.assertEqual(self.admin.post("/api/v1/channels", {
            "id": "kept", "name": "Kept", "input": {"url": "udp://239.1.1.1:5000"}}).status, 201)
        records = self.admin.get("/api/v1/audit?limit=100").json["records"]
        self.assertTrue(any(rec["action"] == "channel.create" and rec["target"] == "kept"
                            for rec in records))
        self.box.restart()
        self.__class__.admin = self.box.admin()
        r = self.admin.get("/api/v1/channels/kept")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["input"]["url"], "udp://239.1.1.1:5000")


if __name__ == "__main__":
    unittest.main()
