// API keys (admin only): the list, a new key (its whole token is shown once, right after it
// is made; the box keeps only a hash), and revoking a key after a confirmation.
import { useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { useLoad, Refresh, Problem } from './common.js';
import { NO_ERRORS, ConfirmRow, described, formErrors, FieldError, Time } from './system-ui.js';
import { RoleSelect } from './system-users.js';

const loadKeys = () => api('GET', '/api/v1/apikeys').then((r) => r.apikeys);

function NewKeyForm({ onCreated, onCancel }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [errors, setErrors] = useState(NO_ERRORS);
  const [busy, setBusy] = useState(false);

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      onCreated(await api('POST', '/api/v1/apikeys', { name, role }));
    } catch (e) {
      setErrors(formErrors(e, ['name', 'role']));
      setBusy(false);
    }
  }

  return html`
    <form id="apikey-create" class="card inset" onSubmit=${submit} novalidate aria-labelledby="apikey-create-title">
      <h4 id="apikey-create-title">New API key</h4>
      <${Problem} text=${errors.problem} />
      <label for="apikey-name">What it is for</label>
      <input id="apikey-name" name="name" value=${name} maxlength="64" autocomplete="off"
        onInput=${(ev) => setName(ev.target.value)} ...${described('name', errors, 'apikey-name-hint')} />
      <p class="hint" id="apikey-name-hint">1 to 64 characters, like “paywall” or “fleet”.</p>
      <${FieldError} field="name" errors=${errors} />
      <label for="apikey-role">Role</label>
      <${RoleSelect} id="apikey-role" field="role" value=${role} onChange=${setRole} errors=${errors} />
      <${FieldError} field="role" errors=${errors} />
      <div class="actions">
        <button type="submit" data-needs="admin" disabled=${busy}>Create key</button>
        <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
      </div>
    </form>`;
}

// The new key's token, this once. Copying needs a secure context (HTTPS or localhost); the
// token is selected for a manual copy either way.
function NewKeyToken({ created, onDone }) {
  const codeRef = useRef(null);
  const [copied, setCopied] = useState('');
  useEffect(() => {
    const el = codeRef.current;
    if (!el) return;
    el.focus();
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }, []);
  const copy = () => navigator.clipboard.writeText(created.key)
    .then(() => setCopied('Copied.'), () => setCopied('The browser did not allow copying: select the key and copy it.'));
  return html`
    <div class="card inset token-card" id="apikey-token" role="region" aria-labelledby="apikey-token-title">
      <h4 id="apikey-token-title">API key “${created.name}” (${created.role}) created</h4>
      <p class="message warn">Copy it now: it will not be shown again. The box keeps only a hash of it.</p>
      <code class="token" tabindex="0" ref=${codeRef} id="apikey-token-value">${created.key}</code>
      <p class="hint">Programs send it in the header <code>Authorization: Bearer KEY</code>.</p>
      <div class="actions">
        ${window.isSecureContext && navigator.clipboard && html`
          <button type="button" class="secondary" onClick=${copy}>Copy</button>`}
        <button type="button" class="secondary" onClick=${onDone}>I have copied it</button>
        ${copied && html`<span role="status">${copied}</span>`}
      </div>
    </div>`;
}

export function ApiKeysView() {
  const { data: keys, error, loading, reload } = useLoad(loadKeys);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState(null);
  const [revoking, setRevoking] = useState(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const [notice, setNotice] = useState('');

  const onCreated = (key) => {
    setCreating(false);
    setCreated(key);
    setNotice('');
    reload();
  };

  async function revoke(key) {
    setBusy(true);
    setProblem('');
    try {
      await api('DELETE', `/api/v1/apikeys/${encodeURIComponent(key.id)}`);
      setNotice(`API key “${key.name}” (${key.id}) revoked: requests with it are refused from now on.`);
      setRevoking(null);
      reload();
    } catch (e) {
      setProblem(e.message);
    } finally {
      setBusy(false);
    }
  }

  return html`
    <div class="card" id="apikeys">
      <div class="bar">
        <h3>API keys</h3>
        <div class="actions">
          ${!creating && html`<button type="button" data-needs="admin" id="apikey-new"
            onClick=${() => { setCreating(true); setCreated(null); setNotice(''); }}>New API key</button>`}
          <${Refresh} onClick=${reload} loading=${loading} />
        </div>
      </div>
      <p class="hint">For programs: a paywall issuing playback tokens, the fleet, scripts. A key acts
        with its role; a person logs in instead.</p>
      <${Problem} text=${error || problem} />
      ${notice && html`<p class="message info" role="status">${notice}</p>`}
      ${creating && html`<${NewKeyForm} onCreated=${onCreated} onCancel=${() => setCreating(false)} />`}
      ${created && html`<${NewKeyToken} created=${created} onDone=${() => setCreated(null)} />`}
      ${keys && !keys.length && html`<p class="hint">No API keys.</p>`}
      ${keys && keys.length > 0 && html`
        <table class="rtable" id="apikeys-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Role</th>
            <th scope="col">Created by</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${keys.map((k) => html`
            <tr key=${k.id} data-apikey=${k.id}>
              <td data-label="Name">${k.name}</td>
              <td data-label="Id"><code>${k.id}</code></td>
              <td data-label="Role">${k.role}</td>
              <td data-label="Created by">${k.created_by}</td>
              <td data-label="Created"><${Time} at=${k.created_at} /></td>
              <td data-label="">${revoking !== k.id && html`
                <button type="button" class="secondary danger-text" data-needs="admin"
                  onClick=${() => { setRevoking(k.id); setNotice(''); }}>Revoke…<span class="sr-only"> ${k.name}</span></button>`}</td>
            </tr>
            ${revoking === k.id && html`
              <tr key=${`${k.id}-confirm`} class="panel-row"><td colspan="6">
                <${ConfirmRow} needs="admin" busy=${busy} action="Revoke key"
                  text=${`Revoke the API key “${k.name}” (${k.id})? Programs using it are refused from now on.`}
                  onConfirm=${() => revoke(k)} onCancel=${() => setRevoking(null)} />
              </td></tr>`}`)}
          </tbody>
        </table>`}
    </div>`;
}
