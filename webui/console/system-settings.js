// The box's settings, as the declared settings table describes them (GET
// /api/v1/settings/schema: type, bounds or choices, unit, default, description). An admin
// edits them in one form (PATCH /api/v1/settings sends only what changed; the server checks
// every value and its message shows next to the field it names); other roles read them.
import { useCallback, useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { useLoad, Refresh, Problem, can } from './common.js';
import { NO_ERRORS, described, formErrors, FieldError } from './system-ui.js';

const loadSettings = () => Promise.all([api('GET', '/api/v1/settings/schema'), api('GET', '/api/v1/settings')])
  .then(([schema, values]) => ({ schema: schema.settings, values }));

const UNITS = { s: 'seconds', days: 'days' };

// Seconds as the largest whole unit that fits: 1800 -> "30 min", 43200 -> "12 h".
function spelled(seconds) {
  for (const [size, unit] of [[86400, 'd'], [3600, 'h'], [60, 'min']]) {
    if (seconds >= size && seconds % size === 0) return ` (${seconds / size} ${unit})`;
  }
  return seconds > 60 ? ` (${Math.floor(seconds / 60)} min ${seconds % 60} s)` : '';
}

function inputId(name) {
  return `setting-${name}`;
}

function hintId(name) {
  return `hint-${name}`;
}

// What the declaration allows, in words: "60 to 86400 seconds; default 1800 (30 min 0 s)".
function bounds(decl) {
  const parts = [];
  const unit = decl.unit ? ` ${UNITS[decl.unit] || decl.unit}` : '';
  if (decl.type === 'integer' && decl.min !== undefined) parts.push(`${decl.min} to ${decl.max}${unit}`);
  if (decl.type === 'string' && decl.min_length !== undefined) {
    parts.push(`${decl.min_length} to ${decl.max_length} characters`);
  }
  if (decl.type === 'enum') parts.push(`one of ${decl.choices.join(', ')}`);
  if (decl.default !== undefined && decl.default !== null) {
    parts.push(`default ${decl.default}${decl.unit === 's' ? spelled(decl.default) : ''}`);
  }
  const text = parts.join('; ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function shown(decl, value) {
  if (value === undefined || value === null) return '—';
  if (decl.type === 'boolean') return value ? 'yes' : 'no';
  const unit = decl.unit ? ` ${decl.unit}` : '';
  return `${value}${unit}${decl.unit === 's' ? spelled(value) : ''}`;
}

// The form's text for a value, and back: an integer field sends a JSON integer when it reads
// as one, anything else as typed (the server then says what it must be).
function toText(decl, value) {
  if (decl.type === 'boolean') return !!value;
  return value === undefined || value === null ? '' : String(value);
}

function fromText(decl, text) {
  if (decl.type === 'integer' && /^\s*-?\d+\s*$/.test(text)) return Number(text);
  return text;
}

function SettingInput({ decl, value, errors, onChange }) {
  const id = inputId(decl.name);
  const aria = described(decl.name, errors, hintId(decl.name));
  if (decl.type === 'boolean') {
    return html`<input type="checkbox" id=${id} name=${decl.name} checked=${value} ...${aria}
      onChange=${(ev) => onChange(decl.name, ev.target.checked)} />`;
  }
  if (decl.type === 'enum') {
    return html`
      <select id=${id} name=${decl.name} value=${value} ...${aria}
        onChange=${(ev) => onChange(decl.name, ev.target.value)}>
        ${decl.choices.map((c) => html`<option key=${c} value=${c}>${c}</option>`)}
      </select>`;
  }
  if (decl.type === 'integer') {
    return html`
      <span class="with-unit">
        <input type="number" id=${id} name=${decl.name} value=${value} inputmode="numeric" step="1"
          min=${decl.min} max=${decl.max} ...${aria} onInput=${(ev) => onChange(decl.name, ev.target.value)} />
        ${decl.unit ? html`<span class="unit">${decl.unit}</span>` : null}
      </span>`;
  }
  return html`<input type="text" id=${id} name=${decl.name} value=${value} maxlength=${decl.max_length}
    ...${aria} onInput=${(ev) => onChange(decl.name, ev.target.value)} />`;
}

function SettingsForm({ schema, values, onSaved }) {
  const initial = useCallback(() => Object.fromEntries(schema.map((d) => [d.name, toText(d, values[d.name])])),
    [schema, values]);
  const [form, setForm] = useState(initial);
  const [errors, setErrors] = useState(NO_ERRORS);
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  // The form follows the box's values when they change (a save, a refresh), but not at its
  // first render: that effect runs after the first paint, and would throw away what the
  // operator typed in between.
  const mounted = useRef(false);
  useEffect(() => {
    if (mounted.current) setForm(initial());
    mounted.current = true;
  }, [initial]);

  const change = (name, value) => {
    setForm((f) => ({ ...f, [name]: value }));
    setSaved('');
  };

  async function submit(ev) {
    ev.preventDefault();
    const was = initial();
    const patch = {};
    for (const decl of schema) {
      if (form[decl.name] !== was[decl.name]) patch[decl.name] = fromText(decl, form[decl.name]);
    }
    if (!Object.keys(patch).length) {
      setErrors(NO_ERRORS);
      setSaved('Nothing to save: no setting was changed.');
      return;
    }
    setBusy(true);
    setErrors(NO_ERRORS);
    setSaved('');
    try {
      const after = await api('PATCH', '/api/v1/settings', patch);
      setSaved(`Saved: ${Object.keys(patch).join(', ')}.`);
      onSaved(after);
    } catch (e) {
      setErrors(formErrors(e, schema.map((d) => d.name)));
    } finally {
      setBusy(false);
    }
  }

  return html`
    <form id="settings-form" class="settings" onSubmit=${submit} novalidate aria-labelledby="settings-title">
      <${Problem} text=${errors.problem} />
      ${schema.map((decl) => html`
        <div class="setting" key=${decl.name}>
          <label for=${inputId(decl.name)}><code>${decl.name}</code></label>
          <${SettingInput} decl=${decl} value=${form[decl.name]} errors=${errors} onChange=${change} />
          <p class="hint" id=${hintId(decl.name)}>${decl.description}. ${bounds(decl)}.</p>
          <${FieldError} field=${decl.name} errors=${errors} />
        </div>`)}
      <div class="actions">
        <button type="submit" data-needs="admin" disabled=${busy}>${busy ? 'Saving…' : 'Save settings'}</button>
        ${saved && html`<p class="message info" role="status">${saved}</p>`}
      </div>
    </form>`;
}

function SettingsList({ schema, values }) {
  return html`
    <dl id="settings-values" class="settings-values">
      ${schema.map((decl) => html`
        <dt key=${decl.name}><code>${decl.name}</code></dt>
        <dd key=${`${decl.name}-v`}>${shown(decl, values[decl.name])}
          <span class="hint"> — ${decl.description}</span></dd>`)}
    </dl>
    <p class="hint">Only an admin can change settings.</p>`;
}

export function SettingsView({ session }) {
  const { data, error, loading, reload } = useLoad(loadSettings);
  const [values, setValues] = useState(null);
  useEffect(() => setValues(data ? data.values : null), [data]);
  return html`
    <div class="card">
      <div class="bar"><h3 id="settings-title">Settings</h3><${Refresh} onClick=${reload} loading=${loading} /></div>
      <${Problem} text=${error} />
      ${data && values && (can(session, 'admin')
        ? html`<${SettingsForm} schema=${data.schema} values=${values} onSaved=${setValues} />`
        : html`<${SettingsList} schema=${data.schema} values=${values} />`)}
    </div>`;
}
