#!/usr/bin/python3
"""make bench: ottboxd's transcode against one ffmpeg process, its origin against nginx.

The transcode is compared with one ffmpeg process doing the same work, the playback origin
with nginx serving the same files statically.

Prints figures and ratios against targets; it is not a test. It exits 0 unless a tool failed
to run (a step this build does not have yet is reported as not available and skipped).

1. A 1080p30 source (testsrc2 + a sine tone, libx264 crf 12, AAC), made once and cached
   under $O/bench/ (O defaults to output).
2. `ottboxd --data-dir TMP transcode SRC --ladder 1080p-5 --out DIR` against the equivalent
   single ffmpeg process: one decode, split, scale=W:H (bicubic) per rung, libx264 per rung
   with the settings docs/encoding.md gives, AAC once, HLS fMP4 segments. Each is timed for
   wall time, CPU time (user+sys, from wait4) and peak RSS (ru_maxrss from wait4).
3. PSNR of every rung against the source, the same way for both: init + segments read from
   the rung's HLS playlist, scaled back to the source size (bicubic), ffmpeg's psnr filter.
4. Time to first segment: a real ottboxd on a temporary data directory and a free port,
   a channel on test://pattern, then POST .../start and a poll for live/<id>/master.m3u8.
5. Token verification: $O/tests/bench/token_bench (tests/bench/token_bench.c, built by
   `make bench`), the median cost of verifying a typical ACL token against a 2-key ring,
   signed by the first key and by the second (which costs both MACs).
6. Origin throughput: a real ottboxd runs a premium channel (test://pattern 1280x720@30,
   ladder 720p-3, 2 s segments) until every track has 10 segments, then stops it: its files
   stay on disk unchanged and nothing encodes during the load. A public channel, never
   started, gets the same files as hard links. The box generates a key and issues a playback
   token (POST /api/v1/access/keys, POST /api/v1/playback-tokens). nginx (a config of its
   own in a temporary directory, in the foreground, as the calling user: worker_processes
   auto, sendfile, tcp_nopush, keep-alive, no access log) serves DATA_DIR/live statically
   under /premium/live/ and /live/. wrk (-t2 -c16, a Lua script cycling through every media
   segment of every track) loads each in turn: nginx with the premium requests (the token
   in the query, which nginx ignores), the box's premium path with the token, the box's
   public path without one (the token check's cost is the difference), --origin-rounds
   times; the median round of each is printed (requests/s, MiB/s, latency p50/p99, failed
   answers, the server's CPU time per request, the cores other processes and the cores
   nothing kept busy) and the ratio of the box's requests/s to
   nginx's (the median of the rounds' ratios) against the 0.5 target. A build without
   playback tokens measures the public path only, with no target.

The ladder comes from the daemon itself (GET /api/v1/ladders/1080p-5, defaults filled in);
the copy below is used only when the daemon cannot be asked.

Options: --seconds N (source length), --repeat N (median of N runs), --ottboxd PATH
(default $OTTBOXD or $O/bin/ottboxd), --only SECTION[,SECTION] (of transcode, psnr, ttfs,
token, origin), --skip-transcode, --skip-psnr, --skip-ttfs, --skip-token, --skip-origin,
--origin-seconds N (each wrk run, default 5), --origin-rounds N (default 3),
--origin-connections N (default 16: one per CivetWeb worker thread of the host build, which
holds a connection for as long as it is kept alive), --verbose (print commands).
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "integration"))

import ottbox  # noqa: E402  (the integration tests' daemon helpers)

OUT_ROOT = os.path.join(REPO_ROOT, os.environ.get("O") or "output")
BENCH_DIR = os.path.join(OUT_ROOT, "bench")

LADDER = "1080p-5"
SEGMENT_SECONDS = 4
SOURCE_SIZE = (1920, 1080)
SOURCE_FPS = 30
AUDIO_RATE = 48000
AUDIO_CHANNELS = 2

# Targets: ottbox / ffmpeg ratios, ottbox's own core utilisation, PSNR distance per rung,
# and time to first segment = segment duration + this.
TARGET_WALL_RATIO = 0.95
TARGET_CPU_RATIO = 1.0
TARGET_UTILISATION = 0.95
TARGET_PSNR_DB = 0.1
TARGET_TTFS_EXTRA_S = 1.5
TARGET_TOKEN_VERIFY_US = 2.0
TOKEN_BENCH = os.path.join(OUT_ROOT, "tests", "bench", "token_bench")

# Above this many cores busy with other processes during a run, the figures get a note.
OTHERS_NOTE = 0.10

TTFS_POLL_S = 0.020
TTFS_GIVE_UP_S = 30.0
CHANNEL = {"name": "bench", "input": {"url": "test://pattern?size=1280x720&rate=30"},
           "segment_seconds": SEGMENT_SECONDS}

# firmware/engine/ladder.c's 1080p-5 with ob_engine_ladder_fill_defaults applied: used only
# when the daemon does not answer GET /api/v1/ladders/1080p-5.
FALLBACK_LADDER = {
    "id": "1080p-5",
    "rungs": [dict(width=w, height=h, video_bitrate_kbps=k, max_bitrate_kbps=k * 11 // 10,
                   buffer_kbits=k * 2, codec="h264", profile="high", preset="veryfast")
              for w, h, k in ((1920, 1080, 6000), (1280, 720, 3500), (960, 540, 2000),
                              (768, 432, 1200), (640, 360, 730))],
    "audio": {"mode": "aac", "bitrate_kbps": 128},
}

OK, NO = "\u2713", "\u2717"

# The sections, in the order they run (--only picks some, --skip-NAME leaves one out).
SECTIONS = ("transcode", "psnr", "ttfs", "token", "origin")


class NotAvailable(Exception):
    """This build does not have the step yet (unknown command, 404)."""


class ToolFailed(Exception):
    """A tool that should have worked did not."""


def say(*args):
    print(*args, flush=True)


def progress(what):
    """What the bench is doing now, on stderr, so the report on stdout stays a table."""
    print("bench: %s ..." % what, file=sys.stderr, flush=True)


def mark(good):
    return OK if good else NO


def tail(text, lines=8):
    return "\n".join("    " + l for l in text.strip().splitlines()[-lines:])


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ---- running and measuring ----

class Run:
    """One measured child: wall s, CPU s (user+sys), peak RSS MiB, exit code, its log, and
    others: the cores other processes kept busy on average while it ran."""

    def __init__(self, wall, cpu, rss_mib, code, log, others):
        self.wall, self.cpu, self.rss_mib, self.code, self.log = wall, cpu, rss_mib, code, log
        self.others = others


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy (not idle or iowait) since boot."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def measure(argv, log_path, env=None):
    """Runs argv with stdout+stderr into log_path; wall from just before the fork to the
    reap, CPU and peak RSS from the child's own rusage (wait4)."""
    with open(log_path, "wb") as log:
        busy = busy_cpu_seconds()
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        busy_after = busy_cpu_seconds()
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    others = None
    if busy is not None and busy_after is not None:
        others = max(0.0, (busy_after - busy - cpu) / wall)
    return Run(wall, cpu, usage.ru_maxrss / 1024.0, proc.returncode, read_text(log_path),
               others)


