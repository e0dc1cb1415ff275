// The cloud page's bundle upload (fleet; air-gapped sites): a signed desired-state bundle
// (compact JWS) pasted or read from a .jws file, sent as it is (POST /api/v1/cloud/bundles,
// Content-Type application/jose). The box verifies and applies it exactly as a polled one
// and answers what became of it: applied, already applied, refused (with the protocol's
// reason code) or rolled back (with why).
import { useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { Problem } from './common.js';
import { useCloudStatus, SyncState } from './cloud-status.js';

const MAX_FILE_BYTES = 1024 * 1024;

// What became of an upload, from the answer or the refusal: {outcome, tone, title, text}.
function outcomeOf(answer, e) {
  if (answer) {
    const applied = answer.status === 'applied';
    return { outcome: answer.status, tone: applied ? 'good' : 'info',
      title: applied ? `Applied: generation ${answer.generation}` : `Already applied: generation ${answer.generation}`,
      text: answer.message };
  }
  if (e.status === 422) {
    return { outcome: 'refused', code: e.code, tone: 'bad', title: `Refused: ${e.code}`,
      text: `${e.message}. Nothing changed.` };
  }
  if (e.code === 'rolled_back') {
    return { outcome: 'rolled_back', code: e.code, tone: 'bad', title: 'Rolled back',
      text: `${e.message}. The box is back on its last-known-good state.` };
  }
  return null;
}

export function UploadView() {
  const { data: status, reload } = useCloudStatus();
  const [text, setText] = useState('');
  const [fileNote, setFileNote] = useState('');
  const [result, setResult] = useState(null);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);
  const resultRef = useRef(null);

  function pick(ev) {
    const file = ev.target.files && ev.target.files[0];
    setResult(null);
    setProblem('');
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) {
      setFileNote('');
      setProblem(`${file.name} is ${file.size} bytes: a bundle is a compact JWS of at most 1 MiB.`);
      return;
    }
    file.text().then((t) => {
      setText(t.trim());
      setFileNote(`Read ${file.name} (${file.size} bytes): check it below, then upload it.`);
    }, (e) => setProblem(`${file.name} could not be read: ${e.message}`));
  }

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setResult(null);
    setProblem('');
    let outcome = null;
    try {
      outcome = outcomeOf(await api('POST', '/api/v1/cloud/bundles', text.trim(), { type: 'application/jose' }), null);
    } catch (e) {
      outcome = outcomeOf(null, e);
      if (!outcome) setProblem(e.message);
    }
    setResult(outcome);
    setBusy(false);
    reload();
    if (outcome) setTimeout(() => resultRef.current && resultRef.current.focus(), 0);
  }

  return html`
    <form id="cloud-upload" class="card" onSubmit=${submit} novalidate aria-labelledby="cloud-upload-title">
      <h3 id="cloud-upload-title">Upload a bundle</h3>
      <p class="hint">For a site that never reaches a control plane: a desired-state bundle signed by the
        control plane's key (<code>cp.py sign-bundle</code>), checked against the keys this box pins and applied
        as a polled one would be.${status ? html` Now: <${SyncState} state=${status.state} />, generation${' '}<strong
        id="upload-generation">${status.applied_generation || 'none'}</strong> applied.` : null}</p>
      ${status && status.state === 'not_enrolled' && html`<p class="message warn">The box pins no signing key yet:
        it refuses every bundle. Pin the keys on <a href="#/cloud/enrollment">Enrollment</a> (air-gapped) first.</p>`}
      <div class="field">
        <label for="bundle-file">Read a .jws file</label>
        <input type="file" id="bundle-file" accept=".jws,application/jose,text/plain" onChange=${pick}
          aria-describedby="bundle-file-note" />
        <span class="hint" id="bundle-file-note" aria-live="polite">${fileNote}</span>
      </div>
      <div class="field">
        <label for="bundle-text">Signed bundle (compact JWS)</label>
        <textarea id="bundle-text" rows="6" spellcheck="false" value=${text} placeholder="eyJhbGciOiJFUzI1NiIs…"
          onInput=${(e) => { setText(e.target.value); setFileNote(''); }} aria-describedby="bundle-text-hint"></textarea>
        <span class="hint" id="bundle-text-hint">Three base64url parts joined by dots; whitespace around it is fine.</span>
      </div>
      <${Problem} text=${problem} />
      <div class="actions">
        <button type="submit" id="bundle-upload" data-needs="fleet" disabled=${busy}>${busy ? 'Uploading…' : 'Upload bundle'}</button>
      </div>
      ${result && html`
        <div class=${`message ${result.tone}`} id="upload-result" role=${result.tone === 'bad' ? 'alert' : 'status'}
          tabindex="-1" ref=${resultRef} data-outcome=${result.outcome} data-code=${result.code || null}>
          <strong>${result.title}</strong>
          <p>${result.text}</p>
        </div>`}
    </form>`;
}
