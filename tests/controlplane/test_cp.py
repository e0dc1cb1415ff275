"""The reference control plane (cp.py) against docs/control-plane.md, with device.py as the
device: enrollment, device tokens, desired state and its ETags, the test knobs, reported
state, events, diagnostics, a restart, TLS, a base URL with a path, and the CLI.

    cd tests/controlplane && /usr/bin/python3 -m unittest -v test_cp
"""

import datetime
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # appended: never shadow the importer's own modules
    sys.path.append(HERE)

import cp_jws as jws  # noqa: E402
from device import Client, Device  # noqa: E402
from cp_harness import CP, PYTHON, ControlPlane  # noqa: E402
from cp_jws import JwsError  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import utils  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CpTestCase(unittest.TestCase):
    """One control plane for the class, a fresh state directory."""

    cp: ControlPlane
    cp_args: list = []

    @classmethod
    def setUpClass(cls) -> None:
        cls.cp = ControlPlane(args=cls.cp_args).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.cp.cleanup()

    def tearDown(self) -> None:
        self.cp.clear_knobs()

    def pinned(self) -> list:
        return [jws.load_public_key(p.encode()) for p in self.cp.signing_keys_pem]

    def enrolled(self) -> Client:
        """A new device, enrolled."""
        client = Client(self.cp.base_url, Device())
        resp = client.enroll(self.cp.new_token())
        self.assertEqual(resp.status, 201, resp.body)
        return client


class EnrollmentTest(CpTestCase):
    def test_enroll(self) -> None:
        dev = Device()
        client = Client(self.cp.base_url, dev)
        token = self.cp.new_token()
        resp = client.enroll(token)
        self.assertEqual(resp.status, 201, resp.body)
        self.assertEqual(resp.json(), {"device_id": dev.device_id, "poll_interval_s": 60})
        self.assertTrue(dev.device_id.startswith("obx-") and len(dev.device_id) == 36)
        devices = {d["device_id"]: d for d in self.cp.admin("GET", "/devices")["devices"]}
        self.assertIn(dev.device_id, devices)
        self.assertEqual(devices[dev.device_id]["box"]["box_name"], "test box")
        one = self.cp.admin("GET", "/devices/" + dev.device_id)
        self.assertEqual(one["public_key_pem"], dev.public_key_pem)
        tokens = {t["token"]: t for t in self.cp.admin("GET", "/enrollment-tokens")["tokens"]}
        self.assertEqual(tokens[token]["used_by"], dev.device_id)

        # A lost answer: the same device and token again is the same success.
        again = client.enroll(token)
        self.assertEqual((again.status, again.json()), (201, resp.json()))

        # The token is good once: another device gets 409.
        other = Client(self.cp.base_url, Device()).enroll(token)
        self.assertEqual((other.status, other.error_code()), (409, "enrollment_token_used"))

    def test_wrong_or_expired_token(self) -> None:
        client = Client(self.cp.base_url, Device())
        resp = client.enroll("et-no-such-token")
        self.assertEqual((resp.status, resp.error_code()), (401, "bad_enrollment_token"))
        self.assertEqual(resp.json()["error"]["message"], "unknown enrollment token")
        token = self.cp.new_token(expires_in_s=1)
        time.sleep(1.1)
        resp = client.enroll(token)
        self.assertEqual((resp.status, resp.error_code()), (401, "enrollment_token_expired"))

    def test_id_must_derive_from_key(self) -> None:
        dev = Device()
        client = Client(self.cp.base_url, dev)
        token = self.cp.new_token()
        # Another device's id (a real one), signed with this key.
        forged = dev.enroll_jws(token, device=Device().device_id)
        resp = client.enroll(token, jws_text=forged)
        self.assertEqual((resp.status, resp.error_code()), (400, "device_id_mismatch"))
        # A signature that is not the jwk's, and a body that is no JWS.
        head, payload, _ = dev.enroll_jws(token).split(".")
        other_sig = Device().enroll_jws(token).split(".")[2]
        resp = client.enroll(token, jws_text="%s.%s.%s" % (head, payload, other_sig))
        self.assertEqual((resp.status, resp.error_code()), (400, "bad_signature"))
        resp = client.enroll(token, jws_text="not a jws")
        self.assertEqual((resp.status, resp.error_code()), (400, "malformed"))
        resp = client.raw("POST", "/v1/enroll", dev.enroll_jws(token).encode(),
                          {"Content-Type": "application/json"})
        self.assertEqual(resp.status, 415)
        # None of it used the token.
        self.assertEqual(client.enroll(token).status, 201)


