// Form pieces the ladders and access pages share: the server's message shown next to the
// field it names, a destructive action confirmed in the page, a value to copy.
//
// The API answers one validation error at a time and names its field ("rungs[1].width",
// "risk_classes.high.ttl_seconds"). A form maps that field to one of the places it shows
// errors (its "slot": an input, a row, a table); the message goes into an element with id
// err-FIELD (non-alphanumerics as '-') beside that place, and the input gets aria-invalid and
// aria-describedby. A message about no field, or about a field the form does not show, goes
// to the Problem line at the top of the form.
import { useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';

// The id of the element that carries the message about a field.
export function errId(field) {
  return `err-${field.replace(/[^A-Za-z0-9]/g, '-')}`;
}

// An input's id from its form's prefix and the field path it edits.
export function inputId(prefix, field) {
  return `${prefix}-${field.replace(/[^A-Za-z0-9]/g, '-')}`;
}

// Splits a failed request into a field error ({field, slot, message}) for the form, or a
// problem line. slotOf(field) returns the slot that shows the field, or null.
export function splitError(e, slotOf) {
  const slot = e.field ? slotOf(e.field) : null;
  if (slot) return { err: { field: e.field, slot, message: e.message }, problem: '' };
  return { err: null, problem: e.message };
}

// The message beside a slot, when the error is about it.
export function FieldError({ err, slot }) {
  if (!err || err.slot !== slot) return null;
  return html`<p class="field-error" id=${errId(err.field)}>${err.message}</p>`;
}

// aria attributes of the input in a slot; also: ids of more elements that describe it.
export function invalid(err, slot, also) {
  const mine = !!(err && err.slot === slot);
  const ids = [mine ? errId(err.field) : null, also].filter(Boolean).join(' ');
  return { 'aria-invalid': mine ? 'true' : null, 'aria-describedby': ids || null };
}

// After a refused save, moves the focus to the field the server named (when the form shows
// it), so a keyboard user lands on what to fix.
export function useFocusInvalid(formRef, err) {
  useEffect(() => {
    if (!err || !formRef.current) return;
    const el = formRef.current.querySelector('[aria-invalid="true"]');
    // A group (a rung's fieldset) is not focusable: its first field is.
    const target = el && (el.matches('input, select, textarea') ? el : el.querySelector('input, select, textarea'));
    if (target) target.focus();
  }, [err]);
}

// A button for a destructive action (delete, retire, revoke): the first press asks in the
// page, beside the button, and only "yes" acts. Escape or Cancel leaves it. onConfirm() may
// return a promise; its errors are the caller's to show.
export function ConfirmButton({ label, question, yes, onConfirm, needs, id, disabled }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const yesRef = useRef(null);
  const askRef = useRef(null);
  const mounted = useRef(true);
  const wasAsking = useRef(false);
  useEffect(() => () => { mounted.current = false; }, []);
  useEffect(() => {
    if (asking && yesRef.current) yesRef.current.focus();
    if (!asking && wasAsking.current && askRef.current) askRef.current.focus();
    wasAsking.current = asking;
  }, [asking]);

  async function confirm() {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      if (mounted.current) {
        setBusy(false);
        setAsking(false);
      }
    }
  }

  if (!asking) {
    return html`<button type="button" class="danger" id=${id} data-needs=${needs} ref=${askRef}
      disabled=${disabled} onClick=${() => setAsking(true)}>${label}</button>`;
  }
  return html`
    <span class="confirm" role="group" aria-label=${question}
      onKeyDown=${(e) => { if (e.key === 'Escape') setAsking(false); }}>
      <span class="question">${question}</span>
      <button type="button" class="danger confirm-yes" data-needs=${needs} ref=${yesRef}
        disabled=${busy} onClick=${confirm}>${yes || label}</button>
      <button type="button" class="secondary confirm-no" onClick=${() => setAsking(false)}>Cancel</button>
    </span>`;
}

// A read-only value the operator copies (a secret shown once, a playback URL).
export function CopyField({ id, label, value }) {
  const [copied, setCopied] = useState('');
  const ref = useRef(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('Copied.');
    } catch (e) {
      // No clipboard API (plain HTTP away from localhost): select it for Ctrl+C.
      ref.current.focus();
      ref.current.select();
      setCopied('Selected: press Ctrl+C to copy.');
    }
  }

  return html`
    <div class="copy-field">
      <label for=${id}>${label}</label>
      <div class="copy-row">
        <input id=${id} ref=${ref} readonly value=${value} spellcheck="false"
          onFocus=${(e) => e.target.select()} />
        <button type="button" class="secondary" onClick=${copy}>Copy</button>
      </div>
      <span class="hint" aria-live="polite">${copied}</span>
    </div>`;
}

// A time as the operator's browser writes it, or a dash.
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// A lifetime in seconds as people say it: "5 min", "4 h", "1 d 12 h".
export function lifetime(s) {
  if (!Number.isFinite(s) || s <= 0) return '';
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
  const m = Math.floor(s % 3600 / 60), sec = s % 60;
  const parts = [];
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (m) parts.push(`${m} min`);
  if (sec) parts.push(`${sec} s`);
  return parts.slice(0, 2).join(' ');
}

// A form field's text as a JSON number, or undefined when empty (the API's default applies).
export function numberOf(text) {
  const t = String(text).trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}