def median_run(runs):
    others = [r.others for r in runs if r.others is not None]
    return Run(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
               statistics.median(r.rss_mib for r in runs), 0, runs[-1].log,
               max(others) if others else None)


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ---- the source ----

def make_source(ffmpeg, seconds, verbose):
    """The cached 1080p30 source; made (atomically) when missing."""
    w, h = SOURCE_SIZE
    path = os.path.join(BENCH_DIR, "src-%dp%d-%ds.mp4" % (h, SOURCE_FPS, seconds))
    if os.path.exists(path):
        return path, False
    os.makedirs(BENCH_DIR, exist_ok=True)
    progress("making the %d s source (once; cached as %s)" % (seconds, path))
    part = path + ".part.mp4"
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=%dx%d:rate=%d" % (w, h, SOURCE_FPS),
            "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=%d" % AUDIO_RATE,
            "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p",
            "-g", str(2 * SOURCE_FPS),
            "-c:a", "aac", "-b:a", "192k", "-ac", str(AUDIO_CHANNELS), "-ar", str(AUDIO_RATE),
            "-movflags", "+faststart", part]
    if verbose:
        say("  $ " + shlex.join(argv))
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolFailed("ffmpeg could not make the source (exit %d):\n%s"
                         % (result.returncode, tail(result.stderr)))
    os.replace(part, path)
    return path, True


def probe_frames(ffprobe, path):
    """Number of video frames (packets) in a file, or None."""
    result = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-count_packets",
                             "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    try:
        return int(result.stdout.strip().split(",")[0])
    except ValueError:
        return None


# ---- the ladder ----

def fetch_ladder(binary):
    """The built-in ladder as the daemon serves it, or (FALLBACK_LADDER, why not)."""
    box = None
    try:
        box = ottbox.Box(start=False, data_dir=tempfile.mkdtemp(prefix="ottbox-bench-"))
        box.binary = binary
        box.start()
        key = box.create_apikey("bench-ladder", "viewer")
        r = box.client(api_key=key).get("/api/v1/ladders/" + LADDER)
        if r.status != 200 or not isinstance(r.json, dict) or not r.json.get("rungs"):
            return FALLBACK_LADDER, "GET /api/v1/ladders/%s answered %d" % (LADDER, r.status)
        return r.json, None
    except (ottbox.DaemonError, AssertionError, OSError, RuntimeError) as e:
        return FALLBACK_LADDER, str(e).splitlines()[0]
    finally:
        if box is not None:
            try:
                box.close()
            except (ottbox.DaemonError, AssertionError, OSError):
                box.kill9()


# ---- the two transcodes ----

ENCODERS = {"h264": "libx264"}


def ffmpeg_ladder_argv(ffmpeg, src, ladder, out_dir):
    """One ffmpeg process that does what `ottboxd transcode` does: decode once, split, scale
    per rung, libx264 per rung as drivers-glue/sw.c opens it, AAC once, HLS fMP4 segments."""
    rungs = ladder["rungs"]
    gop = SEGMENT_SECONDS * SOURCE_FPS
    graph = "[0:v]split=%d%s" % (len(rungs), "".join("[s%d]" % i for i in range(len(rungs))))
    maps = []
    for i, r in enumerate(rungs):
        if r.get("codec", "h264") not in ENCODERS:
            raise ToolFailed("rung %d: codec %r has no ffmpeg equivalent here" % (i, r["codec"]))
        graph += ";[s%d]scale=%d:%d[v%d]" % (i, r["width"], r["height"], i)
        maps += ["-map", "[v%d]" % i,
                 "-c:v:%d" % i, ENCODERS[r.get("codec", "h264")],
                 "-preset:v:%d" % i, r.get("preset", "veryfast"),
                 "-profile:v:%d" % i, r.get("profile", "high"),
                 "-b:v:%d" % i, "%dk" % r["video_bitrate_kbps"],
                 "-maxrate:v:%d" % i, "%dk" % r["max_bitrate_kbps"],
                 "-bufsize:v:%d" % i, "%dk" % r["buffer_kbits"]]
    audio_kbps = ladder.get("audio", {}).get("bitrate_kbps", 128)
    streams = " ".join("v:%d,agroup:aud,name:v%d" % (i, i) for i in range(len(rungs)))
    return ([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", src,
             "-filter_complex", graph] + maps +
            ["-g", str(gop), "-keyint_min", str(gop), "-flags:v", "+cgop",
             "-x264-params", "scenecut=0:open-gop=0:keyint=%d:min-keyint=%d" % (gop, gop),
             "-forced-idr", "1",
             "-map", "0:a", "-c:a", "aac", "-b:a", "%dk" % audio_kbps,
             "-ac", str(AUDIO_CHANNELS), "-ar", str(AUDIO_RATE),
             "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
             "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
             "-hls_segment_filename", os.path.join(out_dir, "%v", "%d.m4s"),
             "-master_pl_name", "master.m3u8",
             "-var_stream_map", streams + " a:0,agroup:aud,name:a0",
             os.path.join(out_dir, "%v", "index.m3u8")])


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def ffmpeg_once(argv, out_dir):
    fresh_dir(out_dir)
    run = measure(argv, os.path.join(BENCH_DIR, "ffmpeg.log"))
    if run.code != 0:
        raise ToolFailed("ffmpeg exited with %d:\n%s" % (run.code, tail(run.log)))
    if not os.path.exists(os.path.join(out_dir, "master.m3u8")):
        raise ToolFailed("ffmpeg wrote no master.m3u8 in %s" % out_dir)
    return run


def ottbox_argv(binary, data_dir, src, out_dir):
    return [binary, "--data-dir", data_dir, "transcode", src, "--ladder", LADDER,
            "--out", out_dir]


