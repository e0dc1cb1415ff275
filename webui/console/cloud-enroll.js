// The cloud page's enrollment (fleet): enroll the box with a control plane (its URL, the CA
// of its TLS certificate when the system does not trust it, the bundle signing public keys
// the box pins, the one-time enrollment token), or pin the keys only (air-gapped: bundles
// come by upload), and leave the control plane after a confirmation. POST
// /api/v1/cloud/enroll answers 201 (enrolled, or air-gapped), 202 (stored: the control plane
// was not reached, the box keeps trying) or the reason it refused, which shows next to the
// field it names.
import { useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { Problem } from './common.js';
import { NO_ERRORS, ConfirmRow, described, FieldError } from './system-ui.js';
import { listFormErrors } from './cloud-ui.js';
import { useCloudStatus, SyncState } from './cloud-status.js';

const FIELDS = ['url', 'ca_pem', 'bundle_keys', 'enrollment_token'];
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

// The PEM blocks pasted in one text, as the list the API takes; text with no block goes
// whole (the box then says what it must be), and an empty text as no key.
export function pemBlocks(text) {
  const blocks = text.match(PEM_BLOCK);
  if (blocks) return blocks.map((b) => `${b}\n`);
  return text.trim() ? [text.trim()] : [];
}

// The box's refusal of an enrollment, placed next to the field it names (the control
// plane's refusal of the token, HTTP 401/409, names enrollment_token).
function enrollErrors(e) {
  const errors = listFormErrors(e, FIELDS);
  // bundle_keys[1] is the second key in the box: say which, the message names its index.
  const index = e && e.field && /^bundle_keys\[(\d+)\]/.exec(e.field);
  if (index && errors.fields.bundle_keys) {
    errors.fields.bundle_keys = `${e.message} (key ${Number(index[1]) + 1} in the box)`;
  }
  return errors;
}

function EnrollForm({ status, onDone }) {
  const [mode, setMode] = useState('cloud');
  const [url, setUrl] = useState('');
  const [ca, setCa] = useState('');
  const [keys, setKeys] = useState('');
  const [token, setToken] = useState('');
  const [errors, setErrors] = useState(NO_ERRORS);
  const [result, setResult] = useState(null); // {tone, text}
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  const cloud = mode === 'cloud';

  // The focus goes to the field the box refused, or to the answer.
  useEffect(() => {
    const form = formRef.current;
    if (!form) return;
    const bad = form.querySelector('[aria-invalid="true"]');
    if (bad) bad.focus();
  }, [errors]);

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    setResult(null);
    const body = { bundle_keys: pemBlocks(keys) };
    if (cloud) {
      body.url = url.trim();
      body.enrollment_token = token.trim();
      if (ca.trim()) body.ca_pem = ca.trim();
    }
    try {
      const r = await api('POST', '/api/v1/cloud/enroll', body);
      setToken('');
      if (r && r.state === 'enrolling') {
        setResult({ tone: 'warn', text: `Stored: ${r.message}. The status shows when it gets through.` });
      } else {
        setResult({ tone: 'good', text: r && r.state === 'airgapped'
          ? `Air-gapped: the box pins ${r.pinned_keys} key${r.pinned_keys === 1 ? '' : 's'}; upload bundles on “Upload a bundle”.`
          : `Enrolled: ${r.message}.` });
      }
    } catch (e) {
      setErrors(enrollErrors(e));
    }
    setBusy(false);
    onDone();
  }

  const enrolled = status && status.state !== 'not_enrolled';
  return html`
    <form id="cloud-enroll" class="card" ref=${formRef} onSubmit=${submit} novalidate aria-labelledby="cloud-enroll-title">
      <h3 id="cloud-enroll-title">${enrolled ? 'Enroll again' : 'Enroll'}</h3>
      ${enrolled && html`<p class="hint">A new enrollment replaces the current one; what the box applied stays.</p>`}
      <${Problem} text=${errors.problem} />
      <fieldset>
        <legend>Where the box takes its policy from</legend>
        <div class="check">
          <input type="radio" id="cloud-mode-cloud" name="cloud-mode" value="cloud" checked=${cloud}
            onChange=${() => setMode('cloud')} />
          <label for="cloud-mode-cloud">A control plane it polls</label>
        </div>
        <div class="check">
          <input type="radio" id="cloud-mode-airgapped" name="cloud-mode" value="airgapped" checked=${!cloud}
            onChange=${() => setMode('airgapped')} />
          <label for="cloud-mode-airgapped">Air-gapped: signed bundles uploaded by hand, no control plane</label>
        </div>
      </fieldset>
      ${cloud && html`
        <div class="field">
          <label for="cloud-url">Control-plane URL</label>
          <input id="cloud-url" name="url" value=${url} autocomplete="off" spellcheck="false" inputmode="url"
            placeholder="https://cp.example.net/ottbox" onInput=${(e) => setUrl(e.target.value)}
            ...${described('url', errors, 'cloud-url-hint')} />
          <span class="hint" id="cloud-url-hint">Its base URL, http:// or https://, without a query.</span>
          <${FieldError} field="url" errors=${errors} />
        </div>
        <div class="field">
          <label for="cloud-ca">CA certificate (PEM, optional)</label>
          <textarea id="cloud-ca" name="ca_pem" rows="4" spellcheck="false" value=${ca}
            placeholder="-----BEGIN CERTIFICATE-----" onInput=${(e) => setCa(e.target.value)}
            ...${described('ca_pem', errors, 'cloud-ca-hint')}></textarea>
          <span class="hint" id="cloud-ca-hint">The CA that signs the control plane's TLS certificate, when it is
            not one the system trusts.</span>
          <${FieldError} field="ca_pem" errors=${errors} />
        </div>`}
      <div class="field">
        <label for="cloud-keys">Bundle signing public key(s) (PEM)</label>
        <textarea id="cloud-keys" name="bundle_keys" rows="6" spellcheck="false" value=${keys}
          placeholder="-----BEGIN PUBLIC KEY-----" onInput=${(e) => setKeys(e.target.value)}
          ...${described('bundle_keys', errors, 'cloud-keys-hint')}></textarea>
        <span class="hint" id="cloud-keys-hint">Paste one or more PEM blocks, one after the other: the box pins
          them and takes only bundles one of them signed.</span>
        <${FieldError} field="bundle_keys" errors=${errors} />
      </div>
      ${cloud && html`
        <div class="field">
          <label for="cloud-token">Enrollment token</label>
          <input id="cloud-token" name="enrollment_token" value=${token} autocomplete="off" spellcheck="false"
            onInput=${(e) => setToken(e.target.value)} ...${described('enrollment_token', errors, 'cloud-token-hint')} />
          <span class="hint" id="cloud-token-hint">The one-time token the control plane issued for this box.</span>
          <${FieldError} field="enrollment_token" errors=${errors} />
        </div>`}
      <div class="actions">
        <button type="submit" id="cloud-enroll-submit" data-needs="fleet" disabled=${busy}>
          ${busy ? 'Enrolling…' : cloud ? 'Enroll' : 'Pin the keys (air-gapped)'}</button>
      </div>
      ${result && html`<p class=${`message ${result.tone}`} role="status" id="cloud-enroll-result">${result.text}</p>`}
    </form>`;
}