class DeviceTokenTest(CpTestCase):
    client: Client

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.client = Client(cls.cp.base_url, Device())
        assert cls.client.enroll(cls.cp.new_token()).status == 201

    def refused(self, resp, code: str, status: int = 401) -> None:
        self.assertEqual((resp.status, resp.error_code()), (status, code), resp.body)
        if status == 401:
            self.assertEqual(resp.header("WWW-Authenticate"), 'Device error="%s"' % code)

    def test_good_token(self) -> None:
        self.assertEqual(self.client.desired().status, 404)
        self.assertEqual(self.client.report({"generation": 0, "status": "none"}).status, 204)

    def test_missing_or_garbage(self) -> None:
        c = self.client
        self.refused(c.call("GET", c.devpath("desired"), token=""), "missing_token")
        self.refused(c.call("GET", c.devpath("desired"), token="a.b.c"), "bad_token")

    def test_bad_signature(self) -> None:
        c = self.client
        path = c.path(c.devpath("desired"))
        token = c.device.token("GET", path, c.base_url)
        head, payload, sig = token.split(".")
        raw = bytearray(jws.b64url_decode(sig))
        raw[10] ^= 1
        self.refused(c.call("GET", c.devpath("desired"),
                            token="%s.%s.%s" % (head, payload, jws.b64url_encode(bytes(raw)))),
                     "bad_signature")
        # Signed by another key, claiming this device.
        other = Device()
        forged = other.token("GET", path, c.base_url,
                             header={"kid": c.device.device_id},
                             claims={"iss": c.device.device_id})
        self.refused(c.call("GET", c.devpath("desired"), token=forged), "bad_signature")

    def test_wrong_claims(self) -> None:
        c = self.client
        desired = c.devpath("desired")
        self.refused(c.desired(claims={"aud": "https://cp.example.net/ottbox"}),
                     "wrong_audience")
        self.refused(c.desired(claims={"iss": "obx-" + "1" * 32}), "wrong_issuer")
        self.refused(c.desired(header={"typ": "JWT"}), "bad_typ")
        self.refused(c.desired(lifetime_s=3600), "bad_token")
        self.refused(c.desired(claims={"jti": None}), "bad_token")
        # htm and htu bind the token to its request.
        token = c.device.token("PUT", c.path(desired), c.base_url)
        self.refused(c.call("GET", desired, token=token), "wrong_method")
        token = c.device.token("GET", c.path(c.devpath("reported")), c.base_url)
        self.refused(c.call("GET", desired, token=token), "wrong_path")
        token = c.device.token("GET", c.path(desired) + "?x=1", c.base_url)
        self.refused(c.call("GET", desired, token=token), "wrong_path")
        # Another device's path with this device's token.
        other = self.enrolled()
        token = c.device.token("GET", c.path(other.devpath("desired")), c.base_url)
        self.refused(c.call("GET", other.devpath("desired"), token=token), "bad_signature")
        # A device that never enrolled.
        stranger = Client(self.cp.base_url, Device())
        self.refused(stranger.desired(), "unknown_device")

    def test_time_window(self) -> None:
        c = self.client
        now = int(time.time())
        self.refused(c.desired(iat=now - 200), "token_expired")          # exp 80 s ago
        self.refused(c.desired(iat=now + 100), "token_not_yet_valid")    # 100 s ahead
        self.assertEqual(c.desired(iat=now - 150).status, 404)           # exp 30 s ago: skew
        self.assertEqual(c.desired(iat=now + 50).status, 404)            # 50 s ahead: skew

    def test_replayed_jti(self) -> None:
        c = self.client
        token = c.device.token("GET", c.path(c.devpath("desired")), c.base_url)
        self.assertEqual(c.call("GET", c.devpath("desired"), token=token).status, 404)
        self.refused(c.call("GET", c.devpath("desired"), token=token), "replayed_token")
        # The same jti in a new token is a replay too.
        jti = jws.parse_compact(token).payload["jti"]
        self.refused(c.desired(jti=jti), "replayed_token")

    def test_disabled_device(self) -> None:
        c = self.enrolled()
        self.cp.admin("POST", "/devices/%s/disable" % c.device.device_id)
        self.refused(c.desired(), "device_disabled", 403)
        self.cp.admin("POST", "/devices/%s/enable" % c.device.device_id)
        self.assertEqual(c.desired().status, 404)

    def test_admin_token(self) -> None:
        self.assertEqual(self.cp.admin_raw("GET", "/admin/v1/devices", token="").status, 401)
        self.assertEqual(self.cp.admin_raw("GET", "/admin/v1/devices", token="nope").status, 401)
        self.assertEqual(self.cp.admin_raw("GET", "/admin/v1/devices").status, 200)
        self.assertEqual(self.cp.admin_raw("GET", "/admin/v1/nothing").status, 404)