def ottbox_once(argv, out_dir):
    fresh_dir(out_dir)
    run = measure(argv, os.path.join(BENCH_DIR, "ottbox.log"))
    if run.code == 2 and "unknown command" in run.log:
        raise NotAvailable(run.log.strip().splitlines()[0])
    if run.code != 0:
        raise ToolFailed("ottboxd transcode exited with %d:\n%s" % (run.code, tail(run.log)))
    if not os.path.exists(os.path.join(out_dir, "master.m3u8")):
        raise ToolFailed("ottboxd transcode exited 0 but wrote no master.m3u8 in %s" % out_dir)
    return run


def transcodes(args, binary, src, ladder):
    """Runs both tools --repeat times, taking turns; returns ({tool: median Run},
    {tool: output dir}, [tools that failed], [lines to print]). A tool that fails or is
    not available drops out of the later turns."""
    out_dirs = {"ffmpeg": os.path.join(BENCH_DIR, "ffmpeg"),
                "ottbox": os.path.join(BENCH_DIR, "ottbox")}
    data_dir = tempfile.mkdtemp(prefix="ottbox-bench-")
    argvs = {"ffmpeg": ffmpeg_ladder_argv(args.ffmpeg, src, ladder, out_dirs["ffmpeg"]),
             "ottbox": ottbox_argv(binary, data_dir, src, out_dirs["ottbox"])}
    once = {"ffmpeg": ffmpeg_once, "ottbox": ottbox_once}
    if args.verbose:
        for argv in argvs.values():
            say("  $ " + shlex.join(argv))
    runs = {tool: [] for tool in argvs}
    failed, active, notes = [], list(argvs), []
    try:
        for turn in range(args.repeat):
            for tool in list(active):
                progress("%s transcode, run %d of %d" % (tool, turn + 1, args.repeat))
                try:
                    runs[tool].append(once[tool](argvs[tool], out_dirs[tool]))
                except NotAvailable as e:
                    notes.append("  ottbox transcode: not available in this build (%s)" % e)
                    active.remove(tool)
                except (ToolFailed, OSError) as e:
                    notes.append("  %s: failed: %s" % ("ottbox transcode" if tool == "ottbox"
                                                       else tool, e))
                    failed.append(tool)
                    active.remove(tool)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return ({tool: median_run(runs[tool]) for tool in active},
            {tool: out_dirs[tool] for tool in active}, failed, notes)


# ---- HLS output read back ----

def playlist_lines(path):
    text = read_text(path)
    if not text.startswith("#EXTM3U"):
        raise ToolFailed("%s is not an HLS playlist" % path)
    return [l.strip() for l in text.splitlines() if l.strip()]


def variant_playlists(master):
    """The media playlists a master playlist names (variants; audio renditions left out)."""
    out = []
    lines = playlist_lines(master)
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF") and i + 1 < len(lines) \
                and not lines[i + 1].startswith("#"):
            out.append(os.path.normpath(os.path.join(os.path.dirname(master), lines[i + 1])))
    return out


def media_files(playlist):
    """(init segment, [media segments], seconds) of a media playlist."""
    base = os.path.dirname(playlist)
    init, segments, seconds, expect_uri = None, [], 0.0, False
    for line in playlist_lines(playlist):
        if line.startswith("#EXT-X-MAP:"):
            m = re.search(r'URI="([^"]+)"', line)
            if m:
                init = os.path.join(base, m.group(1))
        elif line.startswith("#EXTINF:"):
            seconds += float(line[len("#EXTINF:"):].split(",")[0])
            expect_uri = True
        elif not line.startswith("#") and expect_uri:
            segments.append(os.path.join(base, line))
            expect_uri = False
    return init, segments, seconds


def collect_rungs(ffprobe, out_dir, work_dir, tag):
    """{(w, h): {"file": init+segments joined, "kbps": media bitrate}} for a tool's output."""
    rungs = {}
    for n, playlist in enumerate(variant_playlists(os.path.join(out_dir, "master.m3u8"))):
        init, segments, seconds = media_files(playlist)
        if not segments:
            raise ToolFailed("%s lists no segments" % playlist)
        joined = os.path.join(work_dir, "%s-%d.mp4" % (tag, n))
        media_bytes = 0
        with open(joined, "wb") as out:
            for part in ([init] if init else []) + segments:
                with open(part, "rb") as f:
                    data = f.read()
                out.write(data)
                if part != init:
                    media_bytes += len(data)
        result = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0",
                                 "-show_entries", "stream=width,height", "-of", "csv=p=0",
                                 joined], stdin=subprocess.DEVNULL, capture_output=True,
                                text=True)
        try:
            w, h = (int(x) for x in result.stdout.strip().split(",")[:2])
        except ValueError:
            continue  # no video in this variant
        rungs[(w, h)] = {"file": joined, "kbps": media_bytes * 8 / 1000.0 / max(seconds, 1e-9),
                         "playlist": playlist}
    return rungs


PSNR_LINE = re.compile(r"PSNR y:(\S+) u:(\S+) v:(\S+) average:(\S+)")


def psnr(ffmpeg, rung_file, src):
    """(Y, overall) PSNR in dB of a rung against the source: both streams restarted at 0,
    the rung scaled to the source size with bicubic, ffmpeg's psnr filter."""
    w, h = SOURCE_SIZE
    graph = ("[0:v]setpts=PTS-STARTPTS,scale=%d:%d:flags=bicubic[d];"
             "[1:v]setpts=PTS-STARTPTS[r];[d][r]psnr" % (w, h))
    result = subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-i", rung_file,
                             "-i", src, "-lavfi", graph, "-f", "null", "-"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    m = PSNR_LINE.search(result.stderr)
    if result.returncode != 0 or not m:
        raise ToolFailed("the PSNR of %s could not be measured (exit %d):\n%s"
                         % (rung_file, result.returncode, tail(result.stderr)))
    return float(m.group(1)), float(m.group(4))


def measure_psnr(ffmpeg, ffprobe, src, outputs, work_dir):
    """{tool: {(w, h): {"psnr_y", "psnr", "kbps", "frames"}}}, the rungs done two at a time."""
    found = {tool: collect_rungs(ffprobe, out_dir, work_dir, tool)
             for tool, out_dir in outputs.items()}
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, cores())) as pool:
        for tool, rungs in found.items():
            for size, rung in rungs.items():
                jobs[(tool, size)] = (pool.submit(psnr, ffmpeg, rung["file"], src),
                                      pool.submit(probe_frames, ffprobe, rung["file"]))
        for (tool, size), (psnr_job, frames_job) in jobs.items():
            y, overall = psnr_job.result()
            found[tool][size].update(psnr_y=y, psnr=overall, frames=frames_job.result())
    return found


