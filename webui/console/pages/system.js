// The system page: the box (version, build, uptime, CPU, memory, storage, HTTPS), its
// hardware probe report and load, and four views under it: settings (everyone reads, an
// admin edits), users, API keys and the audit log (admin only; not shown to other roles).
// #/system is the overview, #/system/VIEW one of the others.
import { useCallback, useState } from '../../vendor/hooks.js';
import { html } from '../html.js';
import { api } from '../api.js';
import { bytes, duration } from '../format.js';
import { useLoad, Refresh, Problem, can } from '../common.js';
import { useStats } from '../live.js';
import { Time } from '../system-ui.js';
import { HardwareReport } from '../system-hardware.js';
import { SettingsView } from '../system-settings.js';
import { UsersView } from '../system-users.js';
import { ApiKeysView } from '../system-apikeys.js';
import { AuditView } from '../system-audit.js';

// The views, in the order of the sub-navigation; needs: the permission GET needs.
const VIEWS = [
  { path: '', title: 'Overview' },
  { path: 'settings', title: 'Settings' },
  { path: 'users', title: 'Users', needs: 'admin', component: UsersView },
  { path: 'apikeys', title: 'API keys', needs: 'admin', component: ApiKeysView },
  { path: 'audit', title: 'Audit log', needs: 'admin', component: AuditView },
];

const loadOverview = () => Promise.all([api('GET', '/api/v1/system'), api('GET', '/api/v1/hardware')])
  .then(([system, hardware]) => ({ system, hardware }));

function percent(part, whole) {
  return whole > 0 ? `${Math.round((100 * part) / whole)} %` : '';
}

function Memory({ memory }) {
  if (!memory || memory.total_bytes < 0) return html`<span class="muted">not known</span>`;
  const used = memory.total_bytes - memory.available_bytes;
  return html`${bytes(memory.available_bytes)} free of ${bytes(memory.total_bytes)}${' '}
    <span class="muted">(${percent(used, memory.total_bytes)} used)</span>`;
}

function Storage({ storage }) {
  if (storage.error) return html`<span class="bad-text">${storage.error}</span> <code>${storage.path}</code>`;
  const used = storage.total_bytes - storage.available_bytes;
  const low = storage.total_bytes > 0 && storage.available_bytes / storage.total_bytes < 0.1;
  return html`<span class=${low ? 'bad-text' : ''}>${bytes(storage.available_bytes)} free of ${bytes(storage.total_bytes)}</span>${' '}
    <span class="muted">(${percent(used, storage.total_bytes)} used)</span> in <code>${storage.path}</code>`;
}

function BoxCard({ s, live }) {
  const uptime = live && Number.isFinite(live.uptime_s) ? live.uptime_s : s.uptime_s;
  return html`
    <div class="card" id="box">
      <h3>${s.box_name || 'Box'}</h3>
      <dl>
        <dt>Version</dt><dd id="version">${s.version}</dd>
        <dt>Build</dt><dd><code id="build-id">${s.build}</code></dd>
        <dt>Build options</dt>
        <dd><ul class="chips" id="build-options" aria-label="Build options">
          ${s.build_options.map((o) => html`<li key=${o}><code>${o}</code></li>`)}</ul></dd>
        <dt>Started</dt><dd><${Time} at=${s.started_at} /></dd>
        <dt>Up for</dt><dd id="uptime">${duration(uptime)}${live ? html` <span class="live-tag">live</span>` : null}</dd>
        <dt>Host</dt><dd>${s.os.hostname}, Linux ${s.os.kernel} (${s.os.machine})</dd>
        <dt>Store</dt><dd>schema ${s.store.schema_version}${s.store.schema_version !== s.store.schema_latest
          ? ` (this firmware knows ${s.store.schema_latest})` : ''}</dd>
      </dl>
    </div>`;
}

function ResourcesCard({ s, live }) {
  const cpu = (live && live.cpu) || s.cpu;
  const memory = (live && live.memory) || s.memory;
  return html`
    <div class="card" id="resources">
      <h3>Resources${live ? html` <span class="live-tag">live</span>` : null}</h3>
      <dl>
        <dt>CPU</dt><dd>${s.cpu.model}, ${cpu.cores} cores</dd>
        <dt>Load average</dt><dd id="load-average">${cpu.load_average.map((l) => l.toFixed(2)).join(' · ')}
          <span class="muted"> (1, 5, 15 min)</span></dd>
        ${Number.isFinite(cpu.busy_percent) && html`<dt>CPU busy</dt><dd id="cpu-busy">${cpu.busy_percent.toFixed(0)} %</dd>`}
        <dt>Memory</dt><dd id="memory"><${Memory} memory=${memory} /></dd>
        ${s.memory.process_rss_bytes >= 0 && html`<dt>ottboxd uses</dt><dd>${bytes(s.memory.process_rss_bytes)}</dd>`}
        <dt>Storage</dt><dd id="storage"><${Storage} storage=${s.storage} /></dd>
      </dl>
    </div>`;
}

