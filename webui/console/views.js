// The views behind the login: the overview (the box and its channels) and the system page.
import { useCallback, useEffect, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { bytes, duration } from './format.js';

// Loads with load() at mount and on reload(); a lost session is the shell's business (the
// view is unmounted), any other error is shown in the view.
function useLoad(load) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const reload = useCallback(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then((data) => live && setState({ data, error: null, loading: false }),
      (e) => live && setState((s) => ({ ...s, error: e.message, loading: false })));
    return () => { live = false; };
  }, [load]);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

function Refresh({ onClick, loading }) {
  return html`<button type="button" class="secondary" id="refresh" onClick=${onClick}
    disabled=${loading}>${loading ? 'Loading…' : 'Refresh'}</button>`;
}

function Problem({ text }) {
  return text ? html`<p class="message bad" role="alert">${text}</p>` : null;
}

const loadOverview = () => Promise.all([api('GET', '/api/v1/system'), api('GET', '/api/v1/channels')])
  .then(([system, channels]) => ({ system, channels: channels.channels }));

function ChannelRow({ ch }) {
  const status = ch.status || { state: 'stopped' };
  return html`
    <tr>
      <td data-label="Name">${ch.name}${ch.name !== ch.id ? html` <span class="muted">(${ch.id})</span>` : null}</td>
      <td data-label="State"><span class=${`state state-${status.state}`}>${status.state}</span></td>
      <td data-label="Reason">${status.reason || '—'}</td>
      <td data-label="Playback"><code>${ch.playback.hls}</code></td>
    </tr>`;
}

function Channels({ channels }) {
  if (!channels.length) {
    return html`<p class="hint">No channels yet. The API creates them (POST /api/v1/channels).</p>`;
  }
  return html`
    <table class="channels">
      <thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Reason</th>
        <th scope="col">Playback</th></tr></thead>
      <tbody>${channels.map((ch) => html`<${ChannelRow} key=${ch.id} ch=${ch} />`)}</tbody>
    </table>`;
}

export function Overview() {
  const { data, error, loading, reload } = useLoad(loadOverview);
  const s = data && data.system;
  return html`
    <section id="overview" aria-labelledby="overview-title">
      <div class="bar"><h2 id="overview-title">Overview</h2><${Refresh} onClick=${reload} loading=${loading} /></div>
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

const loadSystem = () => api('GET', '/api/v1/system');

export function System() {
  const { data: s, error, loading, reload } = useLoad(loadSystem);
  return html`
    <section id="system" aria-labelledby="system-title">
      <div class="bar"><h2 id="system-title">System</h2><${Refresh} onClick=${reload} loading=${loading} /></div>
      <${Problem} text=${error} />
      ${s && html`
        <div class="card">
          <h3>${s.box_name || 'Box'}</h3>
          <dl>
            <dt>Version</dt><dd>${s.version} (${s.build})</dd>
            <dt>Up for</dt><dd>${duration(s.uptime_s)}</dd>
            <dt>CPU</dt><dd>${s.cpu.model}, ${s.cpu.cores} cores, load ${s.cpu.load_average.map((l) => l.toFixed(2)).join(' ')}</dd>
            <dt>Memory</dt><dd>${bytes(s.memory.available_bytes)} free of ${bytes(s.memory.total_bytes)}</dd>
            <dt>Storage</dt><dd>${bytes(s.storage.available_bytes)} free of ${bytes(s.storage.total_bytes)} (${s.storage.path})</dd>
            <dt>Host</dt><dd>${s.os.hostname}, Linux ${s.os.kernel}</dd>
          </dl>
        </div>
        <div class="card">
          <h3>Hardware</h3>
          <ul id="hardware">
            ${s.hardware.map((b) => html`
              <li key=${b.name} class=${b.available ? '' : 'off'}>
                ${b.name}: ${b.available ? 'available' : `not available (${b.reason || 'unknown'})`}
                ${b.encoders ? ` — encoders ${b.encoders.join(', ')}` : ''}
              </li>`)}
          </ul>
        </div>`}
    </section>`;
}
