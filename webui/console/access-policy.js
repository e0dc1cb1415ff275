// The entitlement policy on the access page: the risk classes and their token lifetimes, the
// default class, how the token travels, the session limit, the networks allowed to play.
// An admin edits it (PUT /api/v1/access/policy, the whole policy at once); everyone else
// reads it.
import { useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { Problem, can } from './common.js';
import {
  FieldError, errId, inputId, invalid, lifetime, numberOf, splitError, useFocusInvalid,
} from './ladder-fields.js';

const CLASSES_MAX = 8; // OB_RISK_CLASSES_MAX
const TRANSPORTS = {
  query: 'In the URL (query)',
  cookie: 'As a cookie (cookie)',
};
const TRANSPORT_HINT = 'In the URL: the origin writes it into the URIs of the playlists and the MPD it ' +
  'serves. As a cookie: scoped to the channel\'s path.';
const PLAIN_FIELDS = ['default_risk_class', 'allowed_networks', 'max_sessions_per_viewer',
  'session_idle_seconds', 'clock_skew_seconds', 'check_address', 'token_transport'];
const SETTINGS = [
  { field: 'max_sessions_per_viewer', label: 'Sessions per viewer at once', min: 0, max: 16,
    hint: '0: no limit; more token ids than this from one viewer are refused' },
  { field: 'session_idle_seconds', label: 'A session ends after (s) without a request', min: 10, max: 3600 },
  { field: 'clock_skew_seconds', label: 'Clock skew allowed (s)', min: 0, max: 3600,
    hint: 'on a token\'s start and expiry' },
];

let classKeys = 0;

function policyForm(p) {
  return {
    classes: Object.entries(p.risk_classes).map(([name, c]) => ({
      key: ++classKeys, name, ttl: String(c.ttl_seconds), max: String(c.max_ttl_seconds),
    })),
    default_risk_class: p.default_risk_class,
    token_transport: p.token_transport,
    max_sessions_per_viewer: String(p.max_sessions_per_viewer),
    session_idle_seconds: String(p.session_idle_seconds),
    clock_skew_seconds: String(p.clock_skew_seconds),
    check_address: p.check_address,
    allowed_networks: p.allowed_networks.join('\n'),
  };
}

function policyBody(f) {
  const classes = {};
  for (const c of f.classes) {
    classes[c.name.trim()] = { ttl_seconds: numberOf(c.ttl), max_ttl_seconds: numberOf(c.max) };
  }
  return {
    risk_classes: classes,
    default_risk_class: f.default_risk_class,
    allowed_networks: f.allowed_networks.split(/[\s,]+/).filter(Boolean),
    max_sessions_per_viewer: numberOf(f.max_sessions_per_viewer),
    session_idle_seconds: numberOf(f.session_idle_seconds),
    clock_skew_seconds: numberOf(f.clock_skew_seconds),
    check_address: f.check_address,
    token_transport: f.token_transport,
  };
}

// Where the form shows a message about a field: a class's row or one of its lifetimes (by
// the row, which keeps its place while the operator renames it), or a plain field.
function policySlot(field, form) {
  if (PLAIN_FIELDS.includes(field) || field === 'risk_classes') return field;
  if (/^allowed_networks\[\d+\]$/.test(field)) return 'allowed_networks';
  const m = /^risk_classes\.([^.]+)(?:\.(ttl_seconds|max_ttl_seconds))?$/.exec(field);
  const row = m && form.classes.find((c) => c.name.trim() === m[1]);
  if (!row) return m ? 'risk_classes' : null;
  if (!m[2]) return `class-${row.key}`;
  return `class-${row.key}-${m[2] === 'ttl_seconds' ? 'ttl' : 'max'}`;
}

function ClassRow({ row, index, count, err, setClass, remove }) {
  const id = (part) => `policy-class-${row.key}-${part}`;
  const who = row.name.trim() || `class ${index + 1}`;
  const seconds = (text) => lifetime(Number(text));
  return html`
    <tr id=${`policy-class-${index}`}>
      <td data-label="Class">
        <label class="sr-only" for=${id('name')}>Name of ${who}</label>
        <input id=${id('name')} value=${row.name} maxlength="32" autocomplete="off" spellcheck="false"
          onInput=${(e) => setClass(row.key, 'name', e.target.value)} ...${invalid(err, `class-${row.key}`)} />
        <${FieldError} err=${err} slot=${`class-${row.key}`} />
      </td>
      <td data-label="Default lifetime (s)">
        <label class="sr-only" for=${id('ttl')}>Default token lifetime of ${who} (seconds)</label>
        <input id=${id('ttl')} type="number" inputmode="numeric" min="30" max="604800" value=${row.ttl}
          onInput=${(e) => setClass(row.key, 'ttl', e.target.value)}
          ...${invalid(err, `class-${row.key}-ttl`)} />
        <span class="ttl-hint">${seconds(row.ttl)}</span>
        <${FieldError} err=${err} slot=${`class-${row.key}-ttl`} />
      </td>
      <td data-label="Longest lifetime (s)">
        <label class="sr-only" for=${id('max')}>Longest token lifetime of ${who} (seconds)</label>
        <input id=${id('max')} type="number" inputmode="numeric" min="30" max="604800" value=${row.max}
          onInput=${(e) => setClass(row.key, 'max', e.target.value)}
          ...${invalid(err, `class-${row.key}-max`)} />
        <span class="ttl-hint">${seconds(row.max)}</span>
        <${FieldError} err=${err} slot=${`class-${row.key}-max`} />
      </td>
      <td class="actions">
        <button type="button" class="secondary" data-needs="admin" disabled=${count === 1}
          aria-label=${`Remove risk class ${who}`} onClick=${() => remove(row.key)}>Remove</button>
      </td>
    </tr>`;
}

function PolicyForm({ policy, onSaved }) {
  const [form, setForm] = useState(() => policyForm(policy));
  const [err, setErr] = useState(null);
  const [problem, setProblem] = useState('');
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useFocusInvalid(formRef, err);

  const touched = (slot) => {
    setSaved('');
    setErr((e) => (e && e.slot === slot ? null : e));
  };
  const set = (field, value) => {
    setForm((f) => ({ ...f, [field]: value }));
    touched(field);
  };
  const setClass = (key, part, value) => {
    setForm((f) => ({ ...f, classes: f.classes.map((c) => (c.key === key ? { ...c, [part]: value } : c)) }));
    touched(part === 'name' ? `class-${key}` : `class-${key}-${part}`);
  };
  const addClass = () => {
    setForm((f) => ({ ...f, classes: [...f.classes, { key: ++classKeys, name: '', ttl: '3600', max: '3600' }] }));
    touched('risk_classes');
  };
  const removeClass = (key) => {
    setForm((f) => ({ ...f, classes: f.classes.filter((c) => c.key !== key) }));
    setErr(null);
  };

  async function submit(ev) {
    ev.preventDefault();
    setProblem('');
    setSaved('');
    setErr(null);
    const names = form.classes.map((c) => c.name.trim());
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) {
      setErr({ field: 'risk_classes', slot: 'risk_classes',
        message: `risk_classes: two classes are named "${twice}"; give each its own name` });
      return;
    }
    setBusy(true);
    try {
      const answer = await api('PUT', '/api/v1/access/policy', policyBody(form));
      setForm(policyForm(answer));
      setSaved('The policy is saved and in force from the next playback request.');
      onSaved(answer);
    } catch (e) {
      const split = splitError(e, (field) => policySlot(field, form));
      setErr(split.err);
      setProblem(split.problem);
    }
    setBusy(false);
  }

  const names = form.classes.map((c) => c.name.trim()).filter(Boolean);
  return html`
    <form id="policy-form" ref=${formRef} noValidate onSubmit=${submit} data-needs="admin"
      aria-labelledby="policy-title">
      <${Problem} text=${problem} />
      <h4 id="policy-classes-title">Risk classes and token lifetimes</h4>
      <p class="hint">A token lives for its class's default lifetime unless the issuer asks for
        another, never longer than the class's longest. Seconds, 30 to 604800 (7 days).</p>
      <${FieldError} err=${err} slot="risk_classes" />
      <table class="stack class-table" aria-labelledby="policy-classes-title"
        aria-describedby=${err && err.slot === 'risk_classes' ? errId(err.field) : null}>
        <thead><tr><th scope="col">Class</th><th scope="col">Default lifetime (s)</th>
          <th scope="col">Longest lifetime (s)</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>${form.classes.map((c, i) => html`
          <${ClassRow} key=${c.key} row=${c} index=${i} count=${form.classes.length} err=${err}
            setClass=${setClass} remove=${removeClass} />`)}</tbody>
      </table>
      <div>
        <button type="button" class="secondary" id="policy-class-add" data-needs="admin"
          disabled=${form.classes.length >= CLASSES_MAX} onClick=${addClass}>Add a risk class</button>
      </div>

      <h4>Playback</h4>
      <div class="field-row">
        <div class="field">
          <label for="policy-default-risk-class">Default class (for content that names none)</label>
          <select id="policy-default-risk-class" value=${form.default_risk_class}
            onChange=${(e) => set('default_risk_class', e.target.value)} ...${invalid(err, 'default_risk_class')}>
            ${!names.includes(form.default_risk_class) && html`<option value=${form.default_risk_class}>${form.default_risk_class || '(none)'}</option>`}
            ${names.map((n) => html`<option key=${n} value=${n}>${n}</option>`)}
          </select>
          <${FieldError} err=${err} slot="default_risk_class" />
        </div>
        <div class="field">
          <label for="policy-token-transport">How the token travels to playlists and segments</label>
          <select id="policy-token-transport" value=${form.token_transport}
            onChange=${(e) => set('token_transport', e.target.value)}
            ...${invalid(err, 'token_transport', 'policy-token-transport-hint')}>
            ${Object.entries(TRANSPORTS).map(([v, text]) => html`<option key=${v} value=${v}>${text}</option>`)}
          </select>
          <span class="hint" id="policy-token-transport-hint">${TRANSPORT_HINT}</span>
          <${FieldError} err=${err} slot="token_transport" />
        </div>
        ${SETTINGS.map((s) => html`
          <div class="field" key=${s.field}>
            <label for=${inputId('policy', s.field)}>${s.label}</label>
            <input id=${inputId('policy', s.field)} type="number" inputmode="numeric" min=${s.min} max=${s.max}
              value=${form[s.field]} onInput=${(e) => set(s.field, e.target.value)}
              ...${invalid(err, s.field, s.hint ? `${inputId('policy', s.field)}-hint` : null)} />
            ${s.hint && html`<span class="hint" id=${`${inputId('policy', s.field)}-hint`}>${s.hint}</span>`}
            <${FieldError} err=${err} slot=${s.field} />
          </div>`)}
      </div>
      <div class="check">
        <input type="checkbox" id="policy-check-address" checked=${form.check_address}
          onChange=${(e) => set('check_address', e.target.checked)} ...${invalid(err, 'check_address')} />
        <label for="policy-check-address">Check a token's <code>ip</code> field against the client's
          address (turn off behind a CDN or proxy that checks it)</label>
      </div>
      <${FieldError} err=${err} slot="check_address" />
      <div class="field">
        <label for="policy-allowed-networks">Networks that may play premium content (one range per
          line, such as 10.0.0.0/8; empty: every address)</label>
        <textarea id="policy-allowed-networks" rows="3" spellcheck="false" value=${form.allowed_networks}
          onInput=${(e) => set('allowed_networks', e.target.value)} ...${invalid(err, 'allowed_networks')} />
        <${FieldError} err=${err} slot="allowed_networks" />
      </div>
      <div class="form-tools">
        <button type="submit" id="policy-save" data-needs="admin" disabled=${busy}>${busy ? 'Saving…' : 'Save policy'}</button>
        ${saved && html`<span class="hint" role="status" id="policy-saved">${saved}</span>`}
      </div>
    </form>`;
}

