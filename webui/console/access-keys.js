// The playback token keys on the access page (admin only: the API does not even list them to
// anyone else): the list with fingerprints and the signing mark; generate a key (its secret
// is shown here once, to copy into the CDN, and never again) or import one in hex; make a key
// the signing key (rotation); retire one, confirmed in the page.
import { useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { useLoad, Problem } from './common.js';
import {
  ConfirmButton, CopyField, FieldError, invalid, splitError, useFocusInvalid, when,
} from './ladder-fields.js';

const loadKeys = () => api('GET', '/api/v1/access/keys').then((d) => d.keys);
const keyPath = (id) => `/api/v1/access/keys/${encodeURIComponent(id)}`;
const KEY_FIELDS = ['id', 'secret_hex', 'signing'];

// The secret of a key the box just generated: shown once, gone with the page.
function SecretOnce({ secret, onDone }) {
  return html`
    <div class="secret-once" id="new-secret" role="status">
      <p><strong>Copy the secret of key "${secret.id}" now: it will not be shown again.</strong>${' '}
        Configure the CDN's token authentication with it; the box keeps it to sign and verify
        tokens but never shows it again, here or in the API.</p>
      <${CopyField} id="new-secret-hex" label=${`Secret of key "${secret.id}" (hex)`} value=${secret.hex} />
      <button type="button" class="secondary" id="new-secret-done" onClick=${onDone}>I have copied it</button>
    </div>`;
}

function KeyCreateForm({ onCreated }) {
  const [id, setId] = useState('');
  const [source, setSource] = useState('generate');
  const [hex, setHex] = useState('');
  const [signing, setSigning] = useState(false);
  const [err, setErr] = useState(null);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useFocusInvalid(formRef, err);

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setErr(null);
    setProblem('');
    const body = { id: id.trim(), signing };
    if (source === 'import') body.secret_hex = hex.trim();
    try {
      const key = await api('POST', '/api/v1/access/keys', body);
      setId('');
      setHex('');
      setSigning(false);
      onCreated(key);
    } catch (e) {
      const split = splitError(e, (field) => (KEY_FIELDS.includes(field) &&
        (field !== 'secret_hex' || source === 'import') ? field : null));
      setErr(split.err);
      setProblem(split.problem);
    }
    setBusy(false);
  }

  const clear = (slot) => setErr((e) => (e && e.slot === slot ? null : e));
  return html`
    <form id="key-create" ref=${formRef} noValidate onSubmit=${submit} data-needs="admin"
      aria-labelledby="key-create-title">
      <h4 id="key-create-title">Add a key</h4>
      <${Problem} text=${problem} />
      <div class="field-row">
        <div class="field">
          <label for="key-id">Key id</label>
          <input id="key-id" value=${id} maxlength="32" autocomplete="off" spellcheck="false"
            onInput=${(e) => { setId(e.target.value); clear('id'); }} ...${invalid(err, 'id', 'key-id-hint')} />
          <span class="hint" id="key-id-hint">a-z, 0-9, - and _, such as 2026-11 or cdn-a</span>
          <${FieldError} err=${err} slot="id" />
        </div>
        <fieldset>
          <legend>Secret</legend>
          <div class="check">
            <input type="radio" id="key-source-generate" name="key-source" value="generate"
              checked=${source === 'generate'} onChange=${() => setSource('generate')} />
            <label for="key-source-generate">Generate one (32 random bytes, shown once)</label>
          </div>
          <div class="check">
            <input type="radio" id="key-source-import" name="key-source" value="import"
              checked=${source === 'import'} onChange=${() => setSource('import')} />
            <label for="key-source-import">Import one the CDN already has</label>
          </div>
        </fieldset>
      </div>
      ${source === 'import' && html`
        <div class="field">
          <label for="key-secret-hex">Secret in hex (16 to 128 digits, as the CDN's token configuration shows it)</label>
          <input id="key-secret-hex" value=${hex} autocomplete="off" spellcheck="false"
            onInput=${(e) => { setHex(e.target.value); clear('secret_hex'); }} ...${invalid(err, 'secret_hex')} />
          <${FieldError} err=${err} slot="secret_hex" />
        </div>`}
      <div class="check">
        <input type="checkbox" id="key-signing" checked=${signing} onChange=${(e) => setSigning(e.target.checked)}
          ...${invalid(err, 'signing')} />
        <label for="key-signing">Sign new tokens with it from now on (the first key always does)</label>
      </div>
      <${FieldError} err=${err} slot="signing" />
      <div class="form-tools">
        <button type="submit" id="key-create-submit" data-needs="admin" disabled=${busy}>
          ${source === 'import' ? 'Import key' : 'Generate key'}</button>
      </div>
    </form>`;
}

function KeyRow({ k, onSign, onRetire }) {
  return html`
    <tr id=${`key-row-${k.id}`}>
      <td data-label="Key"><code>${k.id}</code></td>
      <td data-label="Fingerprint"><code>${k.fingerprint}</code></td>
      <td data-label="Use">${k.signing ? html`<span class="tag good">signing</span>` : 'verifies'}</td>
      <td data-label="Source">${k.source}</td>
      <td data-label="Created"><span>${when(k.created_at)} <span class="muted">by ${k.created_by}</span></span></td>
      <td class="actions">
        ${!k.signing && html`<button type="button" class="secondary" id=${`key-sign-${k.id}`} data-needs="admin"
          onClick=${() => onSign(k.id)}>Make signing key</button>`}
        <${ConfirmButton} id=${`key-retire-${k.id}`} label="Retire" needs="admin" yes="Yes, retire"
          question=${`Retire key "${k.id}"? Tokens signed with it are refused from the next request.`}
          onConfirm=${() => onRetire(k.id)} />
      </td>
    </tr>`;
}

function KeysAdmin() {
  const { data: keys, error, reload } = useLoad(loadKeys);
  const [secret, setSecret] = useState(null);
  const [problem, setProblem] = useState('');
  const [notice, setNotice] = useState('');

  const act = async (what, done) => {
    setProblem('');
    setNotice('');
    try {
      await what();
      setNotice(done);
    } catch (e) {
      setProblem(e.message);
    }
    reload();
  };
  const sign = (id) => act(() => api('PATCH', keyPath(id), { signing: true }),
    `Key "${id}" signs new tokens now; the others still verify the tokens they signed.`);
  const retire = (id) => act(() => api('DELETE', keyPath(id)), `Key "${id}" is retired.`);
  const created = (key) => {
    setProblem('');
    setNotice(`Key "${key.id}" added${key.signing ? '; it signs new tokens' : ''}.`);
    setSecret(key.secret_hex ? { id: key.id, hex: key.secret_hex } : null);
    reload();
  };

  return html`
    <${Problem} text=${error || problem} />
    ${notice && html`<p class="message info" role="status" id="keys-notice">${notice}</p>`}
    ${secret && html`<${SecretOnce} secret=${secret} onDone=${() => setSecret(null)} />`}
    ${keys && (keys.length ? html`
      <table class="stack" id="key-list">
        <thead><tr><th scope="col">Key</th><th scope="col">Fingerprint</th><th scope="col">Use</th>
          <th scope="col">Source</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${keys.map((k) => html`<${KeyRow} key=${k.id} k=${k} onSign=${sign} onRetire=${retire} />`)}</tbody>
      </table>` : html`<p class="hint" id="key-list-empty">No key yet: the box cannot issue playback tokens until it has one.</p>`)}
    <p class="hint">Rotation: add the new key and make it the signing key, let the tokens signed
      with the old one run out (the longest lifetime of the risk classes), then retire the old one.
      The fingerprint (the first 8 bytes of the secret's SHA-256) lets you check that a CDN holds
      the same key.</p>
    <${KeyCreateForm} onCreated=${created} />`;
}

// admin: whether the session may see the keys (GET /api/v1/access/keys needs admin).
export function KeysCard({ admin }) {
  return html`
    <div class="card" id="keys">
      <h3 id="keys-title">Token signing keys</h3>
      ${admin ? html`<${KeysAdmin} />`
        : html`<p class="hint" id="keys-admin-only">The signing keys are shown to admins only.</p>`}
    </div>`;
}