function Leave({ status, onDone }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const [notice, setNotice] = useState('');

  async function leave() {
    setBusy(true);
    setProblem('');
    try {
      await api('DELETE', '/api/v1/cloud/enrollment');
      setNotice('The box left its control plane: it polls no more; what it applied stays.');
      setAsking(false);
    } catch (e) {
      setProblem(e.message);
    }
    setBusy(false);
    onDone();
  }

  const enrolled = status && status.state !== 'not_enrolled';
  return html`
    <div class="card" id="cloud-enrollment">
      <h3>Enrollment</h3>
      ${status && html`
        <dl>
          <dt>State</dt><dd><${SyncState} state=${status.state} /></dd>
          <dt>Control plane</dt><dd>${status.url ? html`<code>${status.url}</code>` : html`<span class="muted">none</span>`}</dd>
          <dt>Device id</dt><dd><code>${status.device_id}</code></dd>
        </dl>`}
      <${Problem} text=${problem} />
      ${notice && !enrolled && html`<p class="message info" role="status" id="cloud-leave-result">${notice}</p>`}
      ${enrolled && !asking && html`
        <div class="actions">
          <button type="button" class="secondary danger-text" id="cloud-leave" data-needs="fleet"
            onClick=${() => { setAsking(true); setNotice(''); }}>Leave the control plane…</button>
        </div>`}
      ${enrolled && asking && html`
        <${ConfirmRow} needs="fleet" busy=${busy} action="Leave the control plane"
          text=${status.url ? `Leave ${status.url}? The box stops polling and reporting; what it applied stays.`
            : 'Unpin the bundle signing keys? Uploads are refused until the box is enrolled again; what it applied stays.'}
          onConfirm=${leave} onCancel=${() => setAsking(false)} />`}
    </div>`;
}

export function EnrollView() {
  const { data: status, error, reload } = useCloudStatus();
  return html`
    <${Problem} text=${error} />
    <${Leave} status=${status} onDone=${reload} />
    <${EnrollForm} status=${status} onDone=${reload} />`;
}