class DesiredTest(CpTestCase):
    def check(self, resp, device_id: str) -> dict:
        """A 200 with a bundle that verifies with a pinned key and passes the box's checks."""
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.header("Content-Type"), "application/jose")
        etag = resp.header("ETag") or ""
        self.assertRegex(etag, r'^"[^"]+"$')  # strong
        parsed = jws.verify_compact(resp.body.decode(), self.pinned(), typ=jws.BUNDLE_TYP)
        self.assertEqual(parsed.header["alg"], "ES256")
        self.assertEqual(parsed.header["kid"], self.cp.info["signing_keys"][0]["kid"])
        jws.check_bundle(resp.body.decode(), self.pinned(), device=device_id, now=time.time())
        return parsed.payload

    def test_desired_etag_generation(self) -> None:
        c = self.enrolled()
        dev = c.device.device_id
        self.assertEqual(c.desired().status, 404)
        payload = {"settings": {"box_name": "lab 1"},
                   "commands": [{"id": "c-1", "type": "reboot"}]}
        set1 = self.cp.set_desired(dev, payload, poll_interval_s=15)
        resp = c.desired()
        claims = self.check(resp, dev)
        self.assertEqual(claims["device_id"], dev)
        self.assertEqual(claims["payload"], payload)
        self.assertEqual(claims["poll_interval_s"], 15)
        self.assertEqual(claims["compat"], "ottbox-bundle/1")
        self.assertEqual(claims["generation"], set1["generation"])
        issued = jws.parse_rfc3339(claims["issued_at"])
        self.assertLess(abs(issued - time.time()), 5)
        self.assertGreater(jws.parse_rfc3339(claims["expires_at"]), issued + 86400)
        etag = resp.header("ETag") or ""
        self.assertEqual(etag, set1["etag"])

        not_modified = c.desired(etag)
        self.assertEqual((not_modified.status, not_modified.body), (304, b""))
        self.assertEqual(not_modified.header("ETag"), etag)
        self.assertEqual(c.desired('"other", W/' + etag).status, 304)
        self.assertEqual(c.desired('"other"').status, 200)

        # A new desired state: a new generation, above the old one, and a new ETag.
        self.cp.set_desired(dev, {"settings": {"box_name": "lab 2"}})
        resp2 = c.desired(etag)
        claims2 = self.check(resp2, dev)
        self.assertGreater(claims2["generation"], claims["generation"])
        self.assertNotEqual(resp2.header("ETag"), etag)
        self.assertEqual(claims2["poll_interval_s"], 15)  # kept from the last one

        # The request log shows the 304 path: method, path, If-None-Match, status.
        log = self.cp.requests(device=dev, path="/desired")
        self.assertEqual([e["status"] for e in log], [404, 200, 304, 304, 200, 200])
        self.assertEqual(log[2]["if_none_match"], etag)
        self.assertEqual(log[2]["etag"], etag)
        self.assertTrue(all(e["method"] == "GET" for e in log))
        self.assertTrue(all(log[i]["t"] <= log[i + 1]["t"] for i in range(len(log) - 1)))

    def test_fleet_desired(self) -> None:
        own = self.enrolled()
        self.cp.set_desired(own.device.device_id, {"settings": {"box_name": "own"}})
        fleet = self.cp.set_desired("*", {"settings": {"box_name": "fleet"}}, poll_interval_s=20)
        c = self.enrolled()
        self.assertEqual(self.cp.admin("GET", "/devices/%s" % c.device.device_id)[
            "desired_generation"], fleet["generation"])
        claims = self.check(c.desired(), c.device.device_id)
        self.assertEqual((claims["device_id"], claims["payload"]["settings"]["box_name"]),
                         ("*", "fleet"))
        # A device with its own desired state keeps it.
        claims = self.check(own.desired(), own.device.device_id)
        self.assertEqual(claims["payload"]["settings"]["box_name"], "own")
        # A new device learns the fleet's poll interval when it enrolls.
        resp = Client(self.cp.base_url, Device()).enroll(self.cp.new_token())
        self.assertEqual(resp.json()["poll_interval_s"], 20)

    def test_bad_bundles(self) -> None:
        c = self.enrolled()
        dev = c.device.device_id
        self.cp.set_desired(dev, {"settings": {"box_name": "good"}})
        good = c.desired()
        good_claims = self.check(good, dev)
        good_etag = good.header("ETag")
        unpinned = jws.load_public_key(
            self.cp.admin("GET", "/status")["unpinned_key"]["public_key_pem"].encode())
        now = time.time()

        def served(kind: str, **kw) -> str:
            knob = self.cp.bad_bundle(dev, kind, **kw)
            resp = c.desired(good_etag)
            self.assertEqual(resp.status, 200, kind)
            self.assertEqual(resp.header("ETag"), knob["etag"])
            self.assertNotEqual(resp.header("ETag"), good_etag)
            return resp.body.decode()

        def refused(token: str, code: str) -> None:
            with self.assertRaises(JwsError) as e:
                jws.check_bundle(token, self.pinned(), device=dev, now=now)
            self.assertEqual(e.exception.code, code)

        token = served("tampered")
        with self.assertRaises(JwsError):
            jws.verify_compact(token, self.pinned())
        parsed = jws.parse_compact(token)
        self.assertFalse(any(parsed.verifies_with(k) for k in self.pinned()))
        self.assertTrue(parsed.payload["payload"]["tampered"])
        self.assertGreater(parsed.payload["generation"], good_claims["generation"])
        refused(token, "bad_signature")

        token = served("old_generation")
        claims = jws.verify_compact(token, self.pinned()).payload
        self.assertLess(claims["generation"], good_claims["generation"])
        jws.check_bundle(token, self.pinned(), device=dev, now=now)  # only the generation is bad

        token = served("expired")
        claims = jws.verify_compact(token, self.pinned()).payload
        self.assertLess(jws.parse_rfc3339(claims["expires_at"]), now)
        refused(token, "expired")

        token = served("incompatible")
        self.assertEqual(jws.verify_compact(token, self.pinned()).payload["compat"],
                         "ottbox-bundle/999")
        refused(token, "incompatible")
        token = served("incompatible", compat="ottbox-bundle/2")
        self.assertEqual(jws.parse_compact(token).payload["compat"], "ottbox-bundle/2")

        token = served("wrong_device")
        claims = jws.verify_compact(token, self.pinned()).payload
        self.assertNotIn(claims["device_id"], (dev, "*"))
        refused(token, "wrong_device")

        token = served("unpinned_key")
        refused(token, "unknown_key")
        self.assertEqual(jws.verify_compact(token, [unpinned]).payload["device_id"], dev)
        self.assertEqual(jws.parse_compact(token).header["kid"], jws.key_id(unpinned))

        token = served("alg_none")
        self.assertEqual(jws.parse_compact(token).header["alg"], "none")
        refused(token, "bad_signature")

        self.assertEqual(served("raw", jws="x.y.z"), "x.y.z")

        # Cleared: the good bundle again, unchanged (the box's ETag matches: 304).
        self.cp.clear_knobs()
        self.assertEqual(c.desired(good_etag).status, 304)

        # count: served that many times, then the good one.
        self.cp.bad_bundle(dev, "expired", count=1)
        self.assertEqual(c.desired(good_etag).status, 200)
        self.assertEqual(c.desired(good_etag).status, 304)

        # A real change after the knobs still has the highest generation.
        self.cp.set_desired(dev, {"settings": {"box_name": "after"}})
        claims = self.check(c.desired(good_etag), dev)
        self.assertGreater(claims["generation"], parsed.payload["generation"])

    def test_failures(self) -> None:
        c = self.enrolled()
        dev = c.device.device_id
        self.cp.set_desired(dev, {})
        self.cp.fail(500, count=2)
        self.assertEqual([c.desired().status for _ in range(3)], [500, 500, 200])
        self.cp.fail(429, count=1, retry_after=7)
        resp = c.desired()
        self.assertEqual((resp.status, resp.header("Retry-After")), (429, "7"))
        self.assertEqual(c.desired().status, 200)
        self.cp.fail(429)  # until cleared, Retry-After 1 by default
        self.assertEqual([(r.status, r.header("Retry-After"))
                          for r in (c.desired(), c.desired())], [(429, "1")] * 2)
        self.assertEqual(c.events([{"seq": 1}]).status, 200)  # only desired, by default
        self.cp.clear_knobs()
        self.assertEqual(c.desired().status, 200)

        # Down, answering 503: every device endpoint; the admin API still works.
        self.cp.down("503", retry_after=2)
        resp = c.desired()
        self.assertEqual((resp.status, resp.header("Retry-After")), (503, "2"))
        self.assertEqual(c.events([{"seq": 2}]).status, 503)
        self.assertEqual(c.report({"generation": 1, "status": "applied"}).status, 503)
        self.assertEqual(self.cp.admin("GET", "/knobs")["down"]["mode"], "503")
        self.cp.admin("DELETE", "/knobs/down", expect=204)
        self.assertEqual(c.desired().status, 200)

        # Down, refusing connections: the socket closes and opens again after for_s.
        self.cp.down("refuse", for_s=2)
        deadline = time.monotonic() + 2
        while True:
            try:
                c.desired()
            except ConnectionRefusedError:
                break
            except ConnectionResetError:
                pass  # accepted into the backlog just before the socket closed
            self.assertLess(time.monotonic(), deadline, "the socket did not close")
            time.sleep(0.05)
        deadline = time.monotonic() + 6
        while True:
            try:
                self.assertEqual(c.desired().status, 200)
                break
            except (ConnectionRefusedError, ConnectionResetError):
                self.assertLess(time.monotonic(), deadline, "the control plane did not return")
                time.sleep(0.1)

    def test_expired_bundle_signed_again(self) -> None:
        c = self.enrolled()
        dev = c.device.device_id
        first = self.cp.set_desired(dev, {"settings": {"box_name": "x"}}, expires_in_s=1)
        time.sleep(1.1)
        claims = self.check(c.desired(first["etag"]), dev)
        self.assertGreater(claims["generation"], first["generation"])
        self.assertEqual(claims["payload"], {"settings": {"box_name": "x"}})


