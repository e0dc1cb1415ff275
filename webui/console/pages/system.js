// The system page: the box, its hardware and software.
import { html } from '../html.js';
import { api } from '../api.js';
import { bytes, duration } from '../format.js';
import { useLoad, Refresh, Problem } from '../common.js';

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
