// The cloud page's sync status (GET /api/v1/cloud, every role): the enrollment, the last
// contact and error, the generation in force, the next poll, the event outbox, what became
// of the last bundle, the recent bundles and commands. It re-reads every 5 s while shown, and
// at once when the live feed says something happened on the cloud side. "Sync now" (fleet)
// asks the box to poll its control plane at once.
import { useCallback, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { Problem, can } from './common.js';
import { Time } from './system-ui.js';
import { usePolled, relative } from './cloud-ui.js';

export const STATUS_POLL_MS = 5000;
const RECENT_BUNDLES = 10;

export const loadStatus = () => api('GET', '/api/v1/cloud');

// The hook every view that shows the enrollment uses: the status, re-read while shown.
export function useCloudStatus() {
  return usePolled(loadStatus, STATUS_POLL_MS, 'cloud.');
}

const STATES = {
  not_enrolled: ['not enrolled', 'off'],
  enrolling: ['enrolling', 'warn'],
  enrolled: ['enrolled', 'good'],
  airgapped: ['air-gapped', 'info'],
};

export function SyncState({ state }) {
  const [text, tone] = STATES[state] || [state, 'off'];
  return html`<span class=${`cloud-state ${tone}`} id="cloud-state" data-state=${state}>${text}</span>`;
}

const BUNDLE_TONES = { applied: 'good', already_applied: 'info', refused: 'bad', rolled_back: 'bad',
  pending: 'warn', none: 'off' };

export function BundleStatus({ status }) {
  return html`<span class=${`cloud-state ${BUNDLE_TONES[status] || 'off'}`}>${String(status || 'none').replace(/_/g, ' ')}</span>`;
}

// Whether the box has a control plane to poll (and so a next poll and an outbox).
const polls = (s) => s.state === 'enrolled' || s.state === 'enrolling';

// A time with how far from now it is.
function At({ at }) {
  const rel = relative(at);
  return html`<${Time} at=${at} />${at && rel ? html` <span class="muted">(${rel})</span>` : null}`;
}

function Summary({ s }) {
  const where = s.state === 'airgapped' ? html`<span class="muted">none: bundles come by upload</span>`
    : s.url ? html`<code id="cloud-url-value">${s.url}</code>` : html`<span class="muted">none</span>`;
  return html`
    <dl class="cloud-summary">
      <dt>State</dt><dd><${SyncState} state=${s.state} />${s.state === 'enrolling'
        ? html` <span class="hint">the control plane was not reached yet; the box keeps trying</span>` : null}</dd>
      <dt>Device id</dt><dd><code id="cloud-device-id">${s.device_id}</code></dd>
      <dt>Control plane</dt><dd>${where}</dd>
      <dt>Pinned</dt><dd>${s.pinned_keys} bundle signing key${s.pinned_keys === 1 ? '' : 's'}${s.ca_pinned
        ? ', a CA for its TLS certificate' : ''}</dd>
      ${s.enrolled_at && html`<dt>Enrolled</dt><dd><${Time} at=${s.enrolled_at} /></dd>`}
      <dt>Last contact</dt><dd id="cloud-last-contact"><${At} at=${s.last_contact} /></dd>
      <dt>Applied generation</dt><dd><strong id="cloud-generation">${s.applied_generation || 'none'}</strong>${s.etag
        ? html` <span class="muted">ETag <code>${s.etag}</code></span>` : null}</dd>
      <dt>Last error</dt><dd id="cloud-last-error">${s.last_error
        ? html`<span class="bad-text">${s.last_error}</span> <span class="muted">(<${Time} at=${s.last_error_at} />${
          s.errors_in_row ? `, ${s.errors_in_row} in a row` : ''})</span>`
        : html`<span class="muted">none</span>`}</dd>
      ${polls(s) && html`
        <dt>Next poll</dt><dd id="cloud-next-poll">${s.next_poll ? html`<${At} at=${s.next_poll} />` : html`<span class="muted">now</span>`}
          <span class="muted"> · every ${s.poll_interval_s} s</span></dd>
        <dt>Outbox</dt><dd id="cloud-outbox">${s.outbox.pending} event${s.outbox.pending === 1 ? '' : 's'} waiting${s.outbox.dropped
          ? html`, <span class="bad-text">${s.outbox.dropped} dropped</span> <span class="muted">(the outbox was full)</span>`
          : html`, none dropped`}</dd>`}
    </dl>`;
}

function LastBundle({ s }) {
  const errors = s.last_bundle_errors || [];
  return html`
    <div id="cloud-last-bundle">
      <p>Last bundle: <${BundleStatus} status=${s.last_bundle_status} /></p>
      ${errors.length > 0 && html`
        <ul class="cloud-errors">${errors.map((e, i) => html`
          <li key=${i}><code>${e.code}</code> ${e.message}</li>`)}</ul>`}
    </div>`;
}

function Bundles({ bundles }) {
  if (!bundles.length) return html`<p class="hint" id="cloud-bundles-none">No bundle yet.</p>`;
  return html`
    <table class="stack" id="cloud-bundles">
      <thead><tr><th scope="col">Generation</th><th scope="col">Status</th><th scope="col">Source</th>
        <th scope="col">Error</th><th scope="col">Received</th><th scope="col">Applied</th></tr></thead>
      <tbody>${bundles.slice(0, RECENT_BUNDLES).map((b) => html`
        <tr key=${`${b.generation}-${b.received_at}`} data-generation=${b.generation} data-status=${b.status}>
          <td data-label="Generation">${b.generation}</td>
          <td data-label="Status"><${BundleStatus} status=${b.status} /></td>
          <td data-label="Source">${b.source}</td>
          <td data-label="Error">${b.error ? html`<span class="bad-text">${b.error}</span>` : '—'}</td>
          <td data-label="Received"><${Time} at=${b.received_at} /></td>
          <td data-label="Applied">${b.applied_at ? html`<${Time} at=${b.applied_at} />` : '—'}</td>
        </tr>`)}</tbody>
    </table>
    ${bundles.length > RECENT_BUNDLES && html`<p class="hint">The ${RECENT_BUNDLES} newest of ${bundles.length}.</p>`}`;
}

function Commands({ commands }) {
  if (!commands.length) return html`<p class="hint" id="cloud-commands-none">No command yet.</p>`;
  return html`
    <table class="stack" id="cloud-commands">
      <thead><tr><th scope="col">Id</th><th scope="col">Type</th><th scope="col">Status</th>
        <th scope="col">Detail</th><th scope="col">Generation</th><th scope="col">At</th></tr></thead>
      <tbody>${commands.map((c) => html`
        <tr key=${c.id} data-command=${c.id}>
          <td data-label="Id"><code>${c.id}</code></td>
          <td data-label="Type">${c.type}</td>
          <td data-label="Status"><span class=${c.status === 'failed' ? 'bad-text' : ''}>${c.status}</span></td>
          <td data-label="Detail">${c.detail || '—'}</td>
          <td data-label="Generation">${c.generation ?? '—'}</td>
          <td data-label="At"><${Time} at=${c.at} /></td>
        </tr>`)}</tbody>
    </table>`;
}

function SyncNow({ onDone }) {
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState({ text: '', bad: false });
  const sync = useCallback(async () => {
    setBusy(true);
    try {
      const r = await api('POST', '/api/v1/cloud/sync', {});
      setSaid({ text: `Asked: ${r.message}.`, bad: false });
    } catch (e) {
      setSaid({ text: e.message, bad: true });
    }
    setBusy(false);
    onDone();
  }, [onDone]);
  return html`
    <span class="actions">
      <button type="button" id="cloud-sync-now" data-needs="fleet" onClick=${sync} disabled=${busy}>
        ${busy ? 'Asking…' : 'Sync now'}</button>
      ${said.text && html`<span role=${said.bad ? 'alert' : 'status'} id="cloud-sync-said"
        class=${said.bad ? 'bad-text' : 'muted'}>${said.text}</span>`}
    </span>`;
}

export function StatusView({ session }) {
  const { data: s, error, loading, reload } = useCloudStatus();
  const fleet = can(session, 'fleet');
  const syncs = s && polls(s);
  return html`
    <div class="bar sub-bar">
      <span class="hint">Re-read every ${STATUS_POLL_MS / 1000} s while shown.</span>
      <span class="actions">
        ${fleet && syncs && html`<${SyncNow} onDone=${reload} />`}
        <button type="button" class="secondary" id="cloud-refresh" onClick=${reload}>Refresh</button>
      </span>
    </div>
    <${Problem} text=${error} />
    ${!s && loading && html`<p class="hint">Loading…</p>`}
    ${s && html`
      <div class="card" id="cloud-status">
        <h3>Sync</h3>
        <${Summary} s=${s} />
        ${s.state === 'not_enrolled' && html`<p class="hint">The box takes no policy from a control plane.${fleet
          ? html` <a href="#/cloud/enrollment" data-needs="fleet">Enroll it</a>, or pin the signing keys for uploads (air-gapped).` : ''}</p>`}
      </div>
      <div class="card">
        <h3>Bundles</h3>
        <${LastBundle} s=${s} />
        <${Bundles} bundles=${s.bundles || []} />
      </div>
      <div class="card">
        <h3>Commands</h3>
        <${Commands} commands=${s.commands || []} />
      </div>`}`;
}
