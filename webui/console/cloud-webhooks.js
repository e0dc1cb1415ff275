// The cloud page's webhooks (fleet): receivers of the box's lifecycle events
// (/api/v1/webhooks). The list with each one's counts and last attempt; a new webhook (URL,
// the event types it wants, from the box's own list, or all of them; a description), whose
// secret is shown once, right after it is made; enable and disable; a test delivery; delete
// after a confirmation; and per webhook its delivery history (re-read every 3 s while open)
// with "Retry" on a delivery that failed.
import { useCallback, useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { useLoad, Refresh, Problem } from './common.js';
import { NO_ERRORS, ConfirmRow, described, FieldError, Time } from './system-ui.js';
import { CopyField } from './ladder-fields.js';
import { listFormErrors, usePolled } from './cloud-ui.js';

const HISTORY_POLL_MS = 3000;
const HISTORY_LIMIT = 20;
const FIELDS = ['url', 'events', 'description'];

const loadHooks = () => api('GET', '/api/v1/webhooks');
const hookPath = (id) => `/api/v1/webhooks/${encodeURIComponent(id)}`;

function eventsText(events) {
  return events.includes('*') ? 'all types' : events.join(', ');
}

function NewHookForm({ types, onCreated, onCancel }) {
  const [url, setUrl] = useState('');
  const [all, setAll] = useState(true);
  const [picked, setPicked] = useState([]);
  const [description, setDescription] = useState('');
  const [errors, setErrors] = useState(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useEffect(() => {
    const el = formRef.current && formRef.current.querySelector('[aria-invalid="true"]');
    // The event types are a group: its first box that can change takes the focus.
    const target = el && el.matches('fieldset') ? el.querySelector('input:not([disabled])') : el;
    if (target) target.focus();
  }, [errors]);

  const toggle = (type, on) => setPicked((p) => (on ? [...p, type] : p.filter((t) => t !== type)));

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    const body = { url: url.trim(), events: all ? ['*'] : types.map((t) => t.type).filter((t) => picked.includes(t)) };
    if (description.trim()) body.description = description.trim();
    try {
      onCreated(await api('POST', '/api/v1/webhooks', body));
    } catch (e) {
      setErrors(listFormErrors(e, FIELDS));
      setBusy(false);
    }
  }

  return html`
    <form id="webhook-create" class="card inset" ref=${formRef} onSubmit=${submit} novalidate
      aria-labelledby="webhook-create-title">
      <h4 id="webhook-create-title">New webhook</h4>
      <${Problem} text=${errors.problem} />
      <div class="field">
        <label for="webhook-url">Receiver URL</label>
        <input id="webhook-url" value=${url} autocomplete="off" spellcheck="false" inputmode="url"
          placeholder="https://hooks.example.net/ottbox" onInput=${(e) => setUrl(e.target.value)}
          ...${described('url', errors, 'webhook-url-hint')} />
        <span class="hint" id="webhook-url-hint">http:// or https://; the box POSTs each event there as JSON,
          signed in the header <code>X-Ottbox-Signature</code>.</span>
        <${FieldError} field="url" errors=${errors} />
      </div>
      <fieldset id="webhook-events" ...${described('events', errors)}>
        <legend>Event types</legend>
        <div class="check">
          <input type="checkbox" id="webhook-all" checked=${all} onChange=${(e) => setAll(e.target.checked)} />
          <label for="webhook-all">All types, those added later too</label>
        </div>
        <ul class="type-list">
          ${types.map((t) => html`
            <li key=${t.type} class="check">
              <input type="checkbox" id=${`webhook-type-${t.type.replace(/\W/g, '-')}`} value=${t.type}
                disabled=${all} checked=${all || picked.includes(t.type)}
                onChange=${(e) => toggle(t.type, e.target.checked)} />
              <label for=${`webhook-type-${t.type.replace(/\W/g, '-')}`}><code>${t.type}</code>${' '}<span class="muted">${t.description}</span></label>
            </li>`)}
        </ul>
        <${FieldError} field="events" errors=${errors} />
      </fieldset>
      <div class="field">
        <label for="webhook-description">Description (optional)</label>
        <input id="webhook-description" value=${description} maxlength="200" autocomplete="off"
          onInput=${(e) => setDescription(e.target.value)} ...${described('description', errors)} />
        <${FieldError} field="description" errors=${errors} />
      </div>
      <div class="actions">
        <button type="submit" id="webhook-create-submit" data-needs="fleet" disabled=${busy}>Create webhook</button>
        <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
      </div>
    </form>`;
}

// The new webhook's secret, this once: the receiver checks signatures with it.
function SecretOnce({ hook, onDone }) {
  return html`
    <div class="secret-once" id="webhook-secret" role="region" aria-labelledby="webhook-secret-title">
      <p id="webhook-secret-title"><strong>Copy the secret of the webhook to ${hook.url} now: it will not be
        shown again.</strong> The receiver checks <code>X-Ottbox-Signature</code> with it (HMAC-SHA256 of the
        time and the body); the box keeps it to sign, and shows it neither here nor in the API again.</p>
      <${CopyField} id="webhook-secret-value" label="Signing secret" value=${hook.secret} />
      <button type="button" class="secondary" id="webhook-secret-done" onClick=${onDone}>I have copied it</button>
    </div>`;
}

const DELIVERY_TONES = { delivered: 'good', pending: 'warn', failed: 'bad' };

function lastOutcome(d) {
  if (d.last_error) return html`<span class="bad-text">${d.last_error}</span>`;
  if (d.last_http_status) return `HTTP ${d.last_http_status}`;
  return '—';
}

// One webhook's deliveries, newest first, re-read while shown; onChange() when one came,
// went or changed its status (the list's counts follow).
function History({ hook, onChange }) {
  const load = useCallback(() => api('GET', `${hookPath(hook.id)}/deliveries?limit=${HISTORY_LIMIT}`)
    .then((r) => r.deliveries), [hook.id]);
  const { data: deliveries, error, reload } = usePolled(load, HISTORY_POLL_MS, 'webhook.');
  const [problem, setProblem] = useState('');
  const [notice, setNotice] = useState('');
  const seen = useRef(null);
  useEffect(() => {
    if (!deliveries) return;
    const now = deliveries.map((d) => `${d.id}:${d.status}:${d.attempts}`).join(' ');
    if (seen.current !== null && seen.current !== now) onChange();
    seen.current = now;
  }, [deliveries, onChange]);

  async function retry(d) {
    setProblem('');
    setNotice('');
    try {
      await api('POST', `${hookPath(hook.id)}/deliveries/${d.id}/retry`, {});
      setNotice(`Delivery ${d.id} goes again.`);
    } catch (e) {
      setProblem(e.message);
    }
    reload();
  }

  return html`
    <div class="history" id=${`webhook-history-${hook.id}`} role="region" aria-label=${`Deliveries to ${hook.url}`}>
      <div class="bar">
        <h4>Deliveries <span class="muted">(the ${HISTORY_LIMIT} newest, re-read every ${HISTORY_POLL_MS / 1000} s)</span></h4>
        <button type="button" class="secondary" onClick=${reload}>Refresh<span class="sr-only"> the deliveries</span></button>
      </div>
      <${Problem} text=${error || problem} />
      ${notice && html`<p class="message info" role="status">${notice}</p>`}
      ${deliveries && !deliveries.length && html`<p class="hint">Nothing sent yet: “Send a test” sends a ping.</p>`}
      ${deliveries && deliveries.length > 0 && html`
        <table class="stack deliveries">
          <thead><tr><th scope="col">Id</th><th scope="col">Type</th><th scope="col">Subject</th><th scope="col">Status</th>
            <th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">Queued</th><th scope="col">Done or next</th>
            <th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${deliveries.map((d) => html`
            <tr key=${d.id} data-delivery=${d.id} data-type=${d.type} data-status=${d.status}>
              <td data-label="Id">${d.id}</td>
              <td data-label="Type"><code>${d.type}</code></td>
              <td data-label="Subject">${d.subject || '—'}</td>
              <td data-label="Status"><span class=${`cloud-state ${DELIVERY_TONES[d.status] || 'off'}`}>${d.status}</span></td>
              <td data-label="Attempts">${d.attempts}</td>
              <td data-label="Last answer">${lastOutcome(d)}</td>
              <td data-label="Queued"><${Time} at=${d.created_at} /></td>
              <td data-label="Done or next">${d.status === 'pending'
                ? html`<span>next <${Time} at=${d.next_attempt_at} /></span>` : html`<${Time} at=${d.finished_at} />`}</td>
              <td data-label="">${d.status === 'failed' && html`
                <button type="button" class="secondary" data-needs="fleet" onClick=${() => retry(d)}>Retry<span
                  class="sr-only"> delivery ${d.id}</span></button>`}</td>
            </tr>`)}</tbody>
        </table>`}
    </div>`;
}

function HookRow({ hook, open, deleting, busy, onToggle, onTest, onHistory, onDelete, onAskDelete, onCancelDelete,
  onChange }) {
  const counts = hook.deliveries || {};
  const last = hook.last_attempt;
  return html`
    <tr data-webhook=${hook.id} class=${hook.enabled ? '' : 'off'}>
      <td data-label="Receiver"><div><code>${hook.url}</code>${hook.description
        ? html`<div class="muted small">${hook.description}</div>` : null}</div></td>
      <td data-label="Events">${eventsText(hook.events)}</td>
      <td data-label="State">${hook.enabled ? 'enabled' : html`<span class="muted">disabled</span>`}</td>
      <td data-label="Deliveries"><span>${counts.delivered || 0} delivered · ${counts.pending || 0} pending · ${
        counts.failed ? html`<span class="bad-text">${counts.failed} failed</span>` : '0 failed'}${counts.dropped
        ? html` · <span class="bad-text">${counts.dropped} dropped</span>` : null}</span></td>
      <td data-label="Last attempt">${last ? html`<span><${Time} at=${last.at} /> ${last.error
        ? html`<span class="bad-text">${last.error}</span>` : last.http_status ? `HTTP ${last.http_status}` : ''}</span>`
        : html`<span class="muted">none</span>`}</td>
      <td data-label="" class="actions">
        <button type="button" class="secondary" data-needs="fleet" disabled=${busy || !hook.enabled}
          title=${hook.enabled ? null : 'Enable it to test it'} onClick=${() => onTest(hook)}>Send a test<span
          class="sr-only"> to ${hook.url}</span></button>
        <button type="button" class="secondary" aria-expanded=${open ? 'true' : 'false'}
          aria-controls=${`webhook-history-${hook.id}`} onClick=${() => onHistory(hook)}>${open ? 'Hide history' : 'History'}<span
          class="sr-only"> of ${hook.url}</span></button>
        <button type="button" class="secondary" data-needs="fleet" disabled=${busy}
          onClick=${() => onToggle(hook)}>${hook.enabled ? 'Disable' : 'Enable'}<span class="sr-only"> ${hook.url}</span></button>
        ${!deleting && html`<button type="button" class="secondary danger-text" data-needs="fleet" disabled=${busy}
          onClick=${() => onAskDelete(hook)}>Delete…<span class="sr-only"> ${hook.url}</span></button>`}
      </td>
    </tr>
    ${deleting && html`
      <tr class="panel-row"><td colspan="6">
        <${ConfirmRow} needs="fleet" busy=${busy} action="Delete webhook"
          text=${`Delete the webhook to ${hook.url}? Its deliveries go with it, pending ones too.`}
          onConfirm=${() => onDelete(hook)} onCancel=${onCancelDelete} />
      </td></tr>`}
    ${open && html`<tr class="panel-row"><td colspan="6"><${History} hook=${hook} onChange=${onChange} /></td></tr>`}`;
}

export function WebhooksView() {
  const { data, error, loading, reload } = useLoad(loadHooks);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState(null);
  const [open, setOpen] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const [notice, setNotice] = useState('');

  const act = async (what, done) => {
    setBusy(true);
    setProblem('');
    setNotice('');
    try {
      await what();
      setNotice(done);
    } catch (e) {
      setProblem(e.message);
    }
    setBusy(false);
    reload();
  };
  const toggle = (hook) => act(() => api('PATCH', hookPath(hook.id), { enabled: !hook.enabled }),
    hook.enabled ? `The webhook to ${hook.url} is disabled: nothing is sent to it until it is enabled again.`
      : `The webhook to ${hook.url} is enabled.`);
  const test = (hook) => act(async () => {
    await api('POST', `${hookPath(hook.id)}/test`, {});
    setOpen(hook.id);
  }, `A test delivery (ping) to ${hook.url} is queued: it shows in the history below.`);
  const remove = (hook) => act(async () => {
    await api('DELETE', hookPath(hook.id));
    setDeleting(null);
  }, `The webhook to ${hook.url} is deleted.`);
  // Asking closes the webhook's history: it would go on reading a webhook about to go.
  const askDelete = (hook) => {
    setDeleting(hook.id);
    setNotice('');
    if (open === hook.id) setOpen(null);
  };
  const onCreated = (hook) => {
    setCreating(false);
    setCreated(hook);
    setNotice('');
    reload();
  };

  const hooks = data && data.webhooks;
  return html`
    <div class="card" id="webhooks">
      <div class="bar">
        <h3>Webhooks</h3>
        <div class="actions">
          ${!creating && html`<button type="button" data-needs="fleet" id="webhook-new"
            onClick=${() => { setCreating(true); setCreated(null); setNotice(''); }}>New webhook</button>`}
          <${Refresh} onClick=${reload} loading=${loading} />
        </div>
      </div>
      <p class="hint">The box POSTs its lifecycle events (channels live, degraded, failed, recovered; assets;
        policy applied or rolled back; updates) to these URLs, signed, retried with backoff until they
        arrive, in order per subject.</p>
      <${Problem} text=${error || problem} />
      ${notice && html`<p class="message info" role="status" id="webhooks-notice">${notice}</p>`}
      ${creating && data && html`<${NewHookForm} types=${data.event_types} onCreated=${onCreated}
        onCancel=${() => setCreating(false)} />`}
      ${created && html`<${SecretOnce} hook=${created} onDone=${() => setCreated(null)} />`}
      ${hooks && !hooks.length && html`<p class="hint" id="webhooks-none">No webhooks.</p>`}
      ${hooks && hooks.length > 0 && html`
        <table class="stack" id="webhooks-table">
          <thead><tr><th scope="col">Receiver</th><th scope="col">Events</th><th scope="col">State</th>
            <th scope="col">Deliveries</th><th scope="col">Last attempt</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${hooks.map((h) => html`
            <${HookRow} key=${h.id} hook=${h} open=${open === h.id} deleting=${deleting === h.id} busy=${busy}
              onToggle=${toggle} onTest=${test} onHistory=${(x) => setOpen(open === x.id ? null : x.id)}
              onDelete=${remove} onAskDelete=${askDelete}
              onCancelDelete=${() => setDeleting(null)} onChange=${reload} />`)}</tbody>
        </table>`}
    </div>`;
}
