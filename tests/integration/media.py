"""Helpers for the engine's integration tests: ffmpeg sources, reading a channel's
playlists and segments, HLS playlist parsing, ffprobe, and waiting.

Where a channel's output is read from is decided in one place, LiveFiles: over HTTP from the
box's playback origin (GET /live/<id>/...) by default, as players read it, or from the data
directory on disk (<data_dir>/live/<id>/...) with OTTBOX_LIVE_FROM=disk.
"""

import functools
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

from ottbox import BoxTestCase

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
LIVE_FROM = os.environ.get("OTTBOX_LIVE_FROM", "http")

DASH_NS = "{urn:mpeg:dash:schema:mpd:2011}"


def missing_media_tools():
    """Why the engine tests cannot run here, or None."""
    if not FFMPEG or not FFPROBE:
        return "ffmpeg and ffprobe are needed (Debian's ffmpeg package)"
    return None


def free_udp_port():
    """A UDP port on 127.0.0.1 that nothing is bound to right now (UDP and SRT inputs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout, interval=0.25, what="the condition", details=None):
    """Calls fn until it returns something truthy; returns that. Raises AssertionError
    after timeout seconds naming what and the last value (and details() when given)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    extra = ""
    if details is not None:
        try:
            extra = "\n" + details()
        except Exception as e:  # the details are for the message only
            extra = "\n(no details: %s)" % e
    raise AssertionError("%s did not happen within %g s (last: %r)%s"
                         % (what, timeout, last, extra))


# ---- sources ----

def av_source_args(size="480x270", rate=25, video=True, audio=True, gop=50, kbps=1000,
                   frequency=440, audio_codec="aac", sample_rate=48000, realtime=True):
    """ffmpeg input and encoding options for a small test source: testsrc2 H.264
    (ultrafast, a keyframe every gop frames) and a sine tone (AAC unless audio_codec says
    otherwise, at sample_rate). realtime: read at the native rate (-re), as a live source."""
    args = ["-re"] if realtime else []
    if video:
        args += ["-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (size, rate)]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=%d:sample_rate=%d"
                 % (frequency, sample_rate)]
    if video:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                 "-pix_fmt", "yuv420p", "-g", str(gop), "-b:v", "%dk" % kbps,
                 "-threads", "1"]
    if audio:
        args += ["-c:a", audio_codec, "-b:a", "96k", "-ac", "2"]
    return args


def make_media_file(path, seconds, **source):
    """Writes a seconds long file of the test source (av_source_args(**source), not in
    real time) to path, e.g. a clip for a file: input in <data_dir>/media/."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"] +
                   av_source_args(realtime=False, **source) + ["-t", str(seconds), path],
                   check=True, timeout=60)
    return path


class HttpDirectory:
    """A threaded HTTP server on 127.0.0.1 (a free port) serving a directory, as a web
    server or CDN serves an HLS source that the box pulls. stop() shuts it down."""

    def __init__(self, directory):
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(Quiet, directory=directory)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


class Source:
    """An ffmpeg process that pushes a test source to the box.

    output: ffmpeg's output options and URL, e.g. ["-f", "mpegts", "udp://127.0.0.1:5000"].
    With retry (for an RTMP or SRT caller, which fails while the box does not listen yet),
    a watcher starts ffmpeg again whenever it exits, until stop(). The log of every run
    goes to log_path."""

    def __init__(self, output, input_args=None, retry=False, log_path=None):
        self.args = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "warning"] + \
            list(input_args if input_args is not None else av_source_args()) + list(output)
        self.retry = retry
        self.log_path = log_path or os.devnull
        self.proc = None
        self.runs = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._watcher = None

    def _spawn(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log)
        self.runs += 1

    def _watch(self):
        while not self._stop.is_set():
            with self._lock:
                proc = self.proc
            if proc is not None and proc.poll() is not None and not self._stop.is_set():
                time.sleep(0.3)
                with self._lock:
                    if not self._stop.is_set():
                        self._spawn()
            self._stop.wait(0.1)

    def start(self):
        self._stop.clear()
        with self._lock:
            self._spawn()
        if self.retry:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        return self

    def stop(self):
        """Kills ffmpeg (SIGKILL: the source vanishes, as a cut cable would)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        with self._lock:
            if self.proc is not None:
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