# ---- time to first segment ----

def time_to_first_segment(binary):
    """Seconds from POST /api/v1/channels/bench/start to live/bench/master.m3u8 existing."""
    box = ottbox.Box(start=False, data_dir=tempfile.mkdtemp(prefix="ottbox-bench-"))
    box.binary = binary
    try:
        box.start()
        client = box.client(api_key=box.create_apikey("bench", "operator"))
        r = client.post("/api/v1/channels", CHANNEL)
        if r.status != 201:
            raise ToolFailed("POST /api/v1/channels answered %r" % (r,))
        channel = r.json.get("id", "bench")
        master = box.path("live", channel, "master.m3u8")
        started = time.monotonic()
        r = client.post("/api/v1/channels/%s/start" % channel)
        if r.status in (404, 405):
            raise NotAvailable("POST /api/v1/channels/%s/start answered %d" % (channel,
                                                                               r.status))
        if r.status // 100 != 2:
            raise ToolFailed("POST /api/v1/channels/%s/start answered %r" % (channel, r))
        while not os.path.exists(master):
            if time.monotonic() - started > TTFS_GIVE_UP_S:
                raise ToolFailed("no %s %.0f s after the start request; the daemon's log:\n%s"
                                 % (master, TTFS_GIVE_UP_S, tail(box.stderr())))
            if not box.running:
                raise ToolFailed("ottboxd exited while the channel started; its log:\n%s"
                                 % tail(box.stderr()))
            time.sleep(TTFS_POLL_S)
        return time.monotonic() - started
    finally:
        try:
            box.stop(signal.SIGTERM)
        except (ottbox.DaemonError, AssertionError) as e:
            say("  note: the bench daemon did not stop cleanly: %s" % str(e).splitlines()[0])
        box.kill9()
        shutil.rmtree(box.data_dir, ignore_errors=True)


# ---- origin throughput ----

ORIGIN_CHANNEL = "bench"                # premium; encoded, then stopped with its files kept
ORIGIN_PUBLIC_CHANNEL = "bench-public"  # public, never started: the same files, hard-linked
ORIGIN_LADDER = "720p-3"
ORIGIN_SEGMENT_SECONDS = 2
ORIGIN_SEGMENTS = 10                    # media segments per track before the channel stops
ORIGIN_GIVE_UP_S = 120.0
ORIGIN_TOKEN_TTL_S = 3600
ORIGIN_WRK_THREADS = 2
ORIGIN_CONNECTIONS = 16
ORIGIN_ROUNDS = 3
ORIGIN_WARMUP_S = 2
ORIGIN_SECONDS = 5
ORIGIN_DOC = {"id": ORIGIN_CHANNEL, "name": "bench origin",
              "input": {"url": "test://pattern?size=1280x720&rate=30"}, "ladder": ORIGIN_LADDER,
              "access": "premium", "segment_seconds": ORIGIN_SEGMENT_SECONDS,
              "live_window_segments": 30}
TARGET_ORIGIN_RATIO = 0.5

# wrk's script: every thread cycles through the same list of paths (each from its own
# offset) and prints one machine-readable line at the end. %s: the Lua list of paths.
WRK_SCRIPT = """
local paths = {%s}
local threads = 0
local i = 0

function setup(thread)
  thread:set("offset", threads * 7)
  threads = threads + 1
end

function init(args)
  i = offset or 0
end

function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%%d bytes=%%d duration_us=%%d p50_us=%%d " ..
    "p99_us=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d\\n", summary.requests,
    summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

NGINX_CONF = """# ottbox bench: nginx serving the origin's files statically
daemon off;
master_process on;
worker_processes {workers};
{user}pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{
        video/mp4 mp4 m4s;
        application/vnd.apple.mpegurl m3u8;
        application/dash+xml mpd;
    }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location /premium/live/ {{
            alias {live}/;
        }}
        location /live/ {{
            alias {live}/;
        }}
    }}
}}
"""
NGINX_SETTINGS = ("worker_processes {workers}, sendfile on, tcp_nopush on, keep-alive "
                  "(keepalive_requests 1000000), access_log off, open_file_cache off")


class Load:
    """One wrk run: requests/s, MiB/s, latency p50 and p99 (ms), failed requests, the
    server's CPU per request (its processes' user+sys over the run, \u00b5s), others: the
    cores that neither the server nor wrk kept busy meanwhile, and idle: the cores nothing
    kept busy (a server that leaves cores idle under a closed-loop load is waiting, not
    working)."""

    def __init__(self, fields, server_cpu, others, idle):
        seconds = fields["duration_us"] / 1e6
        self.requests = fields["requests"]
        self.rps = self.requests / seconds
        self.mib_s = fields["bytes"] / seconds / (1 << 20)
        self.p50_ms = fields["p50_us"] / 1000.0
        self.p99_ms = fields["p99_us"] / 1000.0
        self.errors = sum(fields[k] for k in ("connect", "read", "write", "status", "timeout"))
        self.cpu_us = server_cpu / max(self.requests, 1) * 1e6 if server_cpu is not None \
            else None
        self.others = others
        self.idle = idle


def process_cpu_seconds(pids):
    """user+sys CPU seconds of these processes (all their threads) so far, or None."""
    total = 0
    try:
        for pid in pids:
            with open("/proc/%d/stat" % pid, encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def children(pid):
    """The process ids whose parent is pid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, encoding="ascii") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def run_wrk(url, script, seconds, connections, server_pids, log_path, verbose):
    """Loads url with wrk running script; returns a Load."""
    argv = ["wrk", "-t%d" % ORIGIN_WRK_THREADS, "-c%d" % connections, "-d%ds" % seconds,
            "--timeout", "5s", "-s", script, url]
    if verbose:
        say("  $ " + shlex.join(argv))
    with open(log_path, "wb") as log:
        cpu, busy = process_cpu_seconds(server_pids), busy_cpu_seconds()
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        cpu_after, busy_after = process_cpu_seconds(server_pids), busy_cpu_seconds()
    output = read_text(log_path)
    m = re.search(r"^BENCH (.*)$", output, re.M)
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not m:
        raise ToolFailed("wrk exited with %d:\n%s" % (code, tail(output)))
    fields = {k: int(v) for k, v in (part.split("=", 1) for part in m.group(1).split())}
    if fields["requests"] == 0:
        raise ToolFailed("wrk made no request against %s:\n%s" % (url, tail(output)))
    server_cpu = cpu_after - cpu if cpu is not None and cpu_after is not None else None
    others = idle = None
    if busy is not None and busy_after is not None:
        idle = max(0.0, cores() - (busy_after - busy) / wall)
        if server_cpu is not None:
            wrk_cpu = usage.ru_utime + usage.ru_stime
            others = max(0.0, (busy_after - busy - server_cpu - wrk_cpu) / wall)
    return Load(fields, server_cpu, others, idle)


