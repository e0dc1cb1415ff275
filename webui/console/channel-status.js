// A channel's status as the dashboard and the channel page show it: the state and its
// reason, the input's health, each rendition's encoder figures, the box's hardware load and
// the live feed's link state. Status documents are those of GET /api/v1/channels (see
// ChannelStatus in docs/openapi.yaml); the live feed's stats snapshots carry the same.
import { useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { useLinkState, useStats } from './live.js';

// The channels of a stats snapshot: the same documents as GET /api/v1/channels lists
// (configuration and status), every channel of the box. null when the snapshot has none.
export function channelsOfStats(stats) {
  const list = stats && stats.channels;
  return Array.isArray(list) ? list.filter((ch) => ch && ch.id && ch.status) : null;
}

// The channels, live: the list as loaded (GET) until the box pushes a stats snapshot, then
// each snapshot's list (new channels appear, deleted ones go). A snapshot that was already
// there when loaded last changed is older than it and is not used: the answer of a start or
// a stop is newer than the snapshot before it. Returns {channels, stats, pushed} (pushed:
// the channels come from a snapshot).
export function useLiveChannels(loaded) {
  const stats = useStats();
  const base = useRef({ loaded: undefined, stats: undefined });
  if (base.current.loaded !== loaded) base.current = { loaded, stats };
  if (!loaded) return { channels: null, stats, pushed: false };
  const pushed = stats !== base.current.stats ? channelsOfStats(stats) : null;
  return { channels: pushed || loaded, stats, pushed: !!pushed };
}

// ---- numbers ----

export function kbps(n) {
  if (n === undefined || n === null) return '—';
  return n >= 10000 ? `${(n / 1000).toFixed(1)} Mbit/s` : `${Math.round(n)} kbit/s`;
}

export function fps(n) {
  return n === undefined || n === null ? '—' : `${Number(n).toFixed(n >= 100 ? 0 : 1)} fps`;
}

export function speed(n) {
  return n === undefined || n === null ? '—' : `${Number(n).toFixed(2)}×`;
}

export function age(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

export function pixelRate(n) {
  if (!n) return '0';
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} Gpx/s` : `${(n / 1e6).toFixed(1)} Mpx/s`;
}

// "12 s ago", from an ISO time.
export function since(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const RUNNING = ['starting', 'live', 'degraded', 'failed'];

export function isRunning(status) {
  return !!status && RUNNING.includes(status.state);
}

// ---- pieces ----

export function StateBadge({ status }) {
  const state = (status && status.state) || 'stopped';
  return html`<span class=${`state state-${state}`} data-state=${state}>${state}</span>`;
}

// The input: which one is on air, what it carries, how fresh its last packet is.
export function InputHealth({ status }) {
  const input = status && status.input;
  if (!input) return html`<span class="muted">—</span>`;
  const video = [input.video_codec, input.width && input.height ? `${input.width}×${input.height}` : null,
    input.frame_rate ? fps(input.frame_rate) : null].filter(Boolean).join(' ');
  const stale = input.last_packet_age_ms > 2000;
  return html`
    <div class="input-health">
      <span class=${`on-air on-air-${input.on_air || 'none'}`}>${input.on_air ? `${input.on_air} on air` : 'no input'}</span>
      ${video ? html` <span class="input-video">${video}</span>` : null}
      ${input.audio_codec ? html` <span class="muted">+ ${input.audio_codec}</span>` : null}
      <div class="muted small">
        ${input.bitrate_kbps ? html`<span data-stat="input-bitrate">${kbps(input.bitrate_kbps)}</span> · ` : null}
        ${input.last_packet_age_ms === undefined || input.last_packet_age_ms === null ? 'no packet yet' : html`
          last packet <span class=${stale ? 'stale' : ''} data-stat="packet-age">${age(input.last_packet_age_ms)}</span> ago`}
      </div>
    </div>`;
}

// One line per rung: size, fps, speed, bitrate, backend.
export function RungList({ status }) {
  const rungs = (status && status.rungs) || [];
  if (!rungs.length) return html`<span class="muted">—</span>`;
  return html`
    <ul class="rungs">
      ${rungs.map((r) => html`
        <li key=${r.name} data-rung=${r.name}>
          <span class="rung-size">${r.width && r.height ? `${r.width}×${r.height}` : r.name}</span>
          <span class="rung-fps" data-stat="fps">${fps(r.fps)}</span>
          <span class="rung-speed" data-stat="speed">${speed(r.speed)}</span>
          <span class="rung-bitrate" data-stat="bitrate">${kbps(r.bitrate_kbps)}</span>
          <span class="rung-backend">${r.backend || r.encoder || ''}</span>
          <span class="rung-frames muted" data-stat="frames" title="frames encoded">${r.frames ?? ''}</span>
        </li>`)}
    </ul>`;
}

// The box's encoders and decoders: sessions and pixel rates used of what each device has.
export function HardwareLoad({ load }) {
  if (!Array.isArray(load) || !load.length) return html`<p class="hint">No device reports a load.</p>`;
  const part = (used, cap) => (cap ? `${pixelRate(used)} of ${pixelRate(cap)}` : pixelRate(used));
  const pct = (used, cap) => (cap ? Math.min(100, Math.round((used / cap) * 100)) : null);
  return html`
    <ul class="hw-load">
      ${load.map((d) => {
        const p = pct(d.encode_used, d.encode_pixel_rate);
        return html`
          <li key=${`${d.backend}:${d.device}`}>
            <strong>${d.label || d.backend}</strong>
            <span class="muted"> ${d.backend}${d.device ? ` ${d.device}` : ''}</span>
            ${p !== null ? html`<meter min="0" max="100" value=${p} title=${`${p} % of its encode capacity`}></meter>` : null}
            <div class="small">
              sessions ${d.sessions_used ?? 0}${d.sessions ? ` of ${d.sessions}` : ''} ·
              encode ${part(d.encode_used, d.encode_pixel_rate)} ·
              decode ${part(d.decode_used, d.decode_pixel_rate)}
              ${d.channels && d.channels.length ? html` · <span class="muted">${d.channels.join(', ')}</span>` : null}
            </div>
          </li>`;
      })}
    </ul>`;
}

// The CPU as the stats snapshot says it: load averages, a usage figure when there is one.
export function CpuLoad({ cpu }) {
  if (!cpu || typeof cpu !== 'object') return null;
  const bits = [];
  const usage = cpu.usage_percent ?? cpu.percent ?? cpu.busy_percent;
  if (typeof usage === 'number') bits.push(`${usage.toFixed(0)} % busy`);
  if (Array.isArray(cpu.load_average)) bits.push(`load ${cpu.load_average.map((l) => Number(l).toFixed(2)).join(' ')}`);
  if (cpu.cores) bits.push(`${cpu.cores} cores`);
  return html`<span id="cpu-load">${bits.join(' · ') || '—'}</span>`;
}

// The live feed's link: live, reconnecting or offline.
export function LinkState() {
  const state = useLinkState();
  const words = { open: 'live', connecting: 'reconnecting…', down: 'offline' };
  return html`<span class=${`link link-${state}`} id="link-state" role="status"
    title="The box pushes status over a live feed">${words[state] || state}</span>`;
}

// Re-renders every period ms (for "12 s ago" texts).
export function useTick(period) {
  const [, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((n) => n + 1), period);
    return () => clearInterval(t);
  }, [period]);
}