# ---- HLS ----

def parse_attributes(text):
    """'A=1,B="x,y",C=z' -> {'A': '1', 'B': 'x,y', 'C': 'z'}."""
    attrs = {}
    for m in re.finditer(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', text):
        value = m.group(2)
        attrs[m.group(1)] = value[1:-1] if value.startswith('"') else value
    return attrs


def parse_master(text):
    """A multivariant playlist -> {"variants": [{"attrs", "uri"}], "media": [attrs]}.
    Raises ValueError when it is not one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not a playlist: %r" % text[:200])
    variants, media = [], []
    pending = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = parse_attributes(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA:"):
            media.append(parse_attributes(line.split(":", 1)[1]))
        elif not line.startswith("#"):
            if pending is None:
                raise ValueError("a URI without EXT-X-STREAM-INF: %r" % line)
            variants.append({"attrs": pending, "uri": line})
            pending = None
    if pending is not None:
        raise ValueError("EXT-X-STREAM-INF without a URI")
    return {"variants": variants, "media": media}


def parse_media(text):
    """A media playlist -> dict with target_duration, media_sequence,
    discontinuity_sequence, ended, maps (every EXT-X-MAP URI in order), and segments:
    [{"uri", "duration", "map", "epoch" (0, 1.. counting discontinuities in this playlist),
    "discontinuity" (an EXT-X-DISCONTINUITY comes before it)}].
    Raises ValueError when it is malformed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not a playlist: %r" % text[:200])
    out = {"target_duration": None, "media_sequence": 0, "discontinuity_sequence": 0,
           "ended": False, "maps": [], "segments": []}
    duration = None
    current_map = None
    epoch = 0
    discontinuity = False
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            out["target_duration"] = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            out["media_sequence"] = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            out["discontinuity_sequence"] = int(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            if out["segments"]:
                epoch += 1
            discontinuity = True
        elif line.startswith("#EXT-X-MAP:"):
            current_map = parse_attributes(line.split(":", 1)[1])["URI"]
            out["maps"].append(current_map)
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",")[0])
        elif line == "#EXT-X-ENDLIST":
            out["ended"] = True
        elif not line.startswith("#"):
            if duration is None:
                raise ValueError("segment %s has no EXTINF" % line)
            out["segments"].append({"uri": line, "duration": duration, "map": current_map,
                                    "epoch": epoch, "discontinuity": discontinuity})
            duration = None
            discontinuity = False
    if out["target_duration"] is None:
        raise ValueError("no EXT-X-TARGETDURATION")
    return out


def segment_number(uri):
    """v0/123.m4s, v0/123.ts -> 123."""
    return int(re.fullmatch(r".*/(\d+)\.(?:m4s|ts)", uri).group(1))


def mpd_periods(text):
    """The Period elements of an MPD (ElementTree elements)."""
    root = ET.fromstring(text)
    return root.findall(DASH_NS + "Period")


def mpd_type(text):
    return ET.fromstring(text).get("type")


# ---- where a channel's files are read ----

