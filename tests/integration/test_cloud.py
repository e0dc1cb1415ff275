"""Control-plane sync (issue 7) against a real ottboxd and the reference control plane
(tests/controlplane/cp.py): enrollment; a policy change that reaches the box within one poll
interval and changes what it does (a channel turns premium and needs tokens); tampered,
older, expired, incompatible and foreign bundles each refused, reported, and changing
nothing; a bundle that breaks the health check rolled back and reported; the control plane
down while the box keeps serving, the outbox holding events until it returns; the 304 path
applying nothing again; commands run once per id; air-gapped uploads; roles; a stop in the
middle of a health check rolled back at the next start."""

import http.server
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "controlplane"))

from cp_harness import ControlPlane  # noqa: E402
from ottbox import Box, assert_error  # noqa: E402

CP_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "controlplane", "cp.py")
SOURCE = "test://pattern?size=320x180&rate=25"
POLL_S = 10  # the shortest interval the protocol allows


def wait_until(check, timeout, what):
    """Polls check() until it returns something true; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out after %d s waiting for %s (last: %r)" % (timeout, what, last))


def channel_doc(cid, **kw):
    doc = {"id": cid, "name": cid, "input": {"url": SOURCE}, "ladder": "720p-3",
           "segment_seconds": 2}
    doc.update(kw)
    return doc


def enroll(test, box, key, cp, **kw):
    body = {"url": cp.base_url, "bundle_keys": cp.signing_keys_pem,
            "enrollment_token": cp.new_token()}
    body.update(kw)
    return box.client(api_key=key).post("/api/v1/cloud/enroll", body)


class CloudSyncTest(unittest.TestCase):
    """One box enrolled with one control plane for most cases."""

    @classmethod
    def setUpClass(cls):
        cls.cp = ControlPlane().start()
        cls.addClassCleanup(cls.cp.cleanup)
        cls.box = Box()
        cls.addClassCleanup(cls.box.close)
        cls.key = cls.box.create_apikey("fleet", "fleet")
        cls.api = cls.box.client(api_key=cls.key)
        r = enroll(cls, cls.box, cls.key, cls.cp)
        assert r.status == 201, r
        cls.device = r.json["device_id"]
        # The first bundle sets the poll interval every later poll keeps.
        cls.cp.set_desired(cls.device, {"settings": {"box_name": "rack-1"}},
                           poll_interval_s=POLL_S)
        cls.sync_and_wait(cls, lambda st: st["applied_generation"] >= 1)

    def setUp(self):
        self.cp.clear_knobs()

    # ---- helpers ----

    def status(self):
        r = self.api.get("/api/v1/cloud")
        self.assertEqual(r.status, 200, r)
        return r.json

    def sync_and_wait(self, predicate, timeout=20, what="the box's sync status"):
        r = self.api.post("/api/v1/cloud/sync")
        assert r.status == 202, r
        return wait_until(lambda: (lambda st: st if predicate(st) else None)(
            self.api.get("/api/v1/cloud").json), timeout, what)

    def desired(self, payload, **kw):
        return self.cp.set_desired(self.device, payload, poll_interval_s=POLL_S, **kw)

    def settings(self):
        return self.api.get("/api/v1/settings").json

    def wait_reported(self, predicate, timeout=20, what="a reported state"):
        def check():
            latest = self.cp.reported(self.device).get("latest")
            return latest if latest and predicate(latest) else None
        return wait_until(check, timeout, what)

    # ---- cases ----

    def test_enrollment_is_recorded_on_both_sides(self):
        st = self.status()
        self.assertEqual(st["state"], "enrolled")
        self.assertRegex(st["device_id"], r"^obx-[0-9a-f]{32}$")
        self.assertEqual(st["url"], self.cp.base_url)
        devices = self.cp.admin("GET", "/devices")["devices"]
        self.assertIn(self.device, [d["device_id"] for d in devices])
        latest = self.wait_reported(lambda rep: rep.get("generation", 0) >= 1)
        self.assertEqual(latest["box_name"], "rack-1")
        self.assertEqual(latest["version"], self.api.get("/api/v1/health").json["version"])
        # Every later request was the device's own: the control plane checked its tokens.
        self.assertFalse([q for q in self.cp.requests(device=self.device)
                          if q["status"] == 401], "a device request was refused")

    def test_enrollment_refusals_and_bad_requests(self):
        other = Box()
        self.addCleanup(other.close)
        key = other.create_apikey("fleet", "fleet")
        used = self.cp.new_token()
        first = enroll(self, other, key, self.cp, enrollment_token=used)
        self.assertEqual(first.status, 201, first)
        third = Box()
        self.addCleanup(third.close)
        key3 = third.create_apikey("fleet", "fleet")
        r = enroll(self, third, key3, self.cp, enrollment_token=used)
        assert_error(self, r, 409, "refused", mentions=["enrollment_token_used"])
        r = enroll(self, third, key3, self.cp, enrollment_token="et-not-a-real-token")
        assert_error(self, r, 409, "refused", mentions=["bad_enrollment_token"])
        self.assertEqual(third.client(api_key=key3).get("/api/v1/cloud").json["state"],
                         "not_enrolled")
        api3 = third.client(api_key=key3)
        for body, field in (
                ({"url": self.cp.base_url, "enrollment_token": "x"}, "bundle_keys"),
                ({"url": "ftp://cp.example", "bundle_keys": self.cp.signing_keys_pem,
                  "enrollment_token": "x"}, "url"),
                ({"url": self.cp.base_url, "bundle_keys": self.cp.signing_keys_pem},
                 "enrollment_token"),
                ({"url": self.cp.base_url, "bundle_keys": ["not a key"],
                  "enrollment_token": "x"}, "bundle_keys[0]"),
                ({"bundle_keys": self.cp.signing_keys_pem, "colour": "red"}, "colour")):
            with self.subTest(field=field):
                r = api3.post("/api/v1/cloud/enroll", body)
                assert_error(self, r, 400, "invalid", mentions=[field])

    def test_policy_change_reaches_the_box_within_one_interval(self):
        r = self.api.post("/api/v1/channels", channel_doc("news"))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.api.get("/live/news/master.m3u8").status, 404)
        before = self.status()["applied_generation"]
        gen = self.desired({"channels": [channel_doc("news", access="premium")]})["generation"]
        started = time.monotonic()
        # No "sync now": the box's own poll brings it.
        wait_until(lambda: self.status()["applied_generation"] >= gen,
                   POLL_S * 1.2 + 8, "generation %d applied by the box's own poll" % gen)
        self.assertLess(time.monotonic() - started, POLL_S * 1.2 + 8)
        self.assertGreater(gen, before)
        channel = self.api.get("/api/v1/channels/news").json
        self.assertEqual(channel["access"], "premium")
        self.assertTrue(channel["playback"]["hls"].startswith("/premium/live/"))
        # It now needs a token: none is 401, and the public path is gone.
        r = self.box.client().get("/premium/live/news/master.m3u8")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.box.client().get("/live/news/master.m3u8").status, 404)

    def test_bad_bundles_are_refused_reported_and_change_nothing(self):
        cases = (("tampered", "bad_signature"), ("alg_none", "bad_signature"),
                 ("unpinned_key", "unknown_key"), ("old_generation", "old_generation"),
                 ("expired", "expired"), ("incompatible", "incompatible"),
                 ("wrong_device", "wrong_device"))
        name = self.settings()["box_name"]
        applied = self.status()["applied_generation"]
        # A knob is in place before the new desired state is set, and each next one replaces
        # it: the box's own poll never meets the good bundle behind them until the end.
        self.cp.bad_bundle(self.device, cases[0][0])
        self.desired({"settings": {"box_name": "must-not-apply"}})
        for i, (kind, reason) in enumerate(cases):
            with self.subTest(kind=kind):
                # An older generation: the one the box applied, with other contents.
                extra = {"generation": applied} if kind == "old_generation" else {}
                if i:
                    self.cp.bad_bundle(self.device, kind, **extra)
                st = self.sync_and_wait(
                    lambda st: st["last_bundle_status"] == "refused" and
                    st["last_bundle_errors"] and
                    st["last_bundle_errors"][0]["code"] == reason,
                    what="a %s bundle refused as %s" % (kind, reason))
                self.assertEqual(st["applied_generation"], applied)
                self.assertEqual(self.settings()["box_name"], name)
                rep = self.wait_reported(
                    lambda rep: rep["status"] == "refused" and rep["errors"] and
                    rep["errors"][0]["code"] == reason, what="the refusal reported")
                self.assertTrue(rep["errors"][0]["message"])
                events = self.api.get("/api/v1/events?kind=cloud.refused&limit=1").json
                self.assertEqual(events["events"][0]["data"]["reason"], reason)
        # Cleared, the good bundle behind the knobs is taken.
        self.cp.clear_knobs()
        self.sync_and_wait(lambda st: st["last_bundle_status"] == "applied",
                           what="the good bundle applied after the knobs")
        self.assertEqual(self.settings()["box_name"], "must-not-apply")
        self.desired({"settings": {"box_name": "rack-1"}})
        self.sync_and_wait(lambda st: st["last_bundle_status"] == "applied" and
                           self.settings()["box_name"] == "rack-1")

    def test_invalid_payload_is_refused_with_the_field(self):
        applied = self.status()["applied_generation"]
        gen = self.desired({"channels": [channel_doc("bad", segment_seconds=10)]})["generation"]
        st = self.sync_and_wait(lambda st: st["last_bundle_status"] == "refused" and
                                st["last_bundle_generation"] == gen,
                                what="an invalid bundle refused")
        self.assertEqual(st["last_bundle_errors"][0]["code"], "invalid")
        self.assertIn("segment_seconds", st["last_bundle_errors"][0]["message"])
        self.assertEqual(st["applied_generation"], applied)
        self.assertEqual(self.api.get("/api/v1/channels/bad").status, 404)
        self.desired({"setting": {"box_name": "x"}})
        st = self.sync_and_wait(lambda st: st["last_bundle_status"] == "refused" and
                                "payload.setting" in st["last_bundle_errors"][0]["message"],
                                what="an unknown part refused")

    def test_a_bundle_that_breaks_a_channel_is_rolled_back(self):
        self.assertEqual(self.api.post("/api/v1/channels", channel_doc("rb")).status, 201)
        self.assertEqual(self.api.post("/api/v1/channels/rb/start").status, 200)
        wait_until(lambda: self.api.get("/api/v1/channels/rb").json["status"]["state"] ==
                   "live", 60, "channel rb live")
        gen = self.desired({"channels": [channel_doc("rb", input={"url": "file:missing.ts"})],
                            "settings": {"box_name": "broken"}})["generation"]
        st = self.sync_and_wait(lambda st: st["last_bundle_status"] == "rolled_back",
                                timeout=60, what="the bundle rolled back")
        self.assertIn('channel "rb"', st["last_bundle_errors"][0]["message"])
        bundle = [b for b in st["bundles"] if b["generation"] == gen][0]
        self.assertEqual(bundle["status"], "rolled_back")
        self.assertLess(st["applied_generation"], gen)
        # Everything the bundle set is back as it was, and the channel runs again.
        doc = self.api.get("/api/v1/channels/rb").json
        self.assertEqual(doc["input"]["url"], SOURCE)
        self.assertNotEqual(self.settings()["box_name"], "broken")
        wait_until(lambda: self.api.get("/api/v1/channels/rb").json["status"]["state"] ==
                   "live", 60, "channel rb live again")
        rep = self.wait_reported(lambda rep: rep["status"] == "rolled_back" and
                                 rep["generation"] == gen, what="the rollback reported")
        self.assertEqual(rep["errors"][0]["code"], "health_check")
        events = self.api.get("/api/v1/events?kind=cloud.rolled_back&limit=1").json["events"]
        self.assertEqual(events[0]["data"]["generation"], gen)
        # The same generation is not tried again; the next one is.
        self.api.post("/api/v1/channels/rb/stop")
        gen = self.desired({"settings": {"box_name": "rack-1"}})["generation"]
        self.sync_and_wait(lambda st: st["applied_generation"] >= gen)

    def test_offline_box_keeps_serving_and_flushes_its_outbox(self):
        self.sync_and_wait(lambda st: st["outbox"]["pending"] == 0, what="an empty outbox")
        self.cp.down("refuse", for_s=6)
        time.sleep(0.5)
        for i in range(3):
            r = self.box.admin().patch("/api/v1/settings", {"login_free_attempts": 5 + i})
            self.assertEqual(r.status, 200, r)
        st = self.sync_and_wait(lambda st: st["last_error"], what="the box noticing")
        self.assertGreaterEqual(st["outbox"]["pending"], 3)
        self.assertEqual(st["outbox"]["dropped"], 0)
        self.assertEqual(self.api.get("/api/v1/health").status, 200)
        # Back: the events arrive, none lost.
        time.sleep(6)
        wait_until(lambda: self.api.post("/api/v1/cloud/sync") and
                   self.status()["outbox"]["pending"] == 0 and not self.status()["last_error"],
                   40, "the outbox flushed")
        received = self.cp.events(self.device)["events"]
        changed = [e for e in received if e["kind"] == "settings.changed"]
        self.assertGreaterEqual(len(changed), 3)
        seqs = sorted(e["seq"] for e in received)
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
                         "the control plane's events have a gap")
        self.box.admin().patch("/api/v1/settings", {"login_free_attempts": 5})

    def test_not_modified_applies_nothing_again(self):
        gen = self.desired({"settings": {"box_name": "rack-1"}})["generation"]
        st = self.sync_and_wait(lambda st: st["applied_generation"] == gen)
        applied = st["applied_generation"]
        since = time.time()
        for _ in range(3):
            self.sync_and_wait(lambda st: True)
            time.sleep(0.5)
        polls = [q for q in self.cp.requests(device=self.device, path="/desired")
                 if q["t"] >= since]
        self.assertTrue(polls)
        self.assertTrue(all(q["status"] == 304 for q in polls), polls)
        self.assertTrue(all(q["if_none_match"] for q in polls))
        st = self.status()
        self.assertEqual(st["applied_generation"], applied)
        applies = [a for a in self.box.admin().get("/api/v1/audit?limit=200").json["records"]
                   if a["action"] == "cloud.apply" and a["target"] == "generation %d" % applied]
        self.assertEqual(len(applies), 1)

    def test_commands_run_once_per_id(self):
        self.assertEqual(self.api.post("/api/v1/channels", channel_doc("cmd")).status, 201)
        served = tempfile.mkdtemp(prefix="ottbox-upd-")
        with open(os.path.join(served, "update.bin"), "wb") as f:
            f.write(b"firmware image " * 1000)
        sha = hashlib.sha256(b"firmware image " * 1000).hexdigest()
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a: http.server.SimpleHTTPRequestHandler(
                *a, directory=served))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        url = "http://127.0.0.1:%d/update.bin" % server.server_port
        keys_before = len(self.box.admin().get("/api/v1/access/keys").json["keys"])
        commands = [{"id": "c-restart", "type": "restart_channel", "channel": "cmd"},
                    {"id": "c-rotate", "type": "rotate_token_keys"},
                    {"id": "c-diag", "type": "collect_diagnostics"},
                    {"id": "c-reboot", "type": "reboot"},
                    {"id": "c-update-bad", "type": "install_update", "url": url,
                     "sha256": "00" * 32},
                    {"id": "c-update", "type": "install_update", "url": url, "sha256": sha}]
        self.desired({"commands": commands})
        st = self.sync_and_wait(lambda st: len([c for c in st["commands"]
                                                if c["id"].startswith("c-") and
                                                c["status"] != "running"]) >= 6,
                                timeout=40, what="six commands run to their end")
        by_id = {c["id"]: c for c in st["commands"]}
        self.assertEqual(by_id["c-restart"]["status"], "done", by_id["c-restart"])
        self.assertEqual(by_id["c-rotate"]["status"], "done")
        self.assertEqual(by_id["c-diag"]["status"], "done")
        self.assertEqual(by_id["c-reboot"]["status"], "failed")
        self.assertIn("CONFIG_CLOUD_REBOOT_COMMAND", by_id["c-reboot"]["detail"])
        self.assertEqual(by_id["c-update-bad"]["status"], "failed")
        self.assertIn("sha256", by_id["c-update-bad"]["detail"])
        self.assertEqual(by_id["c-update"]["status"], "failed")
        self.assertIn("no installer", by_id["c-update"]["detail"])
        # The checked download is kept for the installer, whole.
        kept = os.listdir(os.path.join(self.box.data_dir, "updates"))
        self.assertEqual(len(kept), 1, kept)
        with open(os.path.join(self.box.data_dir, "updates", kept[0]), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), sha)
        keys = self.box.admin().get("/api/v1/access/keys").json["keys"]
        self.assertEqual(len(keys), keys_before + 1)
        self.assertTrue([k for k in keys if k["signing"] and k["id"].startswith("rot-")])
        diags = self.cp.admin("GET", "/devices/%s/diagnostics" % self.device)
        self.assertTrue(diags["diagnostics"], diags)
        kinds = [e["kind"] for e in self.api.get("/api/v1/events?limit=100").json["events"]]
        self.assertIn("update.started", kinds)
        self.assertIn("update.failed", kinds)
        rep = self.wait_reported(lambda rep: {c["id"] for c in rep.get("commands", [])} >=
                                 {"c-restart", "c-update"}, what="the commands reported")
        self.assertTrue(rep)
        # The same ids in a later bundle do not run again; a new id does.
        self.desired({"commands": commands + [{"id": "c-restart-2", "type":
                                               "restart_channel", "channel": "nope"}]})
        st = self.sync_and_wait(lambda st: "c-restart-2" in {c["id"] for c in st["commands"]})
        self.assertEqual(len([k for k in self.box.admin().get("/api/v1/access/keys").json[
            "keys"]]), keys_before + 1, "rotate_token_keys ran twice")
        self.assertEqual({c["id"]: c for c in st["commands"]}["c-restart-2"]["status"],
                         "failed")
        gen = self.desired({})["generation"]
        self.sync_and_wait(lambda st: st["applied_generation"] >= gen)

    def test_roles(self):
        viewer = self.box.client(api_key=self.box.create_apikey("v", "viewer"))
        operator = self.box.client(api_key=self.box.create_apikey("o", "operator"))
        self.assertEqual(viewer.get("/api/v1/cloud").status, 200)
        self.assertEqual(viewer.get("/api/v1/cloud/bundles").status, 200)
        for client in (viewer, operator):
            assert_error(self, client.post("/api/v1/cloud/sync"), 403, "forbidden")
            assert_error(self, client.post("/api/v1/cloud/enroll", {"bundle_keys": []}), 403,
                         "forbidden")
            assert_error(self, client.delete("/api/v1/cloud/enrollment"), 403, "forbidden")
            assert_error(self, client.post("/api/v1/cloud/bundles", {"jws": "x"}), 403,
                         "forbidden")
        # The bundle history never shows a bundle's text (it may carry token keys).
        self.assertNotIn("jws", json.dumps(viewer.get("/api/v1/cloud/bundles").json))


def cp_cli(*args, input=None):
    r = subprocess.run(["/usr/bin/python3", CP_PY] + list(args), capture_output=True,
                       text=True, input=input, timeout=30)
    return r


class AirGappedTest(unittest.TestCase):
    """A box that never reaches a control plane takes the same bundles by upload."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ottbox-airgap-")
        self.key_path = os.path.join(self.dir, "signing.pem")
        r = cp_cli("keygen", "--out", self.key_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = cp_cli("keygen", "--out", os.path.join(self.dir, "other.pem"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.box = Box()
        self.addCleanup(self.box.close)
        self.fleet = self.box.client(api_key=self.box.create_apikey("fleet", "fleet"))

    def pem_of(self, path):
        from cp_jws import load_private_key, public_key_pem
        with open(path, "rb") as f:
            return public_key_pem(load_private_key(f.read()).public_key())

    def sign(self, generation, payload, key=None, **kw):
        args = ["sign-bundle", "--key", key or self.key_path, "--generation", str(generation),
                "--device-id", kw.pop("device", "*"), "--payload", json.dumps(payload)]
        for name, value in kw.items():
            args += ["--" + name.replace("_", "-"), str(value)]
        r = cp_cli(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def upload(self, jws, as_json=False):
        if as_json:
            return self.fleet.post("/api/v1/cloud/bundles", {"jws": jws})
        return self.fleet.request("POST", "/api/v1/cloud/bundles", raw=jws.encode(),
                                  headers={"Content-Type": "application/jose"})

    def test_uploads_are_checked_and_applied_like_polled_bundles(self):
        # Not enrolled: nothing is pinned, so nothing verifies.
        r = self.upload(self.sign(1, {"settings": {"box_name": "vault"}}))
        assert_error(self, r, 422, "unknown_key")
        r = self.fleet.post("/api/v1/cloud/enroll", {"bundle_keys": [self.pem_of(self.key_path)]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["state"], "airgapped")
        bundle = self.sign(3, {"settings": {"box_name": "vault"}})
        r = self.upload(bundle)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "applied")
        self.assertEqual(self.fleet.get("/api/v1/settings").json["box_name"], "vault")
        # The same bundle again (here as JSON, pasted with a newline) is the one in force.
        r = self.upload(bundle + "\n", as_json=True)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "already_applied")
        # Other contents under the same generation are not.
        assert_error(self, self.upload(self.sign(3, {"settings": {"box_name": "other"}})), 422,
                     "old_generation")
        for jws, reason in (
                (self.sign(2, {"settings": {"box_name": "older"}}), "old_generation"),
                (self.sign(4, {"settings": {"box_name": "x"}},
                           key=os.path.join(self.dir, "other.pem")), "unknown_key"),
                (self.sign(4, {"settings": {"box_name": "x"}}, compat="ottbox-bundle/9"),
                 "incompatible"),
                (self.sign(4, {"settings": {"box_name": "x"}}, device="obx-" + "0" * 32),
                 "wrong_device"),
                (self.sign(4, {"settings": {"box_name": "x"}},
                           expires_at="2020-01-01T00:00:00Z", issued_at="2019-12-01T00:00:00Z"),
                 "expired"),
                ("not.a.bundle", "bad_signature")):
            with self.subTest(reason=reason):
                r = self.upload(jws)
                assert_error(self, r, 422, reason)
                self.assertEqual(r.json["error"]["code"], reason)
        # A tampered payload: one character of the signed part changed.
        good = self.sign(5, {"settings": {"box_name": "tamper"}})
        head, body, sig = good.split(".")
        flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
        assert_error(self, self.upload(".".join((head, flipped, sig))), 422, "bad_signature")
        self.assertEqual(self.fleet.get("/api/v1/settings").json["box_name"], "vault")
        st = self.fleet.get("/api/v1/cloud").json
        self.assertEqual(st["applied_generation"], 3)
        r = self.fleet.post("/api/v1/cloud/sync")
        assert_error(self, r, 409, "conflict")
        # Restarted, it keeps what it pinned and applied.
        self.box.restart()
        st = self.fleet.get("/api/v1/cloud").json
        self.assertEqual((st["state"], st["applied_generation"]), ("airgapped", 3))
        assert_error(self, self.upload(self.sign(3, {"settings": {"box_name": "again"}})),
                     422, "old_generation")


class OutboxBoundTest(unittest.TestCase):
    """While the control plane is away the outbox holds the newest 10000 events; older ones
    are dropped and counted, and the rest arrive once it is back, in order."""

    def test_the_outbox_is_bounded_and_flushes(self):
        import sqlite3
        cp = ControlPlane().start()
        self.addCleanup(cp.cleanup)
        box = Box()
        self.addCleanup(box.close)
        key = box.create_apikey("fleet", "fleet")
        api = box.client(api_key=key)
        self.assertEqual(enroll(self, box, key, cp).status, 201)
        device = api.get("/api/v1/cloud").json["device_id"]
        wait_until(lambda: api.get("/api/v1/cloud").json["outbox"]["pending"] == 0, 20,
                   "an empty outbox")
        received_before = cp.events(device)["received"]
        box.stop()
        # 10500 events while the box was cut off (written as its event log writes them).
        db = sqlite3.connect(box.db_path)
        last = db.execute("SELECT max(seq) FROM events").fetchone()[0]
        db.executemany("INSERT INTO events(seq, at_ms, level, kind, channel, message, data) "
                       "VALUES (?, ?, 0, 'test.filler', NULL, 'filler', '{}')",
                       [(last + i, int(time.time() * 1000)) for i in range(1, 10501)])
        db.commit()
        db.close()
        cp.down("503", for_s=600)
        box.start()
        st = wait_until(lambda: (lambda st: st if st["last_error"] else None)(
            api.get("/api/v1/cloud").json), 20, "the box seeing the control plane down")
        self.assertEqual(st["outbox"]["pending"], 10000)
        self.assertEqual(api.get("/api/v1/health").status, 200)
        cp.clear_knobs()
        api.post("/api/v1/cloud/sync")
        st = wait_until(lambda: (lambda st: st if st["outbox"]["pending"] == 0 and
                                 not st["last_error"] else None)(
            api.get("/api/v1/cloud").json), 60, "the outbox flushed")
        self.assertGreaterEqual(st["outbox"]["dropped"], 500)
        events = cp.events(device)
        self.assertGreaterEqual(events["received"] - received_before, 10000)
        filler = sorted(e["seq"] for e in events["events"] if e["kind"] == "test.filler")
        # The newest ones came, the oldest 500 (and more, for the box's own new events)
        # were dropped, and what came has no gap.
        self.assertEqual(filler[-1], last + 10500)
        self.assertEqual(filler, list(range(filler[0], last + 10501)))
        self.assertGreater(filler[0], last + 500)


class BoardEnrollmentTest(unittest.TestCase):
    """A board that ships its enrollment (--enroll-file) enrolls by itself on its first
    start, and the control plane gets its event log from the very first event."""

    def test_a_new_box_enrolls_from_its_file(self):
        cp = ControlPlane().start()
        self.addCleanup(cp.cleanup)
        data_dir = tempfile.mkdtemp(prefix="ottbox-it-board-")
        path = os.path.join(data_dir, "enroll.json")
        with open(path, "w") as f:
            json.dump({"url": cp.base_url, "bundle_keys": cp.signing_keys_pem,
                       "enrollment_token": cp.new_token()}, f)
        box = Box(data_dir=data_dir, extra_args=["--enroll-file", path])
        self.addCleanup(box.close)
        api = box.client(api_key=box.create_apikey("fleet", "fleet"))
        st = wait_until(lambda: (lambda st: st if st["state"] == "enrolled" else None)(
            api.get("/api/v1/cloud").json), 20, "the box enrolled from its file")
        devices = [d["device_id"] for d in cp.admin("GET", "/devices")["devices"]]
        self.assertIn(st["device_id"], devices)
        # Its log, from the first event on (it had none when it enrolled).
        api.post("/api/v1/cloud/sync")
        received = wait_until(lambda: cp.events(st["device_id"])["events"], 20,
                              "events at the control plane")
        self.assertEqual(min(e["seq"] for e in received), 1, received[:3])
        # Enrolled, it never reads the file again: a broken one changes nothing.
        with open(path, "w") as f:
            f.write("{not json")
        box.restart()
        self.assertEqual(api.get("/api/v1/cloud").json["state"], "enrolled")

    def test_a_broken_file_is_logged_and_the_box_runs(self):
        data_dir = tempfile.mkdtemp(prefix="ottbox-it-board-")
        path = os.path.join(data_dir, "enroll.json")
        with open(path, "w") as f:
            json.dump({"url": "ftp://cp.example", "bundle_keys": []}, f)
        box = Box(data_dir=data_dir, extra_args=["--enroll-file", path])
        self.addCleanup(box.close)
        api = box.client(api_key=box.create_apikey("fleet", "fleet"))
        self.assertEqual(api.get("/api/v1/cloud").json["state"], "not_enrolled")
        self.assertIn("not an enrollment the box can use", box.stderr())


class InterruptedApplyTest(unittest.TestCase):
    """A box killed while a bundle's health check runs rolls the bundle back at its next
    start: the store never keeps a half-checked bundle as if it were good."""

    def test_a_pending_bundle_is_rolled_back_at_start(self):
        cp = ControlPlane().start()
        self.addCleanup(cp.cleanup)
        box = Box()
        self.addCleanup(box.close)
        key = box.create_apikey("fleet", "fleet")
        api = box.client(api_key=key)
        self.assertEqual(box.admin().patch("/api/v1/settings",
                                           {"cloud_health_check_s": 120}).status, 200)
        self.assertEqual(enroll(self, box, key, cp).status, 201)
        device = api.get("/api/v1/cloud").json["device_id"]
        self.assertEqual(api.post("/api/v1/channels", channel_doc("slow", autostart=True))
                         .status, 201)
        # A UDP input nobody sends to: the channel never goes live, the check waits.
        gen = cp.set_desired(device, {"channels": [channel_doc(
            "slow", autostart=True, input={"url": "udp://127.0.0.1:5999"})],
            "settings": {"box_name": "half"}})["generation"]
        api.post("/api/v1/cloud/sync")
        wait_until(lambda: [b for b in api.get("/api/v1/cloud/bundles").json["bundles"]
                            if b["status"] == "pending"], 20, "the bundle pending")
        self.assertEqual(api.get("/api/v1/settings").json["box_name"], "half")
        box.kill9()
        box.start()
        st = api.get("/api/v1/cloud").json
        bundle = [b for b in st["bundles"] if b["generation"] == gen][0]
        self.assertEqual(bundle["status"], "rolled_back")
        self.assertIn("stopped", bundle["error"])
        self.assertNotEqual(api.get("/api/v1/settings").json["box_name"], "half")
        self.assertEqual(api.get("/api/v1/channels/slow").json["input"]["url"], SOURCE)
        # Served again, that generation is refused; the control plane hears why.
        api.post("/api/v1/cloud/sync")
        wait_until(lambda: (cp.reported(device).get("latest") or {}).get("status") in
                   ("rolled_back", "refused"), 20, "the rollback reported")


if __name__ == "__main__":
    unittest.main()
