"""GET /api/v1/health (public) and GET /api/v1/system (authenticated)."""

import re
import time
import unittest

from ottbox import BoxTestCase, assert_error


class HealthTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        version = cls.box.cli_ok("version").stdout
        cls.version = re.match(r"ottboxd (\S+)", version).group(1)
        cls.viewer_key = cls.box.create_apikey("health-viewer", "viewer")

    def test_health_answers_without_auth(self):
        r = self.box.client().get("/api/v1/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"status", "version", "uptime_s"}, r.json)
        self.assertEqual(r.json["status"], "ok")
        self.assertEqual(r.json["version"], self.version)
        self.assertIsInstance(r.json["uptime_s"], int)
        self.assertGreaterEqual(r.json["uptime_s"], 0)

    def test_health_is_json_and_not_cached(self):
        r = self.box.client().get("/api/v1/health")
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r.headers)
        self.assertEqual(r.header("Cache-Control"), "no-store")

    def test_system_needs_auth(self):
        r = self.box.client().get("/api/v1/system")
        assert_error(self, r, 401, "unauthenticated")

    def test_system_with_a_bad_api_key_is_401(self):
        r = self.box.client(api_key="obk_0000000000000000_" + "A" * 43).get("/api/v1/system")
        assert_error(self, r, 401, "unauthenticated")

    def check_system(self, body):
        for key in ("version", "build_options", "uptime_s", "cpu", "memory", "storage", "store",
                    "hardware"):
            self.assertIn(key, body)
        self.assertEqual(body["version"], self.version)
        self.assertIsInstance(body["build_options"], list)
        self.assertTrue(all(isinstance(o, str) for o in body["build_options"]))
        self.assertIsInstance(body["uptime_s"], int)
        self.assertIsInstance(body["cpu"], dict)
        self.assertGreaterEqual(body["cpu"].get("cores", 0), 1, body["cpu"])
        self.assertIsInstance(body["memory"], dict)
        self.assertGreater(body["memory"].get("total_bytes", 0), 0, body["memory"])
        self.assertIsInstance(body["storage"], dict)
        self.assertGreater(body["storage"].get("total_bytes", 0), 0, body["storage"])
        self.assertIsInstance(body["store"], dict)
        self.assertIsInstance(body["store"].get("schema_version"), int, body["store"])
        self.assertGreaterEqual(body["store"]["schema_version"], 1)
        self.assertEqual(body["store"]["schema_version"], body["store"].get("schema_latest"))
        self.assertIsInstance(body["hardware"], list)
        names = [hw.get("name") for hw in body["hardware"]]
        self.assertIn("software", names, body["hardware"])

    def test_system_with_a_session_reports_the_box(self):
        r = self.admin.get("/api/v1/system")
        self.assertEqual(r.status, 200, r)
        self.check_system(r.json)

    def test_system_with_a_viewer_api_key_reports_the_box(self):
        r = self.box.client(api_key=self.viewer_key).get("/api/v1/system")
        self.assertEqual(r.status, 200, r)
        self.check_system(r.json)

    def test_software_backend_is_available(self):
        r = self.admin.get("/api/v1/system")
        software = [hw for hw in r.json["hardware"] if hw.get("name") == "software"]
        self.assertEqual(len(software), 1, r.json["hardware"])
        self.assertIs(software[0].get("available"), True, software[0])

    def test_uptime_grows(self):

        first = self.box.client().get("/api/v1/health").json["uptime_s"]
        time.sleep(1.1)
        second = self.box.client().get("/api/v1/health").json["uptime_s"]
        self.assertGreater(second, first)


if __name__ == "__main__":
    unittest.main()
