// A small uPlot chart per channel: its output bitrate (every rung and the audio, kbit/s) and
// the first rung's frame rate over the last few minutes, from the stats snapshots the box
// pushes. The history lives in this module, so it outlives a visit to another page.
import { useEffect, useRef } from '../vendor/hooks.js';
import uPlot from '../vendor/uPlot.esm.js';
import { html } from './html.js';
import { channelsOfStats } from './channel-status.js';

const POINTS = 90; // 3 minutes of snapshots 2 s apart
const history = new Map(); // id -> { t: [], kbps: [], fps: [] }
let recorded = null;

// uPlot's own stylesheet, linked once (the page's CSP allows 'self' stylesheets).
function linkCss() {
  if (document.querySelector('link[data-uplot]')) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = '/vendor/uPlot.min.css';
  link.dataset.uplot = '';
  document.head.appendChild(link);
}

// Adds a snapshot to every channel's history (once per snapshot, whoever asks).
export function record(stats) {
  if (!stats || stats === recorded) return;
  recorded = stats;
  const at = (typeof stats.at === 'number' ? stats.at : Date.parse(stats.at)) || Date.now();
  for (const { id, status } of channelsOfStats(stats) || []) {
    if (!status.rungs || !status.rungs.length) continue;
    let h = history.get(id);
    if (!h) history.set(id, h = { t: [], kbps: [], fps: [] });
    const total = status.rungs.reduce((sum, r) => sum + (r.bitrate_kbps || 0), 0) +
      ((status.audio && status.audio.bitrate_kbps) || 0);
    h.t.push(at > 1e11 ? at / 1000 : at);
    h.kbps.push(total);
    h.fps.push(status.rungs[0].fps ?? null);
    if (h.t.length > POINTS) {
      h.t.shift();
      h.kbps.shift();
      h.fps.shift();
    }
  }
}

function data(id) {
  const h = history.get(id);
  return h ? [h.t.slice(), h.kbps.slice(), h.fps.slice()] : [[], [], []];
}

// The chart of channel id; stats is the latest snapshot (a new one redraws it).
export function Sparkline({ id, stats, width = 180, height = 48 }) {
  const box = useRef(null);
  const plot = useRef(null);
  record(stats);

  useEffect(() => {
    linkCss();
    plot.current = new uPlot({
      width, height, pxAlign: false, cursor: { show: false }, legend: { show: false },
      select: { show: false },
      scales: { x: { time: true }, kbps: { range: (u, min, max) => [0, Math.max(max * 1.15, 1)] },
        fps: { range: (u, min, max) => [0, Math.max(max * 1.15, 1)] } },
      axes: [{ show: false }, { show: false, scale: 'kbps' }, { show: false, scale: 'fps' }],
      series: [{}, { label: 'kbit/s', scale: 'kbps', stroke: '#0b63c5', width: 1.5, fill: 'rgba(11,99,197,.08)',
        points: { show: false } },
      { label: 'fps', scale: 'fps', stroke: '#1e7a34', width: 1, dash: [3, 2], points: { show: false } }],
    }, data(id), box.current);
    return () => {
      plot.current.destroy();
      plot.current = null;
    };
  }, [id, width, height]);

  useEffect(() => {
    if (plot.current) plot.current.setData(data(id));
  }, [stats, id]);

  const h = history.get(id);
  const last = h && h.t.length ? `${Math.round(h.kbps[h.kbps.length - 1])} kbit/s, ${h.fps[h.fps.length - 1] ?? '—'} fps` : 'no data yet';
  return html`<div class="spark" ref=${box} role="img"
    aria-label=${`Output bitrate (solid) and frame rate (dashed) over the last minutes: ${last}`}></div>`;
}
