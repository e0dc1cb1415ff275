"""Lifecycle webhooks against a real ottboxd and a local receiver (http.server in a thread):
a channel going live is delivered with a signature the test checks with hmac; a receiver
that fails for a while gets the same deliveries again (one idempotency key each), in order
per subject, with no loss; a delivery that gives up goes again on request; the history in
the API shows every attempt and the outcome; deliveries pending at a restart arrive after
it; CRUD is validated field by field; only fleet and admin keys manage webhooks; answers fit
docs/openapi.yaml.

The box runs with OTTBOX_TEST_WEBHOOK_TIMING (the tests' build only): retries after
200 ms, at most 1 s apart, for a few seconds, so the test takes seconds, not days."""

import hashlib
import hmac
import http.server
import json
import re
import threading
import time
import unittest

from ottbox import Box, BoxTestCase, assert_error, free_port
from test_openapi import Validator, load_spec, spec_routes

TEST_PATTERN = "test://pattern?size=320x180&rate=25"
CHANNEL_TYPES = ["channel.live", "channel.recovered", "channel.degraded", "channel.failed"]


class Receiver:
    """A webhook receiver: records every request, answers 500 to the first `fail_first`
    (or to all while `failing`), 200 otherwise."""

    def __init__(self, port=0, fail_first=0):
        self.lock = threading.Lock()
        self.requests = []          # dicts: headers, body (bytes), json, status, at
        self.fail_first = fail_first
        self.failing = False
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    fail = receiver.failing or receiver.fail_first > 0
                    if receiver.fail_first > 0:
                        receiver.fail_first -= 1
                    status = 500 if fail else 200
                    receiver.requests.append({
                        "path": self.path, "headers": dict(self.headers.items()),
                        "body": body, "json": json.loads(body), "status": status,
                        "at": time.time()})
                answer = b"not now" if fail else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hooks/ottbox?site=test" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def seen(self, predicate=lambda r: True):
        with self.lock:
            return [r for r in self.requests if predicate(r)]

    def effects(self):
        """What a receiver that dedupes by Idempotency-Key acts on: the first accepted
        request of each key, in the order they were accepted."""
        done, out = set(), []
        for r in self.seen(lambda r: r["status"] == 200):
            key = r["headers"]["Idempotency-Key"]
            if key not in done:
                done.add(key)
                out.append(r)
        return out

    def wait(self, predicate, count=1, timeout=30, what="deliveries"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.seen(predicate)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError("the receiver got %d %s within %d s (expected %d); it got: %r"
                             % (len(self.seen(predicate)), what, timeout, count,
                                [(r["json"].get("type"), r["json"].get("subject"),
                                  r["status"]) for r in self.seen()]))


def signature_ok(secret, request):
    """Checks X-Ottbox-Signature the way docs/webhooks.md tells receivers to."""
    header = request["headers"].get("X-Ottbox-Signature", "")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    timestamp = parts.get("t", "")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request["body"],
                        hashlib.sha256).hexdigest()
    return (timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
            and hmac.compare_digest(expected, parts.get("v1", "")))


class SchemaCheck:
    """Answers checked against docs/openapi.yaml."""

    @classmethod
    def load_schemas(cls):
        cls.spec = load_spec()
        cls.spec_ops = spec_routes(cls.spec)
        cls.validator = Validator(cls.spec)

    def check_schema(self, method, template, r):
        operation = self.spec_ops.get("%s %s" % (method, template))
        self.assertIsNotNone(operation, "%s %s is not in docs/openapi.yaml" % (method, template))
        response = self.validator.resolve((operation.get("responses") or {}).get(str(r.status)))
        self.assertIsNotNone(response, "%s %s does not document %d" % (method, template,
                                                                     r.status))
        if r.status == 204:
            return
        schema = response["content"]["application/json"]["schema"]
        self.validator.check(r.json, schema)