function daysUntil(iso) {
  return Math.floor((new Date(iso).getTime() - Date.now()) / 86400000);
}

function TlsCard({ tls }) {
  const cert = tls.certificate;
  let expiry = null;
  if (tls.enabled && cert && cert.not_after) {
    const days = daysUntil(cert.not_after);
    if (days < 0) expiry = html`<p class="message bad" role="alert">The certificate expired: browsers refuse it.</p>`;
    else if (days < 30) expiry = html`<p class="message warn">The certificate expires in ${days} days.</p>`;
  }
  return html`
    <div class="card" id="tls">
      <h3>HTTPS</h3>
      ${!tls.enabled
        ? html`<p id="tls-state">HTTPS off. <span class="hint">The console and the API answer on plain HTTP only;
            start the box with <code>--listen-tls</code> to serve HTTPS.</span></p>`
        : html`
          ${expiry}
          <dl id="tls-state">
            <dt>Listens on</dt><dd><code>${tls.listen}</code></dd>
            ${cert ? html`
              <dt>Subject</dt><dd>${cert.subject}</dd>
              <dt>Issuer</dt><dd>${cert.issuer}${cert.self_signed ? html` <span class="muted">(self-signed: browsers warn until it is trusted)</span>` : null}</dd>
              <dt>Valid</dt><dd><${Time} at=${cert.not_before} /> to <${Time} at=${cert.not_after} /></dd>
              <dt>SHA-256</dt><dd><code class="fingerprint">${cert.sha256}</code></dd>`
            : html`<dt>Certificate</dt><dd class="bad-text">could not be read</dd>`}
            ${tls.certificate_path && html`<dt>File</dt><dd><code>${tls.certificate_path}</code></dd>`}
          </dl>`}
    </div>`;
}

function Overview() {
  const { data, error, loading, reload } = useLoad(loadOverview);
  const stats = useStats();
  const [hardware, setHardware] = useState(null);
  const [probing, setProbing] = useState(false);
  const [probeProblem, setProbeProblem] = useState('');
  const live = stats && stats.system ? stats.system : null;

  const probe = useCallback(async () => {
    setProbing(true);
    setProbeProblem('');
    try {
      setHardware(await api('GET', '/api/v1/hardware?refresh=1'));
    } catch (e) {
      setProbeProblem(e.message);
    } finally {
      setProbing(false);
    }
  }, []);
  const refresh = () => {
    setHardware(null);
    reload();
  };

  const s = data && data.system;
  const report = hardware || (data && data.hardware);
  return html`
    <div class="bar sub-bar"><span class="hint">The box and its hardware.</span><${Refresh} onClick=${refresh} loading=${loading} /></div>
    <${Problem} text=${error} />
    ${s && html`
      <div class="grid2">
        <${BoxCard} s=${s} live=${live} />
        <${ResourcesCard} s=${s} live=${live} />
      </div>
      ${s.tls && html`<${TlsCard} tls=${s.tls} />`}`}
    <${Problem} text=${probeProblem} />
    ${report && html`<${HardwareReport} report=${report} liveLoad=${live && live.hardware_load}
      onProbe=${probe} probing=${probing} />`}`;
}

function SubNav({ session, current }) {
  return html`
    <nav class="subnav" aria-label="System views">
      ${VIEWS.filter((v) => !v.needs || can(session, v.needs)).map((v) => html`
        <a key=${v.path} href=${v.path ? `#/system/${v.path}` : '#/system'} data-needs=${v.needs || null}
          aria-current=${current === v ? 'page' : null}>${v.title}</a>`)}
    </nav>`;
}

export function System({ session, path }) {
  const view = VIEWS.find((v) => v.path === (path || '').split('/')[0]) || VIEWS[0];
  let body;
  if (view.needs && !can(session, view.needs)) {
    body = html`<p class="hint">Only an admin can see ${view.title.toLowerCase()}.</p>`;
  } else if (view.path === '') {
    body = html`<${Overview} />`;
  } else if (view.path === 'settings') {
    body = html`<${SettingsView} session=${session} />`;
  } else {
    body = html`<${view.component} session=${session} />`;
  }
  return html`
    <section id="system" aria-labelledby="system-title">
      <div class="bar"><h2 id="system-title">System${view.path ? html`<span class="muted"> · ${view.title}</span>` : null}</h2></div>
      <${SubNav} session=${session} current=${view} />
      <div key=${view.path}>${body}</div>
    </section>`;
}