function PolicyView({ policy: p }) {
  return html`
    <table class="stack class-table" id="policy-classes">
      <thead><tr><th scope="col">Risk class</th><th scope="col">Default lifetime</th><th scope="col">Longest lifetime</th></tr></thead>
      <tbody>${Object.entries(p.risk_classes).map(([name, c]) => html`
        <tr key=${name}>
          <td data-label="Risk class">${name}${name === p.default_risk_class ? html` <span class="tag">default</span>` : null}</td>
          <td data-label="Default lifetime">${lifetime(c.ttl_seconds)} (${c.ttl_seconds} s)</td>
          <td data-label="Longest lifetime">${lifetime(c.max_ttl_seconds)} (${c.max_ttl_seconds} s)</td>
        </tr>`)}</tbody>
    </table>
    <dl>
      <dt>Token travels</dt><dd>${TRANSPORTS[p.token_transport] || p.token_transport}</dd>
      <dt>Sessions per viewer</dt><dd>${p.max_sessions_per_viewer || 'no limit'}</dd>
      <dt>Session idle end</dt><dd>${p.session_idle_seconds} s</dd>
      <dt>Clock skew allowed</dt><dd>${p.clock_skew_seconds} s</dd>
      <dt>Client address checked</dt><dd>${p.check_address ? 'yes' : 'no'}</dd>
      <dt>Networks allowed</dt><dd>${p.allowed_networks.length ? p.allowed_networks.join(', ') : 'every address'}</dd>
    </dl>
    <p class="hint">Only an admin changes the policy.</p>`;
}

// policy: GET /api/v1/access/policy's answer; onSaved(policy): the policy now in force.
export function PolicyCard({ session, policy, onSaved }) {
  return html`
    <div class="card" id="policy">
      <h3 id="policy-title">Token lifetimes and playback policy</h3>
      ${can(session, 'admin')
        ? html`<${PolicyForm} policy=${policy} onSaved=${onSaved} />`
        : html`<${PolicyView} policy=${policy} />`}
    </div>`;
}
