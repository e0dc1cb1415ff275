// The hardware probe report (GET /api/v1/hardware): every backend compiled in, available or
// why not, what it found (devices, implementations, encoders and decoders), and the load
// admission has placed on each device, live from the stats feed when it runs.
import { html } from './html.js';
import { bytes } from './format.js';
import { Time } from './system-ui.js';

function list(items) {
  return items && items.length ? items.join(', ') : '—';
}

// Pixels per second as megapixels per second ("124.4 Mpx/s"); 0 is "no limit" for a limit.
function pixelRate(n) {
  return `${(n / 1e6).toFixed(1)} Mpx/s`;
}

function VaapiCodecs({ codecs }) {
  const names = Object.keys(codecs || {});
  if (!names.length) return null;
  const yes = (v) => (v ? 'yes' : 'no');
  return html`
    <table class="compact">
      <caption>Codecs</caption>
      <thead><tr><th scope="col">Codec</th><th scope="col">Decode</th><th scope="col">Encode</th>
        <th scope="col">Low-power encode</th><th scope="col">Largest picture</th></tr></thead>
      <tbody>${names.map((name) => {
        const c = codecs[name];
        return html`<tr key=${name}><th scope="row">${name}</th><td>${yes(c.decode)}</td>
          <td>${yes(c.encode)}</td><td>${yes(c.encode_low_power)}</td>
          <td>${c.max_width ? `${c.max_width}×${c.max_height}` : '—'}</td></tr>`;
      })}</tbody>
    </table>`;
}

// A VAAPI render node or an NVIDIA GPU: the fields each has, those it lacks left out.
function Device({ d }) {
  const rows = [];
  const add = (label, value) => value !== undefined && value !== null && value !== '' &&
    rows.push(html`<dt key=${label}>${label}</dt><dd key=${`${label}-v`}>${value}</dd>`);
  add('Render node', d.node);
  add('Driver', d.driver);
  add('VA-API', d.va_api);
  add('GPU', d.index !== undefined ? `${d.index}: ${d.name || ''}` : d.name);
  add('Compute capability', d.compute_capability);
  add('Memory', d.memory_bytes !== undefined ? bytes(d.memory_bytes) : undefined);
  add('NVDEC', d.nvdec ? list(d.nvdec) : undefined);
  add('NVDEC error', d.nvdec_error);
  add('NVENC', d.nvenc !== undefined ? (d.nvenc ? `yes (${list(d.nvenc_codecs)})` : 'no') : undefined);
  add('Cannot be used', d.error || d.reason);
  return html`
    <li class="device">
      <dl>${rows}</dl>
      <${VaapiCodecs} codecs=${d.codecs} />
    </li>`;
}

function Backend({ b }) {
  const facts = [];
  const add = (label, value) => facts.push(html`<dt key=${label}>${label}</dt><dd key=${`${label}-v`}>${value}</dd>`);
  if (b.encoders) add('Encoders', list(b.encoders));
  if (b.decoders) add('Decoders', list(b.decoders));
  if (b.libavcodec) add('FFmpeg (libavcodec)', b.libavcodec);
  if (b.cuda_driver_api) add('CUDA driver API', b.cuda_driver_api);
  return html`
    <li class=${`backend ${b.available ? 'on' : 'off'}`} data-backend=${b.name}>
      <div class="backend-head">
        <strong>${b.name}</strong>
        <span class=${`avail ${b.available ? 'yes' : 'no'}`}>${b.available ? 'available' : 'not available'}</span>
        <span class="muted">${b.description}</span>
      </div>
      ${!b.available && b.reason && html`<p class="reason">${b.reason}</p>`}
      ${facts.length > 0 && html`<dl>${facts}</dl>`}
      ${b.devices && b.devices.length > 0 && html`
        <ul class="devices" aria-label=${`${b.name} devices`}>${b.devices.map((d, i) => html`<${Device} key=${i} d=${d} />`)}</ul>`}
      ${b.implementations && b.implementations.length > 0 && html`
        <table class="compact">
          <caption>oneVPL implementations</caption>
          <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">API</th>
            <th scope="col">Decoders</th><th scope="col">Encoders</th></tr></thead>
          <tbody>${b.implementations.map((impl, i) => html`
            <tr key=${i}><td>${impl.name}</td><td>${impl.impl} (${impl.acceleration_mode})</td>
              <td>${impl.api_version}</td><td>${list(impl.decoders)}</td><td>${list(impl.encoders)}</td></tr>`)}</tbody>
        </table>`}
    </li>`;
}

function Used({ used, limit, format }) {
  const f = format || String;
  return limit ? html`${f(used)} of ${f(limit)}` : html`${f(used)} <span class="muted">(no limit)</span>`;
}

export function LoadTable({ load }) {
  if (!load || !load.length) return html`<p class="hint">No device can take channels.</p>`;
  return html`
    <table class="rtable" id="hardware-load">
      <thead><tr><th scope="col">Device</th><th scope="col">Backend</th><th scope="col">Encode sessions</th>
        <th scope="col">Encoding</th><th scope="col">Decoding</th><th scope="col">Channels</th></tr></thead>
      <tbody>${load.map((l) => html`
        <tr key=${`${l.backend}/${l.device}`}>
          <td data-label="Device">${l.label}${l.device ? html` <code>${l.device}</code>` : null}</td>
          <td data-label="Backend">${l.backend}</td>
          <td data-label="Encode sessions"><${Used} used=${l.sessions_used} limit=${l.sessions} /></td>
          <td data-label="Encoding"><${Used} used=${l.encode_used} limit=${l.encode_pixel_rate} format=${pixelRate} /></td>
          <td data-label="Decoding"><${Used} used=${l.decode_used} limit=${l.decode_pixel_rate} format=${pixelRate} /></td>
          <td data-label="Channels">${l.channels && l.channels.length
            ? l.channels.map((id, i) => html`${i ? ', ' : ''}<a key=${id} href=${`#/channels/${encodeURIComponent(id)}`}>${id}</a>`)
            : html`<span class="muted">none</span>`}</td>
        </tr>`)}</tbody>
    </table>`;
}

// report: the answer of GET /api/v1/hardware; liveLoad: the stats feed's hardware_load.
export function HardwareReport({ report, liveLoad, onProbe, probing }) {
  const load = Array.isArray(liveLoad) ? liveLoad : report.load;
  return html`
    <div class="card" id="hardware-card">
      <div class="bar">
        <h3>Hardware</h3>
        <button type="button" class="secondary" onClick=${onProbe} disabled=${probing}>
          ${probing ? 'Probing…' : 'Probe again'}</button>
      </div>
      <p class="hint">Probed <${Time} at=${report.probed_at} />. Backends are tried in this order;
        a channel set to <code>auto</code> gets the first one that can take its ladder.</p>
      <ul id="hardware" class="backends">${report.backends.map((b) => html`<${Backend} key=${b.name} b=${b} />`)}</ul>
      <h4>Load${Array.isArray(liveLoad) ? html` <span class="live-tag">live</span>` : null}</h4>
      <${LoadTable} load=${load} />
    </div>`;
}