class ReportedEventsTest(CpTestCase):
    def test_reported(self) -> None:
        c = self.enrolled()
        dev = c.device.device_id
        report = {"generation": 3, "status": "refused",
                  "errors": [{"code": "expired", "message": "bundle expired"}],
                  "at": "2026-01-01T00:00:00Z", "version": "0.1.0", "box_name": "lab",
                  "channels": [{"id": "news", "state": "running", "reason": ""}],
                  "hardware": [{"name": "sw", "available": True}], "commands": []}
        resp = c.report(report)
        self.assertEqual((resp.status, resp.body), (204, b""))
        got = self.cp.reported(dev)
        self.assertEqual({k: got["latest"][k] for k in report}, report)
        self.assertIn("received_at", got["latest"])
        c.report(dict(report, generation=4, status="applied", errors=[]))
        got = self.cp.reported(dev)
        self.assertEqual(got["latest"]["status"], "applied")
        self.assertEqual([h["generation"] for h in got["history"]], [3, 4])
        self.assertEqual(self.cp.admin("GET", "/devices/" + dev)["reported_generation"], 4)
        bad = c.report({"generation": 1, "status": "fine"})
        self.assertEqual((bad.status, bad.error_code()), (400, "invalid"))
        self.assertEqual(c.call("PUT", c.devpath("reported"), b"{}", "text/plain").status, 415)

    def test_events_deduplicated(self) -> None:
        c = self.enrolled()
        dev = c.device.device_id

        def ev(seq: int) -> dict:
            return {"seq": seq, "at": "2026-01-01T00:00:%02dZ" % seq, "kind": "channel.live",
                    "level": "info", "channel": "news", "message": "live", "data": {"n": seq}}

        resp = c.events([ev(1), ev(2), ev(3)])
        self.assertEqual((resp.status, resp.json()), (200, {"acked_through": 3}))
        # At least once: a batch sent again after a lost answer, plus one new event.
        resp = c.events([ev(2), ev(3), ev(4)])
        self.assertEqual(resp.json(), {"acked_through": 4})
        got = self.cp.events(dev)
        self.assertEqual([e["seq"] for e in got["events"]], [1, 2, 3, 4])
        self.assertEqual((got["received"], got["duplicates"]), (6, 2))
        self.assertEqual(got["events"][3]["data"], {"n": 4})
        self.assertEqual(c.events([]).json(), {"acked_through": 4})
        too_many = c.events([ev(i) for i in range(10, 511)])
        self.assertEqual((too_many.status, too_many.error_code()), (400, "too_many_events"))
        self.assertEqual(c.events([{"seq": "x"}]).status, 400)
        self.assertEqual(len(self.cp.events(dev)["events"]), 4)

    def test_diagnostics(self) -> None:
        c = self.enrolled()
        dev = c.device.device_id
        data = os.urandom(100000)
        resp = c.diagnostics(data)
        self.assertEqual(resp.status, 201, resp.body)
        listed = self.cp.admin("GET", "/devices/%s/diagnostics" % dev)["diagnostics"]
        self.assertEqual([(d["size"], d["content_type"]) for d in listed],
                         [(100000, "application/gzip")])
        got = self.cp.admin("GET", "/devices/%s/diagnostics/%s" % (dev, listed[0]["id"]))
        self.assertEqual(got, data)


