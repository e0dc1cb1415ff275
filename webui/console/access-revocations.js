// Revocations on the access page: the token ids and viewer ids refused now; an operator
// revokes one (until a time, or until lifted) and lifts one, confirmed in the page.
import { useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { useLoad, Problem, can } from './common.js';
import {
  ConfirmButton, FieldError, invalid, splitError, useFocusInvalid, when,
} from './ladder-fields.js';

const loadRevocations = () => api('GET', '/api/v1/access/revocations').then((d) => d.revocations);
const KINDS = {
  viewer_id: { label: 'Viewer id', option: 'A viewer: all its tokens' },
  token_id: { label: 'Token id', option: 'One token, by its id' },
};

const what = (r) => (r.token_id !== undefined ? `token "${r.token_id}"` : `viewer "${r.viewer_id}"`);

function RevokeForm({ onRevoked }) {
  const [kind, setKind] = useState('viewer_id');
  const [value, setValue] = useState('');
  const [reason, setReason] = useState('');
  const [expires, setExpires] = useState('');
  const [err, setErr] = useState(null);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useFocusInvalid(formRef, err);
  const clear = (slot) => setErr((e) => (e && e.slot === slot ? null : e));

  async function submit(ev) {
    ev.preventDefault();
    setErr(null);
    setProblem('');
    const body = { [kind]: value.trim() };
    if (reason.trim()) body.reason = reason.trim();
    if (expires) {
      const at = new Date(expires);
      if (Number.isNaN(at.getTime())) {
        setErr({ field: 'expires_at', slot: 'expires_at', message: 'expires_at: not a date and time' });
        return;
      }
      body.expires_at = at.toISOString();
    }
    setBusy(true);
    try {
      const r = await api('POST', '/api/v1/access/revocations', body);
      setValue('');
      setReason('');
      setExpires('');
      onRevoked(r);
    } catch (e) {
      const split = splitError(e, (field) => (field === kind ? 'value'
        : ['reason', 'expires_at'].includes(field) ? field : null));
      setErr(split.err);
      setProblem(split.problem);
    }
    setBusy(false);
  }

  return html`
    <form id="revoke-form" ref=${formRef} noValidate onSubmit=${submit} data-needs="operate"
      aria-labelledby="revoke-title">
      <h4 id="revoke-title">Revoke</h4>
      <${Problem} text=${problem} />
      <div class="field-row">
        <div class="field">
          <label for="revoke-kind">What</label>
          <select id="revoke-kind" value=${kind} onChange=${(e) => { setKind(e.target.value); setErr(null); }}>
            ${Object.entries(KINDS).map(([k, v]) => html`<option key=${k} value=${k}>${v.option}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="revoke-value">${KINDS[kind].label}</label>
          <input id="revoke-value" value=${value} maxlength="64" autocomplete="off" spellcheck="false"
            onInput=${(e) => { setValue(e.target.value); clear('value'); }} ...${invalid(err, 'value')} />
          <${FieldError} err=${err} slot="value" />
        </div>
        <div class="field">
          <label for="revoke-reason">Reason (optional)</label>
          <input id="revoke-reason" value=${reason} maxlength="200"
            onInput=${(e) => { setReason(e.target.value); clear('reason'); }} ...${invalid(err, 'reason')} />
          <${FieldError} err=${err} slot="reason" />
        </div>
        <div class="field">
          <label for="revoke-expires">Ends (your local time; empty: until lifted)</label>
          <input id="revoke-expires" type="datetime-local" value=${expires}
            onInput=${(e) => { setExpires(e.target.value); clear('expires_at'); }} ...${invalid(err, 'expires_at')} />
          <${FieldError} err=${err} slot="expires_at" />
        </div>
      </div>
      <div class="form-tools">
        <button type="submit" id="revoke-submit" data-needs="operate" disabled=${busy}>Revoke</button>
      </div>
    </form>`;
}

export function RevocationsCard({ session }) {
  const { data, error, reload } = useLoad(loadRevocations);
  const [problem, setProblem] = useState('');
  const [notice, setNotice] = useState('');
  const operate = can(session, 'operate');

  async function lift(r) {
    setProblem('');
    setNotice('');
    try {
      await api('DELETE', `/api/v1/access/revocations/${r.id}`);
      setNotice(`The revocation of ${what(r)} is lifted: it plays again from the next request.`);
    } catch (e) {
      setProblem(e.message);
    }
    reload();
  }
  const revoked = (r) => {
    setProblem('');
    setNotice(`${what(r)[0].toUpperCase()}${what(r).slice(1)} is revoked from the next request on.`);
    reload();
  };

  return html`
    <div class="card" id="revocations">
      <h3 id="revocations-title">Revocations</h3>
      <${Problem} text=${error || problem} />
      ${notice && html`<p class="message info" role="status" id="revocations-notice">${notice}</p>`}
      ${data && (data.length ? html`
        <table class="stack" id="revocation-list">
          <thead><tr><th scope="col">Revoked</th><th scope="col">Reason</th><th scope="col">By</th>
            <th scope="col">Since</th><th scope="col">Ends</th>
            ${operate && html`<th scope="col"><span class="sr-only">Actions</span></th>`}</tr></thead>
          <tbody>${data.map((r) => html`
            <tr key=${r.id} id=${`revocation-${r.id}`}>
              <td data-label="Revoked"><span>${r.token_id !== undefined ? 'token' : 'viewer'} <code>${r.token_id ?? r.viewer_id}</code></span></td>
              <td data-label="Reason">${r.reason || '—'}</td>
              <td data-label="By">${r.created_by}</td>
              <td data-label="Since">${when(r.created_at)}</td>
              <td data-label="Ends">${r.expires_at ? when(r.expires_at) : 'when lifted'}</td>
              ${operate && html`<td class="actions">
                <${ConfirmButton} id=${`revocation-remove-${r.id}`} label="Remove" needs="operate" yes="Yes, remove"
                  question=${`Remove the revocation of ${what(r)}? It plays again.`} onConfirm=${() => lift(r)} />
              </td>`}
            </tr>`)}</tbody>
        </table>` : html`<p class="hint" id="revocation-list-empty">Nothing is revoked.</p>`)}
      ${operate && html`<${RevokeForm} onRevoked=${revoked} />`}
    </div>`;
}
