"""The event log and the live event stream against a real ottboxd: what the box records
(channel lifecycle with its actor, state changes with warning and error levels, access and
settings changes, box start and stop), filtering and paging, sequence numbers that go on
across a restart; the server-sent event stream: stats with every channel's status, new events
as they happen, resuming with Last-Event-ID, the end of the session ending the stream, the
bound on open streams, and a box that stops promptly with streams open."""

import http.client
import json
import os
import socket
import threading
import time
import unittest

from ottbox import BoxTestCase, assert_error


def open_stream(box, query="", timeout=20, **kw):
    """A Stream, waiting while the box's stream slots are taken by streams whose clients
    left (the box notices at its next write, within 10 s)."""
    deadline = time.monotonic() + timeout
    while True:
        stream = Stream(box, query, **kw)
        if stream.resp.status != 503 or time.monotonic() > deadline:
            return stream
        stream.close()
        time.sleep(0.5)


class Stream:
    """One GET /api/v1/events/stream, read in a thread into a list of (type, id, data)."""

    def __init__(self, box, query="", api_key=None, cookie=None, last_event_id=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", box.port, timeout=60)
        headers = {"Accept": "text/event-stream"}
        if api_key:
            headers["Authorization"] = "Bearer " + api_key
        if cookie:
            headers["Cookie"] = cookie
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/api/v1/events/stream" + query, headers=headers)
        self.sock = self.conn.sock  # the reader holds it open; close() shuts it down
        self.resp = self.conn.getresponse()
        self.messages = []
        self.comments = []
        self.lock = threading.Lock()
        self.ended = threading.Event()
        if self.resp.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = self.resp.read()
            self.ended.set()
            self.close()

    def _read(self):
        kind, ident, data = "message", None, []
        try:
            while True:
                line = self.resp.fp.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\n")
                if line == "":
                    if data:
                        with self.lock:
                            self.messages.append((kind, ident, json.loads("\n".join(data))))
                    kind, ident, data = "message", None, []
                elif line.startswith(":"):
                    with self.lock:
                        self.comments.append(line)
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("id: "):
                    ident = int(line[4:])
                elif line.startswith("data: "):
                    data.append(line[6:])
        except (OSError, ValueError, AttributeError):
            pass  # closed under the reader
        self.ended.set()

    def wait_for(self, predicate, timeout=20, what="a message"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for message in self.messages:
                    if predicate(message):
                        return message
            time.sleep(0.1)
        raise AssertionError("no %s within %d s; got %r" % (what, timeout,
                                                             self.messages[-5:]))

    def events(self):
        with self.lock:
            return [m for m in self.messages if m[0] == "event"]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        self.resp.close()


class EventsTest(BoxTestCase, unittest.TestCase):
    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.key = cls.box.create_apikey("events-admin", "admin")
        cls.api = cls.box.client(api_key=cls.key)
        cls.viewer_key = cls.box.create_apikey("events-viewer", "viewer")

    def create_channel(self, cid, url=None):
        r = self.api.post("/api/v1/channels", {
            "id": cid, "name": cid,
            "input": {"url": url or "test://pattern?size=320x180&rate=10"},
            "ladder": "720p-3"})
        self.assertEqual(r.status, 201, r)

    def events(self, query=""):
        r = self.api.get("/api/v1/events" + query)
        self.assertEqual(r.status, 200, r)
        return r.json["events"]

    def wait_event(self, predicate, query="", timeout=30, what="event"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events(query):
                if predicate(e):
                    return e
            time.sleep(0.25)
        self.fail("no %s within %d s: %r" % (what, timeout, self.events(query)[:5]))

    def test_channel_lifecycle_is_recorded_with_its_actor_and_states(self):
        self.create_channel("ev-life")
        r = self.api.post("/api/v1/channels/ev-life/start", {})
        self.assertEqual(r.status, 200, r)
        live = self.wait_event(lambda e: e["kind"] == "channel.state"
                               and e["data"].get("state") == "live",
                               "?channel=ev-life", what="live state")
        self.assertEqual(live["level"], "info")
        self.assertEqual(live["channel"], "ev-life")
        self.assertIn("live", live["message"])
        self.assertEqual(self.api.post("/api/v1/channels/ev-life/stop", {}).status, 200)
        self.assertEqual(self.api.delete("/api/v1/channels/ev-life").status, 204)
        kinds = [e["kind"] for e in self.events("?channel=ev-life&kind=channel.&limit=500")]
        for kind in ("channel.created", "channel.started", "channel.stopped",
                     "channel.deleted"):
            self.assertIn(kind, kinds)
        created = [e for e in self.events("?channel=ev-life&kind=channel.created")][0]
        self.assertTrue(created["data"]["actor"].startswith("apikey:"), created)
        self.assertIn("by apikey:", created["message"])
        # Newest first, and sequence numbers grow.
        seqs = [e["seq"] for e in self.events("?channel=ev-life&limit=500")]
        self.assertEqual(seqs, sorted(seqs, reverse=True))

    def test_a_failing_channel_is_an_error_event_once(self):
        # A file that is not media: the channel fails, and retries. The log says so once,
        # at error level, not at every retry.
        os.makedirs(self.box.path("media"), exist_ok=True)
        with open(self.box.path("media", "junk.ts"), "wb") as f:
            f.write(bytes(range(256)) * 512)
        self.create_channel("ev-junk", "file:junk.ts")
        self.assertEqual(self.api.post("/api/v1/channels/ev-junk/start", {}).status, 200)
        try:
            failed = self.wait_event(lambda e: e["kind"] == "channel.state"
                                     and e["data"].get("state") == "failed",
                                     "?channel=ev-junk&level=warning", what="failure")
            self.assertEqual(failed["level"], "error")
            self.assertIn("file:junk.ts", failed["data"]["reason"])
            time.sleep(4)  # retries after 1 s and 2 s
            failures = self.events("?channel=ev-junk&level=error")
            self.assertEqual(len(failures), 1, failures)
        finally:
            self.api.post("/api/v1/channels/ev-junk/stop", {})
            self.api.delete("/api/v1/channels/ev-junk")

    def test_access_and_settings_changes_are_recorded(self):
        r = self.api.post("/api/v1/access/keys", {"id": "ev-key"})
        self.assertEqual(r.status, 201, r)
        r = self.api.patch("/api/v1/settings", {"box_name": "events-box"})
        self.assertEqual(r.status, 200, r)
        access = self.events("?kind=access.")[0]
        self.assertEqual(access["data"]["what"], "keys")
        self.assertIn("ev-key", access["message"])
        settings = self.events("?kind=settings.")[0]
        self.assertEqual(settings["data"]["settings"], {"box_name": "events-box"})
        self.assertIn("box_name", settings["message"])

    def test_filters_and_paging(self):
        for i in range(3):
            self.create_channel("ev-page-%d" % i)
        page = self.events("?kind=channel.created&limit=2")
        self.assertEqual(len(page), 2)
        older = self.events("?kind=channel.created&limit=2&before=%d" % page[-1]["seq"])
        self.assertTrue(older and older[0]["seq"] < page[-1]["seq"])
        after = self.events("?after=%d&limit=5" % older[0]["seq"])
        self.assertEqual([e["seq"] for e in after], sorted(e["seq"] for e in after))
        self.assertGreater(after[0]["seq"], older[0]["seq"])
        self.assertTrue(all(e["level"] == "error" for e in self.events("?level=error")))
        assert_error(self, self.api.get("/api/v1/events?level=loud"), 400, "invalid",
                     mentions=("level",))
        assert_error(self, self.api.get("/api/v1/events?channel=Not%20An%20Id"), 400,
                     "invalid", mentions=("channel",))
        assert_error(self, self.api.get("/api/v1/events?limit=501"), 400, "invalid",
                     mentions=("limit",))
        viewer = self.box.client(api_key=self.viewer_key)
        self.assertEqual(viewer.get("/api/v1/events").status, 200)
        self.assertEqual(self.box.client().get("/api/v1/events").status, 401)
        for i in range(3):
            self.api.delete("/api/v1/channels/ev-page-%d" % i)

    def test_the_stream_pushes_stats_and_new_events(self):
        stream = open_stream(self.box, "?stats=1", api_key=self.viewer_key)
        self.addCleanup(stream.close)
        self.assertEqual(stream.resp.status, 200)
        self.assertEqual(stream.resp.getheader("Content-Type"), "text/event-stream")
        self.assertEqual(stream.resp.getheader("Cache-Control"), "no-store")
        stats = stream.wait_for(lambda m: m[0] == "stats", what="stats")[2]
        for key in ("uptime_s", "cpu", "memory", "hardware_load"):
            self.assertIn(key, stats["system"])
        self.assertIn("busy_percent", stats["system"]["cpu"])
        self.create_channel("ev-stream")
        self.addCleanup(self.api.delete, "/api/v1/channels/ev-stream")
        created = stream.wait_for(lambda m: m[0] == "event"
                                  and m[2]["kind"] == "channel.created"
                                  and m[2]["channel"] == "ev-stream", what="created event")
        self.assertEqual(created[1], created[2]["seq"])  # the SSE id is the seq
        # The next stats list the channel with its status.
        listed = stream.wait_for(
            lambda m: m[0] == "stats" and any(c["id"] == "ev-stream"
                                              for c in m[2]["channels"]),
            what="stats with the channel")[2]
        channel = [c for c in listed["channels"] if c["id"] == "ev-stream"][0]
        self.assertEqual(channel["status"]["state"], "stopped")
        self.assertIn("playback", channel)
        # Two stats a second apart, and busy_percent once there is a previous reading.
        later = stream.wait_for(lambda m: m[0] == "stats"
                                and m[2]["system"]["cpu"]["busy_percent"] is not None,
                                what="busy_percent")[2]
        self.assertGreaterEqual(later["system"]["cpu"]["busy_percent"], 0)

    def test_a_filtered_stream_gets_only_its_events(self):
        stream = open_stream(self.box, "?stats=0&channel=ev-only", api_key=self.key)
        self.addCleanup(stream.close)
        self.create_channel("ev-other")
        self.create_channel("ev-only")
        self.addCleanup(self.api.delete, "/api/v1/channels/ev-other")
        self.addCleanup(self.api.delete, "/api/v1/channels/ev-only")
        stream.wait_for(lambda m: m[0] == "event" and m[2]["channel"] == "ev-only")
        time.sleep(0.5)
        self.assertEqual({m[2]["channel"] for m in stream.events()}, {"ev-only"})
        self.assertFalse([m for m in stream.messages if m[0] == "stats"])

    def test_reconnecting_with_last_event_id_gets_what_was_missed(self):
        before = self.api.get("/api/v1/events?limit=1").json["last_seq"]
        self.create_channel("ev-missed-1")
        self.create_channel("ev-missed-2")
        self.addCleanup(self.api.delete, "/api/v1/channels/ev-missed-1")
        self.addCleanup(self.api.delete, "/api/v1/channels/ev-missed-2")
        time.sleep(0.3)  # the log's writer stores them
        stream = open_stream(self.box, "?stats=0&kind=channel.created", api_key=self.key,
                             last_event_id=before)
        self.addCleanup(stream.close)
        stream.wait_for(lambda m: m[0] == "event" and m[2]["channel"] == "ev-missed-2")
        got = [m[2]["channel"] for m in stream.events()]
        self.assertEqual(got[:2], ["ev-missed-1", "ev-missed-2"])
        # And the stream goes on live after the replay, without repeating.
        self.create_channel("ev-missed-3")
        self.addCleanup(self.api.delete, "/api/v1/channels/ev-missed-3")
        stream.wait_for(lambda m: m[0] == "event" and m[2]["channel"] == "ev-missed-3")
        seqs = [m[1] for m in stream.events()]
        self.assertEqual(len(seqs), len(set(seqs)))
        assert_error(self, self.box.client(api_key=self.key).get(
            "/api/v1/events/stream", headers={"Last-Event-ID": "nope"}), 400, "invalid",
            mentions=("Last-Event-ID",))

    def test_the_end_of_the_session_ends_the_stream(self):
        client = self.box.admin()
        stream = open_stream(self.box, "?stats=1", cookie=client.cookie_header())
        self.addCleanup(stream.close)
        stream.wait_for(lambda m: m[0] == "stats")
        self.assertEqual(client.logout().status, 204)
        end = stream.wait_for(lambda m: m[0] == "end", timeout=15, what="end")
        self.assertIn("log in", end[2]["reason"])
        self.assertTrue(stream.ended.wait(5), "the box kept the stream open")
        # Without a session at all, the stream is refused.
        refused = open_stream(self.box, "", cookie=client.cookie_header())
        self.assertEqual(refused.resp.status, 401)


class StreamBoundTest(BoxTestCase, unittest.TestCase):
    """On a box of its own: the other tests' streams would take slots."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.viewer_key = cls.box.create_apikey("bound-viewer", "viewer")
        cls.api = cls.box.client(api_key=cls.viewer_key)

    def test_open_streams_are_bounded(self):
        # 16 worker threads: at most 4 streams at once; the fifth is told to come back.
        streams = []
        try:
            refused = None
            for _ in range(6):
                s = Stream(self.box, "?stats=0", api_key=self.viewer_key)
                streams.append(s)
                if s.resp.status != 200:
                    refused = s
                    break
            self.assertIsNotNone(refused, "six streams were all accepted")
            self.assertEqual(refused.resp.status, 503)
            self.assertEqual(refused.resp.getheader("Retry-After"), "10")
            self.assertIn("event streams", json.loads(refused.body)["error"]["message"])
            self.assertEqual(len([s for s in streams if s.resp.status == 200]), 4)
            # The API and the origin still answer with every stream slot taken.
            self.assertEqual(self.api.get("/api/v1/health").status, 200)
        finally:
            for s in streams:
                s.close()
        # A closed stream frees its slot (the box notices at its next write).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = Stream(self.box, "?stats=0", api_key=self.viewer_key)
            s.close()
            if s.resp.status == 200:
                break
            time.sleep(1)
        else:
            self.fail("stream slots were not freed after their clients left")


class EventsAcrossRestartTest(BoxTestCase, unittest.TestCase):
    def test_sequence_goes_on_and_the_box_stops_with_a_stream_open(self):
        key = self.box.create_apikey("restart", "admin")
        api = self.box.client(api_key=key)
        first = api.get("/api/v1/events").json["events"]
        self.assertEqual(first[0]["kind"], "box.started")
        stream = open_stream(self.box, "?stats=1", api_key=key)
        stream.wait_for(lambda m: m[0] == "stats")
        started = time.monotonic()
        self.box.stop()
        self.assertLess(time.monotonic() - started, 10, "the box waited on the stream")
        self.assertTrue(stream.ended.wait(5))
        stream.close()
        self.box.start()
        api = self.box.client(api_key=key)
        events = api.get("/api/v1/events?limit=10").json["events"]
        kinds = [e["kind"] for e in events]
        self.assertEqual(kinds[0], "box.started")
        self.assertIn("box.stopping", kinds)
        self.assertGreater(events[0]["seq"], first[0]["seq"])


if __name__ == "__main__":
    unittest.main()
