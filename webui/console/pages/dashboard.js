// The dashboard: the box and every channel at a glance.
import { html } from '../html.js';
import { api } from '../api.js';
import { bytes, duration } from '../format.js';
import { useLoad, Refresh, Problem } from '../common.js';

const loadOverview = () => Promise.all([api('GET', '/api/v1/system'), api('GET', '/api/v1/channels')])
  .then(([system, channels]) => ({ system, channels: channels.channels }));

function ChannelRow({ ch }) {
  const status = ch.status || { state: 'stopped' };
  return html`
    <tr>
      <td data-label="Name"><a href=${`#/channels/${ch.id}`}>${ch.name}</a>${ch.name !== ch.id ? html` <span class="muted">(${ch.id})</span>` : null}</td>
      <td data-label="State"><span class=${`state state-${status.state}`}>${status.state}</span></td>
      <td data-label="Reason">${status.reason || '—'}</td>
      <td data-label="Playback"><code>${ch.playback.hls}</code></td>
    </tr>`;
}

function Channels({ channels }) {
  if (!channels.length) {
    return html`<p class="hint">No channels yet. <a href="#/channels/new">Create one</a>.</p>`;
  }
  return html`
    <table class="channels">
      <thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Reason</th>
        <th scope="col">Playback</th></tr></thead>
      <tbody>${channels.map((ch) => html`<${ChannelRow} key=${ch.id} ch=${ch} />`)}</tbody>
    </table>`;
}

export function Dashboard() {
  const { data, error, loading, reload } = useLoad(loadOverview);
  const s = data && data.system;
  return html`
    <section id="dashboard" aria-labelledby="dashboard-title">
      <div class="bar"><h2 id="dashboard-title">Dashboard</h2><${Refresh} onClick=${reload} loading=${loading} /></div>
      <${Problem} text=${error} />
      ${s && html`
        <div class="card">
          <h3>${s.box_name || 'Box'}</h3>
          <dl>
            <dt>Version</dt><dd>${s.version} (${s.build})</dd>
            <dt>Up for</dt><dd>${duration(s.uptime_s)}</dd>
            <dt>CPU load</dt><dd>${s.cpu.load_average.map((l) => l.toFixed(2)).join(' ')} on ${s.cpu.cores} cores</dd>
            <dt>Storage</dt><dd>${bytes(s.storage.available_bytes)} free of ${bytes(s.storage.total_bytes)}</dd>
          </dl>
        </div>`}
      ${data && html`
        <div class="card">
          <h3>Channels</h3>
          <${Channels} channels=${data.channels} />
        </div>`}
    </section>`;
}