class LiveFiles:
    """A channel's output (playlists, segments), by names relative to /live/<id>/.

    This is the one place that knows where they come from: the data directory on disk, or
    the box's playback origin over HTTP (the default; OTTBOX_LIVE_FROM=disk for the disk)."""

    def __init__(self, box, channel_id, source=None):
        self.box = box
        self.channel_id = channel_id
        self.source = source or LIVE_FROM

    def _http_get(self, name):
        conn = http.client.HTTPConnection("127.0.0.1", self.box.port, timeout=10)
        try:
            conn.request("GET", "/live/%s/%s" % (self.channel_id, name))
            resp = conn.getresponse()
            data = resp.read()
            return data if resp.status == 200 else None
        finally:
            conn.close()

    def read_bytes(self, name):
        """The file's content, or None when it does not exist (yet)."""
        if self.source == "http":
            return self._http_get(name)
        try:
            with open(self.box.path("live", self.channel_id, name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read(self, name):
        data = self.read_bytes(name)
        return None if data is None else data.decode("utf-8", "replace")

    def exists(self, name):
        if self.source == "http":
            return self._http_get(name) is not None
        return os.path.isfile(self.box.path("live", self.channel_id, name))

    def url(self, name):
        """What ffprobe opens for the file."""
        if self.source == "http":
            return "http://127.0.0.1:%d/live/%s/%s" % (self.box.port, self.channel_id, name)
        return self.box.path("live", self.channel_id, name)

    def listing(self, track):
        """The names (relative to /live/<id>/) of a track's files on disk: for checking
        that a restart left nothing behind. Disk only; None over HTTP."""
        if self.source == "http":
            return None
        d = self.box.path("live", self.channel_id, track)
        try:
            return sorted("%s/%s" % (track, n) for n in os.listdir(d))
        except FileNotFoundError:
            return []

    def master(self):
        text = self.read("master.m3u8")
        return None if text is None else parse_master(text)

    def media(self, name):
        text = self.read(name)
        return None if text is None else parse_media(text)


# ---- ffprobe ----

def ffprobe_json(url, entries, extra=(), timeout=60):
    """Runs ffprobe -of json -show_entries ENTRIES on url; returns the parsed output.
    Live HLS playlists are read from their first listed segment."""
    args = [FFPROBE, "-v", "error", "-of", "json", "-show_entries", entries]
    if url.endswith(".m3u8"):
        args += ["-live_start_index", "0"]
    args += list(extra) + [url]
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError("ffprobe %s failed (%d): %s"
                             % (url, result.returncode, result.stderr[-2000:]))
    return json.loads(result.stdout or "{}")


def probe_streams(url, timeout=60):
    """[{"index", "codec_type", "codec_name", "width", "height", "sample_rate"}] of a
    playlist, MPD or file (width and height for video, sample_rate for audio: a string)."""
    data = ffprobe_json(url, "stream=index,codec_type,codec_name,width,height,sample_rate",
                        timeout=timeout)
    return data.get("streams", [])


def probe_video_packets(url, seconds=None, timeout=60):
    """The first video stream's packets: [{"pts": float, "size": int, "key": bool}] in
    decode order. seconds limits how much is read (for live playlists, which never end)."""
    extra = ["-select_streams", "v:0"]
    if seconds:
        extra += ["-read_intervals", "%%+%d" % seconds]
    data = ffprobe_json(url, "packet=pts_time,size,flags", extra=extra, timeout=timeout)
    packets = []
    for p in data.get("packets", []):
        if p.get("pts_time") in (None, "N/A"):
            continue
        packets.append({"pts": float(p["pts_time"]), "size": int(p["size"]),
                        "key": "K" in p.get("flags", "")})
    return packets


def keyframe_times(packets):
    return sorted(round(p["pts"], 3) for p in packets if p["key"])


def gop_bitrate_kbps(packets):
    """The mean bitrate over the whole GOPs among packets (first keyframe to last), in
    kbit/s, or None with fewer than two keyframes."""
    keys = keyframe_times(packets)
    if len(keys) < 2:
        return None
    first, last = keys[0], keys[-1]
    size = sum(p["size"] for p in packets if first - 1e-4 <= p["pts"] < last - 1e-4)
    return size * 8 / (last - first) / 1000


# ---- a test case with a box, a small ladder and sources that always end ----

# Small rungs, so that an ASan build encodes them in real time on two cores; each rung's
# bitrate is 40 % below the one above (the box wants 30-45 %).
SMALL_LADDER = {
    "id": "small", "name": "Small",
    "rungs": [{"width": 480, "height": 270, "video_bitrate_kbps": 800},
              {"width": 320, "height": 180, "video_bitrate_kbps": 480},
              {"width": 256, "height": 144, "video_bitrate_kbps": 288}],
}
RUNGS = [(r["width"], r["height"], r["video_bitrate_kbps"]) for r in SMALL_LADDER["rungs"]]
SEGMENT_SECONDS = 2
# Long enough that every epoch of a test stays listed (the box allows up to 30).
LIVE_WINDOW_SEGMENTS = 30
LIVE_DEADLINE_S = 40


class EngineTestCase(BoxTestCase):
    """One box per class with the small ladder stored; every test's ffmpeg sources are
    killed, its channels stopped and then its HTTP servers shut down when it ends,
    whatever happened."""

    login_admin = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.admin.post("/api/v1/ladders", SMALL_LADDER)
        if r.status != 201:
            raise AssertionError("the small ladder was refused: %r" % (r,))

    def setUp(self):
        super().setUp()
        self.sources = []
        self.started = []
        self.servers = []
        self.addCleanup(self._end_everything)

    def _end_everything(self):
        for src in self.sources:
            src.stop()
        for cid in self.started:
            if self.box.running:
                self.admin.post("/api/v1/channels/%s/stop" % cid)
        # After the channels: a channel that loses its server while it runs would turn
        # degraded on the way out.
        for server in self.servers:
            server.stop()

    # ---- sources ----

    def source(self, output, input_args=None, retry=False, name="source"):
        """Starts an ffmpeg source (see Source); it is killed when the test ends."""
        src = Source(output, input_args=input_args, retry=retry,
                     log_path=self.box.path("ffmpeg-%s-%s.log" % (self.id().split(".")[-1],
                                                                  name)))
        self.sources.append(src)
        return src.start()

    def udp_source(self, port, input_args=None, name="udp"):
        return self.source(["-f", "mpegts", "udp://127.0.0.1:%d?pkt_size=1316" % port],
                           input_args=input_args, name=name)

    def http_directory(self, directory):
        """Serves directory over HTTP (see HttpDirectory) until the test ends."""
        server = HttpDirectory(directory)
        self.servers.append(server)
        return server

    # ---- channels ----

    def create_channel(self, cid, url, **fields):
        body = {"id": cid, "name": cid, "ladder": SMALL_LADDER["id"],
                "segment_seconds": SEGMENT_SECONDS,
                "live_window_segments": LIVE_WINDOW_SEGMENTS, "input": {"url": url}}
        body["input"].update(fields.pop("input", {}))
        body.update(fields)
        r = self.admin.post("/api/v1/channels", body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def start_channel(self, cid):
        r = self.admin.post("/api/v1/channels/%s/start" % cid)
        self.assertEqual(r.status, 200, r)
        self.started.append(cid)
        return r.json

    def stop_channel(self, cid):
        r = self.admin.post("/api/v1/channels/%s/stop" % cid)
        self.assertEqual(r.status, 200, r)
        return r.json

    def status(self, cid):
        r = self.admin.get("/api/v1/channels/%s" % cid)
        self.assertEqual(r.status, 200, r)
        return r.json["status"]

    def log_tail(self, chars=4000):
        return "the box's log (end):\n" + self.box.stderr()[-chars:]

    def wait_status(self, cid, predicate, timeout, what):
        """Polls the channel's status until predicate(status) holds; returns the status."""
        seen = []

        def check():
            st = self.status(cid)
            summary = (st.get("state"), st.get("reason"), st.get("input", {}).get("on_air"))
            if not seen or seen[-1] != summary:
                seen.append(summary)
            return st if predicate(st) else None

        return wait_until(check, timeout, what="channel %s: %s" % (cid, what),
                          details=lambda: "states seen: %r\n%s" % (seen, self.log_tail()))

    def wait_state(self, cid, state, timeout=LIVE_DEADLINE_S):
        return self.wait_status(cid, lambda st: st["state"] == state, timeout,
                                "state %s" % state)

    def wait_media(self, files, name, predicate, timeout, what):
        """Polls a media playlist until predicate(parsed) holds; returns the parsed one."""
        def check():
            parsed = files.media(name)
            return parsed if parsed and predicate(parsed) else None

        return wait_until(check, timeout, what="%s: %s" % (name, what),
                          details=lambda: "%s now:\n%s\n%s"
                          % (name, files.read(name), self.log_tail()))

    # ---- checks ----

    def assert_playlists_valid(self, files, ended=None):
        """The master playlist and every media playlist it names parse, list segments, and
        every file they name (init segments, media segments) exists. ended: when given,
        whether every media playlist must (True) or must not (False) end with ENDLIST.
        Returns {playlist name: parsed}."""
        master = files.master()
        self.assertIsNotNone(master, "there is no master.m3u8")
        names = [v["uri"] for v in master["variants"]] + \
            [m["URI"] for m in master["media"] if "URI" in m]
        self.assertTrue(names, "the master playlist names no playlists")
        parsed = {}
        for name in names:
            text = files.read(name)
            self.assertIsNotNone(text, "%s is in the master playlist but missing" % name)
            media = parse_media(text)
            self.assertTrue(media["segments"], "%s lists no segments:\n%s" % (name, text))
            if ended is not None:
                self.assertEqual(media["ended"], ended, "%s:\n%s" % (name, text))
                if ended:
                    self.assertEqual(text.strip().splitlines()[-1], "#EXT-X-ENDLIST",
                                     "%s does not end with EXT-X-ENDLIST" % name)
            for uri in sorted(set(media["maps"])):
                self.assertTrue(files.exists(uri), "%s names %s, which is missing" % (name, uri))
            for seg in media["segments"]:
                self.assertTrue(files.exists(seg["uri"]),
                                "%s names %s, which is missing" % (name, seg["uri"]))
            parsed[name] = media
        return parsed

    def assert_periods_fit(self, mpd):
        """A static MPD's last Period lasts until mediaPresentationDuration (ISO/IEC 23009-1
        5.3.2.1): every Period's start plus its segments must fit in it, or a player that
        follows the MPD (dash.js) stops early. Returns the duration in seconds."""
        duration = iso_seconds(ET.fromstring(mpd).get("mediaPresentationDuration"))
        for pid, start, end in mpd_period_spans(mpd):
            self.assertLessEqual(end, duration + 0.05,
                                 "Period %s spans %.3f..%.3f s of a %.3f s presentation:\n%s"
                                 % (pid, start, end, duration, mpd))
        return duration

    def assert_segment_durations(self, name, media, tolerance):
        """Every segment lasts segment_seconds (within tolerance) except the last of each
        epoch: the one before a discontinuity or the end of the playlist."""
        segs = media["segments"]
        for i, seg in enumerate(segs):
            last_of_epoch = (i + 1 < len(segs) and segs[i + 1]["epoch"] != seg["epoch"]) or \
                (i + 1 == len(segs) and media["ended"])
            if last_of_epoch:
                self.assertLessEqual(seg["duration"], SEGMENT_SECONDS + tolerance,
                                     "%s: %s" % (name, seg))
                self.assertGreater(seg["duration"], 0, "%s: %s" % (name, seg))
            else:
                self.assertAlmostEqual(seg["duration"], SEGMENT_SECONDS, delta=tolerance,
                                       msg="%s: segment %s lasts %.3f s, not %d s"
                                       % (name, seg["uri"], seg["duration"], SEGMENT_SECONDS))


# ---- DASH timing ----

def iso_seconds(text):
    """An xs:duration such as PT1H2M3.5S in seconds."""
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", text or "")
    if not m:
        raise ValueError("not a duration: %r" % text)
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def mpd_period_spans(text):
    """[(period id, start s, end of its first AdaptationSet's segments s)] of an MPD that
    uses SegmentTemplate with a SegmentTimeline, in presentation time."""
    spans = []
    for period in mpd_periods(text):
        start = iso_seconds(period.get("start", "PT0S"))
        end = start
        aset = period.find(DASH_NS + "AdaptationSet")
        tmpl = aset.find(DASH_NS + "SegmentTemplate") if aset is not None else None
        if tmpl is not None:
            scale = int(tmpl.get("timescale", "1"))
            pto = int(tmpl.get("presentationTimeOffset", "0"))
            t = None
            for s in tmpl.iter(DASH_NS + "S"):
                t = int(s.get("t")) if s.get("t") is not None else t
                n = int(s.get("r", "0")) + 1
                t += int(s.get("d")) * n
            if t is not None:
                end = start + (t - pto) / scale
        spans.append((period.get("id"), start, end))
    return spans