class RestartTest(unittest.TestCase):
    def test_state_survives_restart(self) -> None:
        with ControlPlane() as cp:
            c = Client(cp.base_url, Device())
            token = cp.new_token()
            self.assertEqual(c.enroll(token).status, 201)
            dev = c.device.device_id
            cp.set_desired(dev, {"settings": {"box_name": "kept"}})
            etag = c.desired().header("ETag")
            c.report({"generation": 1, "status": "applied"})
            c.events([{"seq": 1}, {"seq": 2}])
            kids = [k["kid"] for k in cp.info["signing_keys"]]
            admin_token = cp.admin_token

            cp.restart()
            self.assertEqual([k["kid"] for k in cp.info["signing_keys"]], kids)
            self.assertEqual(cp.admin_token, admin_token)
            self.assertEqual(c.desired(etag).status, 304)      # same bundle, same ETag
            self.assertEqual(cp.reported(dev)["latest"]["generation"], 1)
            self.assertEqual(c.events([{"seq": 2}, {"seq": 3}]).json(), {"acked_through": 3})
            self.assertEqual(cp.events(dev)["duplicates"], 1)   # seq 2 is known after restart
            other = Client(cp.base_url, Device()).enroll(token)
            self.assertEqual(other.status, 409)                 # the token stays used
            # Generations keep growing across the restart.
            self.assertEqual(cp.set_desired(dev, {})["generation"], 2)
            for name in ("devices.json", "tokens.json", "bundles.json", "reported.json",
                         "events.json", "keys.json"):
                with open(os.path.join(cp.state_dir, name)) as f:
                    json.load(f)
            self.assertFalse([n for n in os.listdir(cp.state_dir) if ".tmp-" in n])