def median_load(loads):
    """The run with the median requests/s (the lower middle one of an even number)."""
    return sorted(loads, key=lambda load: load.rps)[(len(loads) - 1) // 2]


def write_wrk_script(path, uris):
    with open(path, "w", encoding="ascii") as f:
        f.write(WRK_SCRIPT % ", ".join(json.dumps(u) for u in uris))
    return path


class Nginx:
    """An nginx of its own: a config in a temporary directory, in the foreground, as the
    calling user (its workers too), on a free port, serving live_dir under /live/ and
    /premium/live/."""

    def __init__(self, live_dir, tmp):
        self.tmp, self.port, self.proc = tmp, ottbox.free_port(), None
        os.makedirs(tmp, exist_ok=True)
        self.workers = "auto"
        user = ""
        if os.geteuid() == 0:  # root's workers would run as nobody, who cannot read TMP
            user = "user %s;\n" % pwd.getpwuid(0).pw_name
        self.conf = os.path.join(tmp, "nginx.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(NGINX_CONF.format(workers=self.workers, user=user, tmp=tmp, port=self.port,
                                      live=live_dir))

    def start(self):
        log = open(os.path.join(self.tmp, "stderr.log"), "wb")
        try:
            self.proc = subprocess.Popen(["nginx", "-p", self.tmp, "-e",
                                          os.path.join(self.tmp, "error.log"), "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ToolFailed("nginx exited with %d; its log:\n%s"
                                 % (self.proc.returncode, tail(self.log())))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if children(self.proc.pid):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise ToolFailed("nginx did not listen on port %d within 10 s; its log:\n%s"
                         % (self.port, tail(self.log())))

    def log(self):
        return read_text(os.path.join(self.tmp, "stderr.log")) + \
            read_text(os.path.join(self.tmp, "error.log"))

    def pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def http_get(port, uri):
    """(status, body) of one GET on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", uri)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def encode_segments(box, client):
    """Creates the premium channel, runs it until every track has ORIGIN_SEGMENTS segments,
    stops it (its files stay where they are, unchanged, until it starts again) and returns
    (its playback prefix, [file names under live/<channel>/], total bytes)."""
    r = client.post("/api/v1/channels", ORIGIN_DOC)
    if r.status != 201:
        raise ToolFailed("POST /api/v1/channels answered %r" % (r,))
    hls = ((r.json or {}).get("playback") or {}).get("hls") or \
        "/live/%s/master.m3u8" % ORIGIN_CHANNEL
    prefix = hls.rsplit("/", 1)[0] + "/"
    live = box.path("live", ORIGIN_CHANNEL)
    r = client.post("/api/v1/channels/%s/start" % ORIGIN_CHANNEL)
    if r.status // 100 != 2:
        raise ToolFailed("POST /api/v1/channels/%s/start answered %r" % (ORIGIN_CHANNEL, r))
    started = time.monotonic()
    while True:
        playlists = sorted(os.path.join(live, n) for n in
                           (os.listdir(live) if os.path.isdir(live) else ())
                           if re.fullmatch(r"[va][0-9]+\.m3u8", n))
        if os.path.exists(os.path.join(live, "master.m3u8")) and playlists and \
                all(len(media_files(p)[1]) >= ORIGIN_SEGMENTS for p in playlists):
            break
        if time.monotonic() - started > ORIGIN_GIVE_UP_S:
            raise ToolFailed("the channel had not %d segments per track %.0f s after its start;"
                             " the daemon's log:\n%s"
                             % (ORIGIN_SEGMENTS, ORIGIN_GIVE_UP_S, tail(box.stderr())))
        if not box.running:
            raise ToolFailed("ottboxd exited while the channel ran; its log:\n%s"
                             % tail(box.stderr()))
        time.sleep(0.5)
    r = client.post("/api/v1/channels/%s/stop" % ORIGIN_CHANNEL)
    if r.status // 100 != 2:
        raise ToolFailed("POST /api/v1/channels/%s/stop answered %r" % (ORIGIN_CHANNEL, r))
    names, total = [], 0
    for playlist in playlists:
        for segment in media_files(playlist)[1]:
            names.append(os.path.relpath(segment, live))
            total += os.path.getsize(segment)
    return prefix, names, total


def public_copy(box, client, names):
    """A public channel (never started) whose live directory holds the premium channel's
    files as hard links: the same bytes, the same page cache. Its playback prefix."""
    r = client.post("/api/v1/channels", dict(ORIGIN_DOC, id=ORIGIN_PUBLIC_CHANNEL,
                                             name="bench origin, public", access="public"))
    if r.status != 201:
        raise ToolFailed("POST /api/v1/channels answered %r" % (r,))
    for name in names:
        target = box.path("live", ORIGIN_PUBLIC_CHANNEL, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.link(box.path("live", ORIGIN_CHANNEL, name), target)
    hls = ((r.json or {}).get("playback") or {}).get("hls") or \
        "/live/%s/master.m3u8" % ORIGIN_PUBLIC_CHANNEL
    return hls.rsplit("/", 1)[0] + "/"


def premium_token(client, prefix):
    """The query (__token__=...) of a playback URL for the premium channel, issued by the box
    with a key it generates. NotAvailable when this build has no playback tokens."""
    r = client.post("/api/v1/access/keys", {"id": "bench"})
    if r.status in (404, 405):
        raise NotAvailable("POST /api/v1/access/keys answered %d" % r.status)
    if r.status != 201:
        raise ToolFailed("POST /api/v1/access/keys answered %r" % (r,))
    r = client.post("/api/v1/playback-tokens", {"path": prefix + "master.m3u8",
                                                "ttl_seconds": ORIGIN_TOKEN_TTL_S})
    if r.status in (404, 405):
        raise NotAvailable("POST /api/v1/playback-tokens answered %d" % r.status)
    if r.status != 201 or "?" not in (r.json or {}).get("url", ""):
        raise ToolFailed("POST /api/v1/playback-tokens answered %r" % (r,))
    return r.json["url"].split("?", 1)[1]


def check_served(port, uri, expect, what):
    """Fails unless GET uri answers 200 with the bytes of file expect."""
    status, body = http_get(port, uri)
    with open(expect, "rb") as f:
        wanted = f.read()
    if status != 200 or body != wanted:
        raise ToolFailed("%s: GET %s answered %d with %d bytes, not the file's %d"
                         % (what, uri, status, len(body), len(wanted)))


def origin_throughput(binary, seconds, connections, rounds, verbose):
    """Measures the box's origin and nginx under the same wrk load, rounds times taking
    turns. Returns (settings lines, [(name, median Load, [every Load])], notes)."""
    work = tempfile.mkdtemp(prefix="ottbox-bench-origin-")
    data_dir = os.path.join(work, "data")
    os.makedirs(data_dir)
    box = ottbox.Box(start=False, data_dir=data_dir)
    box.binary = binary
    nginx = None
    rows, notes, settings = [], [], []
    try:
        box.start()
        client = box.client(api_key=box.create_apikey("bench-origin", "admin"))
        progress("origin: encoding %d segments per track of a %s channel"
                 % (ORIGIN_SEGMENTS, ORIGIN_LADDER))
        prefix, names, total = encode_segments(box, client)
        public_prefix = public_copy(box, client, names)
        first = box.path("live", ORIGIN_CHANNEL, names[0])
        settings.append("files: %d media segments of %d tracks (%s, %d s), %.0f KiB on average,"
                        " each asked for in turn" % (
                            len(names), len({n.split("/")[0] for n in names}), ORIGIN_LADDER,
                            ORIGIN_SEGMENT_SECONDS, total / len(names) / 1024))

        loads = []  # (row name, port, uris, pids)
        try:
            query = premium_token(client, prefix)
            uris = ["%s%s?%s" % (prefix, n, query) for n in names]
            check_served(box.port, uris[0], first, "ottbox premium")
            status, _ = http_get(box.port, prefix + names[0])
            if status != 401:
                notes.append("  note: %s%s without a token answered %d, not 401: the token "
                             "check is not in this build" % (prefix, names[0], status))
            loads.append(("ottbox premium + token", box.port, uris, "premium"))
        except NotAvailable as e:
            notes.append("  ottbox premium: not available in this build (%s)" % e)
        public_uris = [public_prefix + n for n in names]
        check_served(box.port, public_uris[0], first, "ottbox public")
        loads.append(("ottbox public", box.port, public_uris, "public"))

        # nginx gets the very requests of the first row (the token in the query is ignored).
        reference_uris = loads[0][2]
        nginx = Nginx(box.path("live"), os.path.join(work, "nginx"))
        nginx.start()
        check_served(nginx.port, reference_uris[0], first, "nginx")
        loads.insert(0, ("nginx", nginx.port, reference_uris, "reference"))
        workers = len(children(nginx.proc.pid))
        settings.append("nginx %s: %s" % (nginx_version(), NGINX_SETTINGS.format(
            workers="%s (%d)" % (nginx.workers, workers))))
        settings.append("ottboxd: CivetWeb, %s worker threads (HTTP_THREADS), keep-alive; the "
                        "channel stopped (no encoding during the load)" % http_threads(binary))
        settings.append("load: wrk -t%d -c%d -d%ds, the same paths in the same order for each, "
                        "%d round(s) taking turns, the median round shown (a %d s warm-up "
                        "first, not counted)" % (ORIGIN_WRK_THREADS, connections, seconds,
                                                 rounds, ORIGIN_WARMUP_S))
        samples = {name: [] for name, _, _, _ in loads}
        for turn in range(rounds):
            for name, port, uris, tag in loads:
                script = os.path.join(work, "%s.lua" % tag)
                pids = nginx.pids() if port == nginx.port else [box.proc.pid]
                url = "http://127.0.0.1:%d" % port
                log = os.path.join(work, "wrk.log")
                if turn == 0:
                    write_wrk_script(script, uris)
                    run_wrk(url, script, ORIGIN_WARMUP_S, connections, pids, log, verbose)
                progress("origin: wrk against %s, %d s, round %d of %d"
                         % (name, seconds, turn + 1, rounds))
                samples[name].append(run_wrk(url, script, seconds, connections, pids, log,
                                             verbose))
        rows = [(name, median_load(samples[name]), samples[name]) for name, _, _, _ in loads]
        return settings, rows, notes
    finally:
        if nginx is not None:
            nginx.stop()
        try:
            box.stop(signal.SIGTERM)
        except (ottbox.DaemonError, AssertionError) as e:
            say("  note: the bench daemon did not stop cleanly: %s" % str(e).splitlines()[0])
        box.kill9()
        shutil.rmtree(work, ignore_errors=True)


def nginx_version():
    result = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    m = re.search(r"nginx/(\S+)", result.stderr + result.stdout)
    return m.group(1) if m else "?"


def http_threads(binary):
    """HTTP_THREADS from `ottboxd version`'s build options, or "?"."""
    result = subprocess.run([binary, "version"], capture_output=True, text=True)
    m = re.search(r"\bHTTP_THREADS=([0-9]+)", result.stdout)
    return m.group(1) if m else "?"


# ---- the report ----

def token_verification():
    """[(key number, median ns, p90 ns, iterations)] from token_bench's lines
    "key=N median_ns=X p90_ns=Y iterations=Z"."""
    if not os.access(TOKEN_BENCH, os.X_OK):
        raise NotAvailable("%s is not built (`make bench` builds it)"
                           % os.path.relpath(TOKEN_BENCH, REPO_ROOT))
    run = subprocess.run([TOKEN_BENCH], capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise ToolFailed("token_bench exited with %d:\n%s" % (run.returncode, tail(run.stderr)))
    rows = []
    for line in run.stdout.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        rows.append((int(fields["key"]), float(fields["median_ns"]), float(fields["p90_ns"]),
                     int(fields["iterations"])))
    if not rows:
        raise ToolFailed("token_bench printed nothing")
    return rows


def tool_row(name, run, ncores, media_s):
    util = run.cpu / (ncores * run.wall)
    others = "%6.2f" % run.others if run.others is not None else "%6s" % "?"
    return "  %-8s %8.2f %8.2f %9.1f %6.2f %7.2fx %s" % (name, run.wall, run.cpu, run.rss_mib,
                                                          util, media_s / run.wall, others)


def ratio_row(what, value, op, target):
    good = value <= target if op == "<=" else value >= target
    sign = "\u2264" if op == "<=" else "\u2265"
    return "  %-22s %6.2f   %s %.2f   %s" % (what, value, sign, target, mark(good))


def transcode_section(args, binary, ncores, failed):
    """The ladder, the source, both transcodes and their ratios. Returns what the PSNR
    section needs, (the ladder, the source, {tool: output directory}), and adds what did not
    run to failed."""
    progress("asking ottboxd for the %s ladder" % LADDER)
    ladder, why = fetch_ladder(binary)
    src, made = make_source(args.ffmpeg, args.seconds, args.verbose)
    w, h = SOURCE_SIZE
    say("ottbox bench: ladder %s (%s), source %ds %dx%d@%d%s, %d core(s), %d run(s) per tool"
        % (LADDER, ", ".join("%dx%d@%d" % (r["width"], r["height"], r["video_bitrate_kbps"])
                             for r in ladder["rungs"]),
           args.seconds, w, h, SOURCE_FPS, " (made now)" if made else "", ncores, args.repeat))
    say("  source: %s" % os.path.relpath(src, REPO_ROOT))
    if why:
        say("  note: ladder from bench.py's copy of ladder.c (the daemon: %s)" % why)

    # -- transcode --
    runs, outputs, failed_tools, notes = transcodes(args, binary, src, ladder)
    failed += ["ottbox transcode" if t == "ottbox" else t for t in failed_tools]
    say("")
    say("transcode          wall s    CPU s  peak MiB   util    speed  others")
    for tool, run in runs.items():
        say(tool_row(tool, run, ncores, args.seconds))
    for line in notes:
        say(line)
    say("  (util = CPU / (%d cores x wall); speed = source seconds / wall; others = cores"
        % ncores)
    say("   other processes kept busy meanwhile, worst of the runs)")
    busy = [name for name, run in runs.items()
            if run.others is not None and run.others > OTHERS_NOTE]
    if busy:
        say("  note: other processes used the CPU while %s ran: the figures are not clean;"
            % " and ".join(busy))
        say("        run again on an idle machine (or with --repeat 3)")

    if "ottbox" in runs and "ffmpeg" in runs:
        o, f = runs["ottbox"], runs["ffmpeg"]
        say("")
        say("ottbox / ffmpeg           ratio   target")
        say(ratio_row("wall", o.wall / f.wall, "<=", TARGET_WALL_RATIO))
        say(ratio_row("CPU", o.cpu / f.cpu, "<=", TARGET_CPU_RATIO))
        say("  %-22s %6.2f   (no target)" % ("peak memory", o.rss_mib / f.rss_mib))
        say(ratio_row("ottbox utilisation", o.cpu / (ncores * o.wall), ">=", TARGET_UTILISATION))
    return ladder, src, outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="source length (default 20)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per tool; the median of each figure is printed")
    parser.add_argument("--ottboxd", default=os.environ.get("OTTBOXD") or
                        os.path.join(OUT_ROOT, "bin", "ottboxd"))
    parser.add_argument("--ffmpeg", default="ffmpeg")
    parser.add_argument("--ffprobe", default="ffprobe")
    parser.add_argument("--skip-transcode", action="store_true")
    parser.add_argument("--skip-psnr", action="store_true")
    parser.add_argument("--skip-ttfs", action="store_true")
    parser.add_argument("--skip-token", action="store_true")
    parser.add_argument("--skip-origin", action="store_true")
    parser.add_argument("--only", metavar="SECTION[,SECTION]",
                        help="run only these sections, of: %s (psnr implies transcode)"
                        % ", ".join(SECTIONS))
    parser.add_argument("--origin-seconds", type=int, default=ORIGIN_SECONDS,
                        help="length of each measured wrk run (default %d)" % ORIGIN_SECONDS)
    parser.add_argument("--origin-rounds", type=int, default=ORIGIN_ROUNDS,
                        help="wrk runs per server, taking turns; the median is shown "
                        "(default %d)" % ORIGIN_ROUNDS)
    parser.add_argument("--origin-connections", type=int, default=ORIGIN_CONNECTIONS,
                        help="wrk's connections (default %d)" % ORIGIN_CONNECTIONS)
    parser.add_argument("-v", "--verbose", action="store_true", help="print the commands")
    args = parser.parse_args()
    if args.repeat < 1 or args.seconds < SEGMENT_SECONDS:
        parser.error("--repeat must be at least 1 and --seconds at least %d" % SEGMENT_SECONDS)
    if args.origin_seconds < 1 or args.origin_rounds < 1 or \
            args.origin_connections < ORIGIN_WRK_THREADS:
        parser.error("--origin-seconds and --origin-rounds must be at least 1, "
                      "--origin-connections at least %d" % ORIGIN_WRK_THREADS)
    sections = set(SECTIONS)
    if args.only:
        sections = set(x.strip() for x in args.only.split(",") if x.strip())
        unknown = sections - set(SECTIONS)
        if unknown or not sections:
            parser.error("--only: %s is not a section (%s)"
                         % (", ".join(sorted(unknown)) or "nothing", ", ".join(SECTIONS)))
        if "psnr" in sections:
            sections.add("transcode")
    for name in SECTIONS:
        if getattr(args, "skip_" + name, False):
            sections.discard(name)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    binary = os.path.abspath(args.ottboxd)
    os.environ["OTTBOXD"] = binary  # the daemon ottbox.Box starts
    for tool in (args.ffmpeg, args.ffprobe) if "transcode" in sections else ():
        if not shutil.which(tool):
            say("bench: %s is not installed (apt-get install ffmpeg)" % tool)
            return 1
    failed = []
    ncores = cores()

    ladder, src, outputs = None, None, {}
    if "transcode" in sections:
        ladder, src, outputs = transcode_section(args, binary, ncores, failed)
    else:
        say("ottbox bench: %s; %d core(s)" % (", ".join(s for s in SECTIONS if s in sections),
                                             ncores))

    # -- PSNR --
    if outputs and "psnr" in sections:
        progress("PSNR of every rung (%d at a time)" % ncores)
        say("")
        say("PSNR Y (dB) of each rung against the source, scaled back to %dx%d (bicubic);"
            % SOURCE_SIZE)
        say("kbps = the rung's media bytes over its playlist's duration")
        work_dir = tempfile.mkdtemp(prefix="ottbox-bench-psnr-", dir=BENCH_DIR)
        try:
            found = measure_psnr(args.ffmpeg, args.ffprobe, src, outputs, work_dir)
            source_frames = probe_frames(args.ffprobe, src)
            say("  rung        target   ffmpeg   kbps   ottbox   kbps      diff   "
                "(|diff| \u2264 %.1f)" % TARGET_PSNR_DB)
            for r in ladder["rungs"]:
                size = (r["width"], r["height"])
                cells = []
                for tool in ("ffmpeg", "ottbox"):
                    got = found.get(tool, {}).get(size)
                    cells.append("%6.2f %6.0f" % (got["psnr_y"], got["kbps"]) if got
                                 else "%6s %6s" % ("-", "-"))
                line = "  %-10s %6d   %s   %s" % ("%dx%d" % size, r["video_bitrate_kbps"],
                                                  cells[0], cells[1])
                fg, og = found.get("ffmpeg", {}).get(size), found.get("ottbox", {}).get(size)
                if fg and og:
                    diff = round(og["psnr_y"] - fg["psnr_y"], 2) + 0.0  # no "-0.00"
                    line += "   %+6.2f   %s" % (diff, mark(abs(diff) <= TARGET_PSNR_DB))
                say(line)
            for tool, rungs in found.items():
                wanted = {(r["width"], r["height"]) for r in ladder["rungs"]}
                for size in sorted(wanted - set(rungs)):
                    say("  note: %s has no %dx%d rung" % (tool, size[0], size[1]))
                for size, got in sorted(rungs.items()):
                    if source_frames and got["frames"] != source_frames:
                        say("  note: %s %dx%d has %s frames, the source %d"
                            % (tool, size[0], size[1], got["frames"], source_frames))
        except ToolFailed as e:
            say("  PSNR: failed: %s" % e)
            failed.append("PSNR")
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    # -- time to first segment --
    if "ttfs" in sections:
        progress("time to first segment")
        say("")
        target = SEGMENT_SECONDS + TARGET_TTFS_EXTRA_S
        say("time to first segment (%s, %d s segments)" % (CHANNEL["input"]["url"],
                                                          SEGMENT_SECONDS))
        try:
            seconds = time_to_first_segment(binary)
            say("  start request -> live/bench/master.m3u8   %5.2f s   \u2264 %.1f   %s"
                % (seconds, target, mark(seconds <= target)))
        except NotAvailable as e:
            say("  ottbox channel start: not available in this build (%s)" % e)
        except (ToolFailed, ottbox.DaemonError, AssertionError, OSError, RuntimeError) as e:
            say("  ottbox channel start: failed: %s" % e)
            failed.append("channel start")

    # -- token verification --
    if "token" in sections:
        progress("token verification")
        say("")
        say("token verification (EdgeAuth 2.0, HMAC-SHA256 with mbedTLS, ACL token, 2-key ring)")
        try:
            for key, median, p90, iterations in token_verification():
                say("  signed by key %d of 2   median %5.2f \u00b5s  p90 %5.2f \u00b5s   "
                    "\u2264 %.1f   %s   (%d verifications)"
                    % (key, median / 1000, p90 / 1000, TARGET_TOKEN_VERIFY_US,
                       mark(median / 1000 <= TARGET_TOKEN_VERIFY_US), iterations))
        except NotAvailable as e:
            say("  not available in this build (%s)" % e)
        except (ToolFailed, OSError, subprocess.TimeoutExpired, KeyError, ValueError) as e:
            say("  token verification: failed: %s" % e)
            failed.append("token verification")

    # -- origin throughput --
    if "origin" in sections:
        progress("origin throughput")
        say("")
        say("origin throughput: media segments from the box (premium with a playback token, and"
            " public)")
        say("and from nginx serving the same files statically, the same wrk load on each")
        try:
            settings, rows, notes = origin_throughput(binary, args.origin_seconds,
                                                      args.origin_connections,
                                                      args.origin_rounds, args.verbose)
            for line in settings:
                say("  " + line)
            say("  %-22s %7s %13s %7s %7s %7s %6s %6s %6s %5s"
                % ("", "req/s", "(rounds)", "MiB/s", "p50 ms", "p99 ms", "errors",
                   "CPU \u00b5s", "others", "idle"))
            for name, load, every in rows:
                spread = "%.0f-%.0f" % (min(x.rps for x in every), max(x.rps for x in every))
                say("  %-22s %7.0f %13s %7.1f %7.2f %7.2f %6d %6s %6s %5s"
                    % (name, load.rps, "(%s)" % spread if len(every) > 1 else "", load.mib_s,
                       load.p50_ms, load.p99_ms, load.errors,
                       "%.0f" % load.cpu_us if load.cpu_us is not None else "?",
                       "%.2f" % load.others if load.others is not None else "?",
                       "%.2f" % load.idle if load.idle is not None else "?"))
            for line in notes:
                say(line)
            say("  (errors: failed or non-2xx answers; CPU \u00b5s: the server's CPU time per "
                "request; others: cores")
            say("   kept busy by neither the server nor wrk, as in the transcode table; idle: "
                "cores nothing kept")
            say("   busy: a server that leaves the CPU idle under this load is waiting, not "
                "working)")
            if any(load.errors for _, load, _ in rows):
                say("  note: some requests failed; those rows are not comparable")
            if any(x.others is not None and x.others > OTHERS_NOTE
                   for _, _, every in rows for x in every):
                say("  note: other processes used the CPU during the load: the figures are not "
                    "clean; run again on an idle machine")
            if rows and rows[0][0] == "nginx":
                nginx_runs = rows[0][2]
                say("  %-22s %6s   %s" % ("req/s / nginx's", "ratio", "target"))
                for name, _, every in rows[1:]:
                    ratio = statistics.median(x.rps / n.rps for x, n in zip(every, nginx_runs))
                    if name.startswith("ottbox premium"):
                        say(ratio_row(name, ratio, ">=", TARGET_ORIGIN_RATIO))
                    else:
                        say("  %-22s %6.2f   (reference, no target)" % (name, ratio))
                if len(nginx_runs) > 1:
                    say("  (the median of the rounds' ratios, each round's runs back to back)")
        except NotAvailable as e:
            say("  not available in this build (%s)" % e)
        except (ToolFailed, ottbox.DaemonError, AssertionError, OSError, RuntimeError,
                subprocess.TimeoutExpired) as e:
            say("  origin throughput: failed: %s" % e)
            failed.append("origin throughput")

    say("")
    if failed:
        say("bench: figures printed; these did not run: %s" % ", ".join(failed))
        return 1
    say("bench: figures printed (a %s is a missed target, not a failure)" % NO)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ToolFailed as e:
        say("bench: %s" % e)
        sys.exit(1)