class WebhookTest(SchemaCheck, BoxTestCase, unittest.TestCase):
    box_args = {"env": {"OTTBOX_TEST_WEBHOOK_TIMING": "200,1000,4000"}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.load_schemas()
        cls.fleet = cls.box.client(api_key=cls.box.create_apikey("hooks-fleet", "fleet"))
        cls.admin_key = cls.box.client(api_key=cls.box.create_apikey("hooks-admin", "admin"))
        cls.operator = cls.box.client(api_key=cls.box.create_apikey("hooks-op", "operator"))
        cls.viewer = cls.box.client(api_key=cls.box.create_apikey("hooks-viewer", "viewer"))

    def receiver(self, **kw):
        receiver = Receiver(**kw)
        self.addCleanup(receiver.close)
        return receiver

    def add_hook(self, url, events, **extra):
        body = dict({"url": url, "events": events}, **extra)
        r = self.fleet.post("/api/v1/webhooks", body)
        self.assertEqual(r.status, 201, r)
        self.check_schema("POST", "/api/v1/webhooks", r)
        self.addCleanup(self.fleet.delete, "/api/v1/webhooks/" + r.json["id"])
        return r.json

    def channel(self, cid):
        r = self.fleet.post("/api/v1/channels", {"id": cid, "name": cid,
                                                 "input": {"url": TEST_PATTERN},
                                                 "ladder": "720p-3",
                                                 "segment_seconds": 2})
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.fleet.delete, "/api/v1/channels/" + cid)
        self.addCleanup(self.fleet.post, "/api/v1/channels/%s/stop" % cid, {})

    def start(self, cid):
        self.assertEqual(self.fleet.post("/api/v1/channels/%s/start" % cid, {}).status, 200)

    def stop(self, cid):
        self.assertEqual(self.fleet.post("/api/v1/channels/%s/stop" % cid, {}).status, 200)

    def deliveries(self, hook_id, query=""):
        r = self.fleet.get("/api/v1/webhooks/%s/deliveries%s" % (hook_id, query))
        self.assertEqual(r.status, 200, r)
        self.check_schema("GET", "/api/v1/webhooks/{id}/deliveries", r)
        return r.json["deliveries"]

    def wait_history(self, hook_id, predicate, timeout=15, what="history"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self.deliveries(hook_id, "?limit=100")
            if predicate(items):
                return items
            time.sleep(0.1)
        self.fail("no %s within %d s: %r" % (what, timeout, self.deliveries(hook_id)))

    def wait_event(self, predicate, query="", timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.fleet.get("/api/v1/events" + query).json["events"]
            found = [e for e in events if predicate(e)]
            if found:
                return found[0]
            time.sleep(0.1)
        self.fail("no such event within %d s: %r" % (timeout, events[:5]))

    def test_a_channel_going_live_is_delivered_signed(self):
        receiver = self.receiver()
        hook = self.add_hook(receiver.url, CHANNEL_TYPES, description="the NOC")
        self.assertTrue(hook["secret"].startswith("whsec_"), hook)
        self.channel("wh-live")
        self.start("wh-live")
        got = receiver.wait(lambda r: r["json"]["subject"] == "wh-live", what="live")[0]
        body = got["json"]
        self.assertTrue(signature_ok(hook["secret"], got), got["headers"])
        self.assertFalse(signature_ok(hook["secret"] + "x", got))
        self.assertEqual(got["path"], "/hooks/ottbox?site=test")
        self.assertEqual(got["headers"]["Content-Type"], "application/json")
        self.assertEqual(got["headers"]["X-Ottbox-Event"], "channel.live")
        self.assertEqual(got["headers"]["Idempotency-Key"], body["id"])
        self.assertEqual(body["type"], "channel.live")
        self.assertRegex(body["box"], r"^obx-[0-9a-f]{32}$")
        self.assertTrue(body["id"].startswith(body["box"] + "."), body)
        self.assertEqual(body["data"]["state"], "live")
        self.assertEqual(body["data"]["previous"], "starting")
        self.assertEqual(body["event"]["kind"], "channel.state")
        self.assertRegex(body["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.wait_event(lambda e: e["seq"] == body["event"]["seq"],
                        "?kind=channel.state&channel=wh-live")
        # Stopping is not a lifecycle event: nothing more arrives for it.
        self.stop("wh-live")
        time.sleep(0.5)
        self.assertEqual(len(receiver.seen(lambda r: r["json"]["subject"] == "wh-live")), 1)
        # The history says so too.
        items = self.wait_history(hook["id"], lambda items: items and
                                  items[0]["status"] == "delivered")
        self.assertEqual(items[0]["attempts"], 1)
        self.assertEqual(items[0]["attempt_log"][0]["http_status"], 200)
        self.assertEqual(items[0]["idempotency_key"], body["id"])
        self.assertEqual(items[0]["payload"], body)

    def test_a_failing_receiver_gets_everything_once_in_order(self):
        receiver = self.receiver(fail_first=3)
        hook = self.add_hook(receiver.url, CHANNEL_TYPES)
        # Three tests in a row (one subject, "ping"), while the receiver refuses.
        seqs = []
        for _ in range(3):
            r = self.fleet.post("/api/v1/webhooks/%s/test" % hook["id"], {})
            self.assertEqual(r.status, 202, r)
            self.check_schema("POST", "/api/v1/webhooks/{id}/test", r)
            seqs.append(r.json["event_seq"])
        receiver.wait(lambda r: r["status"] == 200, count=3, timeout=20, what="accepted pings")
        effects = receiver.effects()
        # Each key acted on once, all three, in the order of the events.
        self.assertEqual([e["json"]["event"]["seq"] for e in effects], seqs)
        self.assertEqual(len({e["headers"]["Idempotency-Key"] for e in effects}), 3)
        for request in receiver.seen():
            self.assertTrue(signature_ok(hook["secret"], request))
        # The refused ones were the first ping, tried again with the same key each time: a
        # subject's next delivery waits for the one before it.
        first_key = effects[0]["headers"]["Idempotency-Key"]
        refused = receiver.seen(lambda r: r["status"] == 500)
        self.assertEqual(len(refused), 3)
        self.assertEqual({r["headers"]["Idempotency-Key"] for r in refused}, {first_key})
        accepted_at = {e["headers"]["Idempotency-Key"]: e["at"] for e in effects}
        self.assertEqual(sorted(accepted_at.values()), [e["at"] for e in effects])
        # The history: every attempt of the first, and the outcome.
        items = self.wait_history(hook["id"], lambda items: len(items) == 3 and all(
            i["status"] == "delivered" for i in items))
        first = [i for i in items if i["idempotency_key"] == first_key][0]
        self.assertEqual(first["type"], "ping")
        self.assertEqual(first["attempts"], 4)
        self.assertEqual([a["http_status"] for a in first["attempt_log"]], [500, 500, 500, 200])
        self.assertEqual(first["attempt_log"][0]["error"], "answered 500: not now")
        self.assertIsNone(first["last_error"])
        self.assertIsNone(first["next_attempt_at"])
        # Paging and the status filter.
        page = self.deliveries(hook["id"], "?limit=2")
        self.assertEqual(len(page), 2)
        older = self.deliveries(hook["id"], "?before=%d" % page[-1]["id"])
        self.assertEqual([i["id"] for i in page + older], sorted((i["id"] for i in items),
                                                                 reverse=True))
        self.assertEqual(self.deliveries(hook["id"], "?status=failed"), [])
        view = self.fleet.get("/api/v1/webhooks/" + hook["id"]).json
        self.assertEqual(view["deliveries"]["delivered"], 3)
        self.assertEqual(view["last_attempt"]["http_status"], 200)

    def test_a_channel_live_twice_arrives_twice_in_order(self):
        receiver = self.receiver(fail_first=2)
        hook = self.add_hook(receiver.url, ["channel.live", "channel.recovered"])
        self.channel("wh-again")
        for _ in range(2):
            self.start("wh-again")
            receiver.wait(lambda r: r["json"]["subject"] == "wh-again" and r["status"] == 200,
                          count=1 if _ == 0 else 2, timeout=30, what="live")
            self.stop("wh-again")
        effects = [e["json"] for e in receiver.effects() if e["json"]["subject"] == "wh-again"]
        self.assertEqual([e["type"] for e in effects], ["channel.live", "channel.live"])
        self.assertLess(effects[0]["event"]["seq"], effects[1]["event"]["seq"])

    def test_a_delivery_that_gives_up_goes_again_on_request(self):
        receiver = self.receiver()
        receiver.failing = True
        hook = self.add_hook(receiver.url, ["*"])
        self.assertEqual(self.fleet.post("/api/v1/webhooks/%s/test" % hook["id"], {}).status,
                         202)
        # Retried for 4 s, then failed; the event log says so.
        items = self.wait_history(hook["id"], lambda items: items and
                                  items[0]["status"] == "failed", timeout=20, what="failure")
        failed = items[0]
        self.assertGreaterEqual(failed["attempts"], 3)
        self.assertEqual(failed["last_http_status"], 500)
        self.assertIsNotNone(failed["finished_at"])
        self.wait_event(lambda e: e["kind"] == "webhook.failed"
                        and e["data"]["webhook"] == hook["id"], "?kind=webhook.")
        self.assertEqual(self.fleet.get("/api/v1/webhooks/" + hook["id"]).json
                         ["deliveries"]["failed"], 1)
        # Sent again on request, with the same key, and it arrives.
        receiver.failing = False
        path = "/api/v1/webhooks/%s/deliveries/%d/retry" % (hook["id"], failed["id"])
        r = self.fleet.post(path, {})
        self.assertEqual(r.status, 202, r)
        self.check_schema("POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/retry", r)
        self.assertEqual(r.json["status"], "pending")
        got = receiver.wait(lambda r: r["status"] == 200, what="the retried delivery")[0]
        self.assertEqual(got["headers"]["Idempotency-Key"], failed["idempotency_key"])
        self.wait_history(hook["id"], lambda items: items[0]["status"] == "delivered")
        # A delivered one is not sent again; an unknown one is not found.
        assert_error(self, self.fleet.post(path, {}), 409, "conflict",
                     mentions=(str(failed["id"]),))
        assert_error(self, self.fleet.post("/api/v1/webhooks/%s/deliveries/99999/retry"
                                           % hook["id"], {}), 404, "not_found")
        assert_error(self, self.fleet.post("/api/v1/webhooks/%s/deliveries/nope/retry"
                                           % hook["id"], {}), 404, "not_found")

    def test_crud_and_its_validation(self):
        receiver = self.receiver()
        cases = [
            ({"url": "ftp://example.net/in", "events": ["*"]}, "url"),
            ({"url": "http://user:pw@example.net/", "events": ["*"]}, "url"),
            ({"url": "example.net", "events": ["*"]}, "url"),
            ({"url": receiver.url, "events": ["channel.up"]}, "events[0]"),
            ({"url": receiver.url, "events": []}, "events"),
            ({"url": receiver.url, "events": ["channel.live", "*"]}, "events[1]"),
            ({"url": receiver.url}, "events"),
            ({"events": ["*"]}, "url"),
            ({"url": receiver.url, "events": ["*"], "secret": "short"}, "secret"),
            ({"url": receiver.url, "events": ["*"], "description": "x" * 201}, "description"),
            ({"url": receiver.url, "events": ["*"], "colour": "red"}, "colour"),
            ({"url": receiver.url, "events": "channel.live"}, "events"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                r = self.fleet.post("/api/v1/webhooks", body)
                message = assert_error(self, r, 400, "invalid", mentions=(field,))
                self.assertEqual(r.json["error"].get("field"), field, message)
                self.check_schema("POST", "/api/v1/webhooks", r)
        # A secret given by the caller is taken and never shown.
        secret = "my-own-secret-0123456789"
        hook = self.add_hook(receiver.url, ["policy.applied", "update.failed"], secret=secret,
                             enabled=False)
        self.assertNotIn("secret", hook)
        self.assertFalse(hook["enabled"])
        self.assertEqual(hook["events"], ["policy.applied", "update.failed"])
        self.assertEqual(hook["created_by"].split(":")[0], "apikey")
        r = self.fleet.get("/api/v1/webhooks")
        self.check_schema("GET", "/api/v1/webhooks", r)
        listed = [h for h in r.json["webhooks"] if h["id"] == hook["id"]][0]
        self.assertNotIn("secret", listed)
        self.assertEqual([t["type"] for t in r.json["event_types"]][:4],
                         ["channel.live", "channel.recovered", "channel.degraded",
                          "channel.failed"])
        self.assertNotIn(secret, r.raw.decode())
        # A disabled webhook is not tested; enable it, then it is.
        assert_error(self, self.fleet.post("/api/v1/webhooks/%s/test" % hook["id"], {}), 409,
                     "conflict", mentions=("enable",))
        r = self.fleet.patch("/api/v1/webhooks/" + hook["id"], {"enabled": True,
                                                                "description": "ops"})
        self.assertEqual(r.status, 200, r)
        self.check_schema("PATCH", "/api/v1/webhooks/{id}", r)
        self.assertTrue(r.json["enabled"])
        self.assertEqual(r.json["description"], "ops")
        self.assertEqual(self.fleet.post("/api/v1/webhooks/%s/test" % hook["id"], {}).status,
                         202)
        got = receiver.wait(lambda r: r["json"]["type"] == "ping", what="ping")[0]
        self.assertEqual(got["headers"]["X-Ottbox-Event"], "ping")
        self.assertTrue(signature_ok(secret, got))
        self.assertEqual(got["json"]["data"]["webhook"], hook["id"])
        # A new secret, shown once, signs from then on.
        r = self.fleet.patch("/api/v1/webhooks/" + hook["id"], {"rotate_secret": True})
        self.assertEqual(r.status, 200, r)
        rotated = r.json["secret"]
        self.assertNotEqual(rotated, secret)
        self.assertNotIn("secret", self.fleet.get("/api/v1/webhooks/" + hook["id"]).json)
        self.fleet.post("/api/v1/webhooks/%s/test" % hook["id"], {})
        got = receiver.wait(lambda r: r["json"]["type"] == "ping", count=2, what="ping")[1]
        self.assertTrue(signature_ok(rotated, got))
        self.assertFalse(signature_ok(secret, got))
        for body, field in [({"url": "gopher://x/"}, "url"), ({"events": ["x"]}, "events[0]"),
                            ({"rotate_secret": False}, "rotate_secret"),
                            ({"rotate_secret": True, "secret": secret}, "rotate_secret"),
                            ({"id": "other"}, "id")]:
            with self.subTest(patch=body):
                assert_error(self, self.fleet.patch("/api/v1/webhooks/" + hook["id"], body),
                             400, "invalid", mentions=(field,))
        # Deleted with its deliveries.
        r = self.fleet.delete("/api/v1/webhooks/" + hook["id"])
        self.assertEqual(r.status, 204, r)
        for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/deliveries"),
                             ("POST", "/test")]:
            with self.subTest(method=method, path=path):
                r = self.fleet.request(method, "/api/v1/webhooks/%s%s" % (hook["id"], path),
                                       body={} if method in ("POST", "PATCH") else None)
                assert_error(self, r, 404, "not_found", mentions=(hook["id"],))
        assert_error(self, self.fleet.get("/api/v1/webhooks/%s/deliveries?status=lost"
                                          % hook["id"]), 400, "invalid", mentions=("status",))
        # The audit log has each change, and never the secret.
        audit = self.admin_key.get("/api/v1/audit?limit=100").json
        text = json.dumps(audit)
        for action in ("webhook.create", "webhook.update", "webhook.test", "webhook.delete"):
            self.assertIn(action, text)
        self.assertNotIn(secret, text)
        self.assertNotIn(rotated, text)
        self.assertNotIn("site=test", text)

    def test_only_fleet_and_admin_manage_webhooks(self):
        receiver = self.receiver()
        body = {"url": receiver.url, "events": ["*"]}
        for client, name in [(self.viewer, "viewer"), (self.operator, "operator")]:
            with self.subTest(role=name):
                assert_error(self, client.post("/api/v1/webhooks", body), 403, "forbidden")
                assert_error(self, client.get("/api/v1/webhooks"), 403, "forbidden")
        r = self.admin_key.post("/api/v1/webhooks", body)
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.admin_key.delete, "/api/v1/webhooks/" + r.json["id"])
        for client, name in [(self.viewer, "viewer"), (self.operator, "operator")]:
            with self.subTest(role=name):
                assert_error(self, client.get("/api/v1/webhooks/%s/deliveries" % r.json["id"]),
                             403, "forbidden")
        self.assertEqual(self.fleet.get("/api/v1/webhooks/" + r.json["id"]).status, 200)


class WebhookRestartTest(BoxTestCase, unittest.TestCase):
    """A box of its own: it restarts."""

    box_args = {"env": {"OTTBOX_TEST_WEBHOOK_TIMING": "200,1000,60000"}}

    def test_pending_deliveries_arrive_after_a_restart(self):
        fleet_key = self.box.create_apikey("restart-fleet", "fleet")
        fleet = self.box.client(api_key=fleet_key)
        port = free_port()  # nothing listens there yet: connections are refused
        url = "http://127.0.0.1:%d/in" % port
        r = fleet.post("/api/v1/webhooks", {"url": url, "events": ["*"]})
        self.assertEqual(r.status, 201, r)
        hook = r.json
        seqs = [fleet.post("/api/v1/webhooks/%s/test" % hook["id"], {}).json["event_seq"]
                for _ in range(2)]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            items = fleet.get("/api/v1/webhooks/%s/deliveries" % hook["id"]).json["deliveries"]
            if len(items) == 2 and max(i["attempts"] for i in items) >= 2:
                break
            time.sleep(0.1)
        self.assertEqual(len(items), 2, items)
        self.assertEqual({i["status"] for i in items}, {"pending"})
        self.assertTrue(items[-1]["last_error"], items)
        self.assertIsNone(items[-1]["last_http_status"])
        self.box.stop()
        receiver = Receiver(port=port)
        self.addCleanup(receiver.close)
        self.box.start()
        receiver.wait(lambda r: r["status"] == 200, count=2, timeout=20, what="after restart")
        self.assertEqual([e["json"]["event"]["seq"] for e in receiver.effects()], seqs)
        for request in receiver.seen():
            self.assertTrue(signature_ok(hook["secret"], request))
        fleet = self.box.client(api_key=fleet_key)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            items = fleet.get("/api/v1/webhooks/%s/deliveries" % hook["id"]).json["deliveries"]
            if all(i["status"] == "delivered" for i in items):
                break
            time.sleep(0.1)
        self.assertEqual({i["status"] for i in items}, {"delivered"}, items)
        self.assertTrue(re.search(r"webhooks: .*test timing", self.box.stderr()))


if __name__ == "__main__":
    unittest.main()
