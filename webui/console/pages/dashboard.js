// The dashboard: every channel with its state, input health and renditions, and the box's
// hardware load, live. The channel list and the box are read once; from then on the
// figures come from the stats snapshots the box pushes (live.js): no reloads, no polling.
import { html } from '../html.js';
import { api } from '../api.js';
import { bytes, duration } from '../format.js';
import { useLoad, Problem, can } from '../common.js';
import { useLiveChannels, StateBadge, InputHealth, RungList, HardwareLoad, CpuLoad, LinkState, since,
  useTick } from '../channel-status.js';
import { Sparkline } from '../channel-spark.js';

const loadOverview = () => Promise.all([api('GET', '/api/v1/system'), api('GET', '/api/v1/channels')])
  .then(([system, channels]) => ({ system, channels: channels.channels }));

function ChannelRow({ ch, stats }) {
  const status = ch.status || { state: 'stopped' };
  return html`
    <tr data-channel=${ch.id}>
      <td data-label="Channel">
        <a href=${`#/channels/${encodeURIComponent(ch.id)}`}>${ch.name}</a>
        ${ch.name !== ch.id ? html` <span class="muted">(${ch.id})</span>` : null}
        ${ch.access === 'premium' ? html` <span class="tag">premium</span>` : null}
      </td>
      <td data-label="State">
        <${StateBadge} status=${status} />
        <div class="reason small">${status.reason || ''}${status.since
          ? html` <span class="muted">· ${since(status.since)}</span>` : null}</div>
      </td>
      <td data-label="Input"><${InputHealth} status=${status} /></td>
      <td data-label="Renditions"><${RungList} status=${status} /></td>
      <td data-label="Trend" class="trend">${status.rungs && status.rungs.length
        ? html`<${Sparkline} id=${ch.id} stats=${stats} />` : html`<span class="muted">—</span>`}</td>
    </tr>`;
}

function ChannelTable({ channels, stats }) {
  return html`
    <table class="channels dashboard-channels">
      <thead><tr><th scope="col">Channel</th><th scope="col">State</th><th scope="col">Input</th>
        <th scope="col">Renditions (fps, speed, bitrate, backend)</th><th scope="col">Trend</th></tr></thead>
      <tbody>${channels.map((ch) => html`<${ChannelRow} key=${ch.id} ch=${ch} stats=${stats} />`)}</tbody>
    </table>`;
}

export function Dashboard({ session }) {
  const { data, error } = useLoad(loadOverview);
  const { channels, stats } = useLiveChannels(data && data.channels);
  useTick(5000);
  const s = data && data.system;
  const sys = stats && stats.system;
  const counts = {};
  for (const ch of channels || []) {
    const state = (ch.status && ch.status.state) || 'stopped';
    counts[state] = (counts[state] || 0) + 1;
  }
  return html`
    <section id="dashboard" aria-labelledby="dashboard-title">
      <div class="bar"><h2 id="dashboard-title">Dashboard</h2><${LinkState} /></div>
      <${Problem} text=${error} />
      <div class="dash-top">
        ${s && html`
          <div class="card">
            <h3>${s.box_name || 'Box'}</h3>
            <dl>
              <dt>Version</dt><dd>${s.version} (${s.build})</dd>
              <dt>Up for</dt><dd>${duration(s.uptime_s)}</dd>
              <dt>CPU</dt><dd>${sys && sys.cpu ? html`<${CpuLoad} cpu=${sys.cpu} />`
                : `load ${s.cpu.load_average.map((l) => l.toFixed(2)).join(' ')} on ${s.cpu.cores} cores`}</dd>
              <dt>Storage</dt><dd>${bytes(s.storage.available_bytes)} free of ${bytes(s.storage.total_bytes)}</dd>
              <dt>Channels</dt><dd id="channel-counts">${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}</dd>
            </dl>
          </div>`}
        <div class="card" id="hardware-load">
          <h3>Hardware load</h3>
          ${sys && sys.hardware_load
            ? html`<${HardwareLoad} load=${sys.hardware_load} />`
            : html`<p class="hint">Waiting for the box's figures…</p>`}
        </div>
      </div>
      ${channels && html`
        <div class="card">
          <div class="bar"><h3>Channels</h3>${can(session, 'operate')
            ? html`<a class="button secondary" data-needs="operate" href="#/channels/new">New channel</a>` : null}</div>
          ${channels.length ? html`<${ChannelTable} channels=${channels} stats=${stats} />`
            : html`<p class="hint">No channels yet.${can(session, 'operate')
              ? html` <a href="#/channels/new" data-needs="operate">Create one</a>.` : null}</p>`}
        </div>`}
    </section>`;
}