def self_signed(directory: str) -> tuple:
    key = jws.generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(jws.private_key_pem(key))
    return cert_path, key_path


class TlsAndBasePathTest(unittest.TestCase):
    def test_https(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = self_signed(tmp)
            with ControlPlane(args=["--tls-cert", cert, "--tls-key", key],
                              ca_file=cert) as cp:
                self.assertTrue(cp.base_url.startswith("https://127.0.0.1:"))
                token = cp.admin("POST", "/enrollment-tokens", {}, 201)
                with open(cert) as f:
                    self.assertEqual(token["box_enroll"]["ca_pem"], f.read())
                c = Client(cp.base_url, Device(), ca_file=cert)
                self.assertEqual(c.enroll(token["token"]).status, 201)
                self.assertEqual(c.desired().status, 404)

    def test_base_url_with_path(self) -> None:
        port = free_port()
        base = "http://127.0.0.1:%d/ottbox" % port
        with ControlPlane(listen="127.0.0.1:%d" % port, args=["--base-url", base]) as cp:
            self.assertEqual(cp.base_url, base)
            token = cp.admin("POST", "/enrollment-tokens", {}, 201)
            self.assertEqual(token["box_enroll"]["url"], base)
            c = Client(base, Device())
            self.assertEqual(c.enroll(token["token"]).status, 201)
            self.assertEqual(c.desired().status, 404)  # htu /ottbox/v1/..., aud the base URL
            # Behind a proxy that takes /ottbox off: htu still names the box's path.
            path = "/v1/devices/%s/desired" % c.device.device_id
            tok = c.device.token("GET", "/ottbox" + path, base)
            self.assertEqual(c.raw("GET", path, headers={"Authorization": "Device " + tok})
                             .status, 404)
            tok = c.device.token("GET", path, base)
            resp = c.raw("GET", "/ottbox" + path, headers={"Authorization": "Device " + tok})
            self.assertEqual(resp.json()["error"]["code"], "wrong_path")


class CliTest(unittest.TestCase):
    def run_cp(self, *args: str, input: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, CP] + list(args), input=input, capture_output=True,
                              text=True, timeout=20)

    def test_sign_and_verify(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            key = os.path.join(tmp, "signing.pem")
            made = self.run_cp("keygen", "--out", key)
            self.assertEqual(made.returncode, 0, made.stderr)
            kid = json.loads(made.stdout)["kid"]
            dev = Device().device_id
            signed = self.run_cp("sign-bundle", "--key", key, "--generation", "7",
                                 "--device-id", dev, "--payload", '{"settings": {"a": 1}}',
                                 "--poll-interval", "30")
            self.assertEqual(signed.returncode, 0, signed.stderr)
            token = signed.stdout.strip()
            with open(key, "rb") as f:
                claims = jws.verify_compact(token, [jws.load_public_key(f.read())])
            self.assertEqual(claims.header, {"alg": "ES256", "typ": "ottbox-bundle+jws",
                                             "kid": kid})
            self.assertEqual((claims.payload["generation"], claims.payload["device_id"],
                              claims.payload["poll_interval_s"], claims.payload["payload"]),
                             (7, dev, 30, {"settings": {"a": 1}}))

            ok = self.run_cp("verify", "-", "--pubkey", key, "--device-id", dev, input=token)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
            self.assertTrue(json.loads(ok.stdout)["valid"])
            other = os.path.join(tmp, "other.pem")
            self.run_cp("keygen", "--out", other)
            bad = self.run_cp("verify", token, "--pubkey", other)
            self.assertEqual((bad.returncode, json.loads(bad.stdout)["code"]), (1, "unknown_key"))

            expired = self.run_cp("sign-bundle", "--key", key, "--generation", "8",
                                  "--payload", "{}", "--issued-at", "2020-01-01T00:00:00Z",
                                  "--expires-at", "2020-02-01T00:00:00Z").stdout.strip()
            res = self.run_cp("verify", expired, "--pubkey", key, "--device-id", dev)
            self.assertEqual((res.returncode, json.loads(res.stdout)["code"]), (1, "expired"))


class JwsUnitTest(unittest.TestCase):
    """The pieces on their own: raw r||s, base64url, ids, a known key's ids."""

    def test_signature_is_raw_64_bytes(self) -> None:
        key = jws.generate_key()
        token = jws.sign_compact(key, {"alg": "ES256"}, {"a": 1})
        sig = jws.b64url_decode(token.split(".")[2])
        self.assertEqual(len(sig), 64)
        self.assertNotIn("=", token)
        self.assertTrue(jws.parse_compact(token).verifies_with(key.public_key()))

    def test_b64url_strict(self) -> None:
        self.assertEqual(jws.b64url_decode("AQID"), b"\x01\x02\x03")
        for bad in ("AQ==", "A Q", "A+/B", "A"):
            with self.assertRaises(JwsError):
                jws.b64url_decode(bad)

    def test_ids(self) -> None:
        key = jws.generate_key().public_key()
        digest = hashlib.sha256(jws.spki_der(key)).hexdigest()
        self.assertEqual(jws.device_id(key), "obx-" + digest[:32])
        self.assertEqual(jws.key_id(key), digest[:16])
        self.assertEqual(jws.device_id(jws.jwk_public_key(jws.public_jwk(key))),
                         jws.device_id(key))

    @unittest.skipUnless(shutil.which("openssl"), "no openssl command")
    def test_openssl_agrees(self) -> None:
        """An independent check: openssl verifies our ES256 (after r||s -> DER) and hashes
        the same SubjectPublicKeyInfo into the device id."""
        key = jws.generate_key()
        token = jws.sign_compact(key, {"alg": "ES256"}, {"a": 1})
        head, payload, sig = token.split(".")
        raw = jws.b64url_decode(sig)
        der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                         int.from_bytes(raw[32:], "big"))
        with tempfile.TemporaryDirectory() as tmp:
            files = {"pub.pem": jws.public_key_pem(key.public_key()).encode(), "sig": der,
                     "data": (head + "." + payload).encode()}
            for name, data in files.items():
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(data)
            verified = subprocess.run(["openssl", "dgst", "-sha256", "-verify", "pub.pem",
                                       "-signature", "sig", "data"], cwd=tmp,
                                      capture_output=True, text=True)
            self.assertEqual(verified.returncode, 0, verified.stdout + verified.stderr)
            spki = subprocess.run(["openssl", "pkey", "-pubin", "-in", "pub.pem", "-outform",
                                   "DER"], cwd=tmp, capture_output=True, check=True).stdout
        self.assertEqual(jws.device_id(key.public_key()),
                         "obx-" + hashlib.sha256(spki).hexdigest()[:32])

    def test_jwk_checks(self) -> None:
        jwk = jws.public_jwk(jws.generate_key().public_key())
        for bad in (dict(jwk, crv="P-384"), dict(jwk, x=jwk["x"][:-2]), dict(jwk, d="AAAA"),
                    dict(jwk, y=jwk["x"])):
            with self.assertRaises(JwsError):
                jws.jwk_public_key(bad)


if __name__ == "__main__":
    unittest.main()
