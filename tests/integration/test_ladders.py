"""Ladders through the API: built-in presets, operator ladders, validation messages that
name the field, read-only built-ins, roles, and persistence across a restart."""

import unittest

from ottbox import BoxTestCase, assert_error


def studio_ladder(ladder_id="studio", **extra):
    ladder = {
        "id": ladder_id,
        "name": "Studio",
        "rungs": [
            {"width": 1920, "height": 1080, "video_bitrate_kbps": 5000},
            {"width": 1280, "height": 720, "video_bitrate_kbps": 3000},
            {"width": 640, "height": 360, "video_bitrate_kbps": 1800},
        ],
    }
    ladder.update(extra)
    return ladder


class LaddersTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.viewer = cls.box.client(api_key=cls.box.create_apikey("ladder-viewer", "viewer"))
        cls.operator = cls.box.client(
            api_key=cls.box.create_apikey("ladder-operator", "operator"))

    def test_builtin_presets_are_listed_first_and_complete(self):
        r = self.viewer.get("/api/v1/ladders")
        self.assertEqual(r.status, 200, r)
        ids = [ladder["id"] for ladder in r.json["ladders"]]
        self.assertIn("1080p-5", ids)
        self.assertIn("720p-3", ids)
        top = next(ladder for ladder in r.json["ladders"] if ladder["id"] == "1080p-5")
        self.assertTrue(top["builtin"])
        self.assertEqual(len(top["rungs"]), 5)
        self.assertEqual((top["rungs"][0]["width"], top["rungs"][0]["height"]), (1920, 1080))
        for rung in top["rungs"]:
            for field in ("max_bitrate_kbps", "buffer_kbits", "codec", "profile", "preset"):
                self.assertIn(field, rung)
        self.assertEqual(top["audio"]["mode"], "aac")

    def test_operator_creates_reads_replaces_and_deletes_a_ladder(self):
        r = self.operator.post("/api/v1/ladders", studio_ladder("cycle"))
        self.assertEqual(r.status, 201, r)
        self.assertFalse(r.json["builtin"])
        self.assertEqual(r.json["rungs"][0]["max_bitrate_kbps"], 5500)
        self.assertEqual(r.json["rungs"][0]["profile"], "high")
        self.assertEqual(self.viewer.get("/api/v1/ladders/cycle").json["name"], "Studio")
        r = self.operator.put("/api/v1/ladders/cycle", studio_ladder("cycle", name="Renamed"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.viewer.get("/api/v1/ladders/cycle").json["name"], "Renamed")
        self.assertEqual(self.operator.delete("/api/v1/ladders/cycle").status, 204)
        assert_error(self, self.viewer.get("/api/v1/ladders/cycle"), 404, "not_found")

    def test_a_60_percent_step_is_refused_with_the_range_to_use(self):
        ladder = studio_ladder("steep")
        ladder["rungs"][1]["video_bitrate_kbps"] = 2000
        msg = assert_error(self, self.operator.post("/api/v1/ladders", ladder), 400, "invalid",
                           mentions=["rungs[1].video_bitrate_kbps", "60.0 %", "2750 to 3500"])
        self.assertIn("check_steps", msg)
        assert_error(self, self.viewer.get("/api/v1/ladders/steep"), 404)
        ladder["check_steps"] = False
        self.assertEqual(self.operator.post("/api/v1/ladders", ladder).status, 201)

    def test_odd_dimensions_and_wrong_order_name_the_rung(self):
        ladder = studio_ladder("odd")
        ladder["rungs"][2]["height"] = 361
        assert_error(self, self.operator.post("/api/v1/ladders", ladder), 400, "invalid",
                     mentions=["rungs[2].height", "even"])
        ladder = studio_ladder("upside-down")
        ladder["rungs"].reverse()
        assert_error(self, self.operator.post("/api/v1/ladders", ladder), 400, "invalid",
                     mentions=["rungs[1]", "highest to the lowest"])

    def test_builtins_cannot_be_changed_or_shadowed(self):
        assert_error(self, self.operator.put("/api/v1/ladders/720p-3",
                                             studio_ladder("720p-3")), 409, "conflict")
        assert_error(self, self.operator.post("/api/v1/ladders", studio_ladder("1080p-5")),
                     409, "conflict")
        assert_error(self, self.operator.delete("/api/v1/ladders/1080p-5"), 409, "conflict")

    def test_duplicate_id_is_409_and_path_id_must_match(self):
        self.assertEqual(self.operator.post("/api/v1/ladders", studio_ladder("twice")).status,
                         201)
        assert_error(self, self.operator.post("/api/v1/ladders", studio_ladder("twice")), 409,
                     "exists", mentions=["twice"])
        assert_error(self, self.operator.put("/api/v1/ladders/twice", studio_ladder("other")),
                     400, "invalid", mentions=["id"])
        assert_error(self, self.operator.put("/api/v1/ladders/missing",
                                             studio_ladder("missing")), 404, "not_found")

    def test_viewer_reads_but_cannot_change(self):
        assert_error(self, self.viewer.post("/api/v1/ladders", studio_ladder("viewer")), 403,
                     "forbidden")
        assert_error(self, self.viewer.delete("/api/v1/ladders/1080p-5"), 403, "forbidden")

    def test_changes_are_audited_and_survive_a_restart(self):
        self.assertEqual(self.admin.post("/api/v1/ladders", studio_ladder("kept")).status, 201)
        records = self.admin.get("/api/v1/audit?limit=50").json["records"]
        self.assertTrue(any(rec["action"] == "ladder.create" and rec["target"] == "kept"
                            for rec in records))
        self.box.restart()
        self.__class__.admin = self.box.admin()  # sessions end with the process
        r = self.admin.get("/api/v1/ladders/kept")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["rungs"]), 3)
        viewer = self.box.client(api_key=self.viewer.api_key)  # keys live in the store
        self.assertEqual(viewer.get("/api/v1/ladders/kept").status, 200)


if __name__ == "__main__":
    unittest.main()
