// Small pieces the system and events pages share: a form's server errors shown next to the
// field they name, an in-page confirmation row, times as people read them.
import { useEffect, useRef } from '../vendor/hooks.js';
import { html } from './html.js';

// The id of the element that holds the server's message about one field: "err-" and the
// field's path with every character that is not a letter or digit as "-"
// (rungs[2].video_bitrate_kbps -> err-rungs-2--video-bitrate-kbps).
export function errId(field) {
  return `err-${String(field).replace(/[^A-Za-z0-9]/g, '-')}`;
}

// Splits an ApiError for a form with these fields: {fields: {name: message}} when the server
// named one of them, else {problem: message} for the top of the form.
export function formErrors(e, fields) {
  if (e && e.field && fields.includes(e.field)) return { fields: { [e.field]: e.message }, problem: '' };
  return { fields: {}, problem: e ? e.message : '' };
}

export const NO_ERRORS = { fields: {}, problem: '' };

// The attributes an input gets: aria-describedby names its hint and its error (when there
// is one), aria-invalid says there is one.
export function described(field, errors, hintId) {
  const message = errors.fields[field];
  const ids = [hintId, message ? errId(field) : null].filter(Boolean).join(' ');
  return { 'aria-describedby': ids || null, 'aria-invalid': message ? 'true' : null };
}

// The server's message about one field, placed right after the field.
export function FieldError({ field, errors }) {
  const message = errors.fields[field];
  return message ? html`<p class="field-error" id=${errId(field)}>${message}</p>` : null;
}

// A one-line question with the destructive action and a way back; the action button gets
// the focus so Enter confirms and Escape (or Cancel) goes back.
export function ConfirmRow({ text, action, needs, busy, onConfirm, onCancel }) {
  const actionRef = useRef(null);
  useEffect(() => { actionRef.current && actionRef.current.focus(); }, []);
  const keys = (ev) => {
    if (ev.key === 'Escape') onCancel();
  };
  return html`
    <div class="confirm" role="group" aria-label=${text} onKeyDown=${keys}>
      <span>${text}</span>
      <button type="button" class="danger" data-needs=${needs} disabled=${busy}
        ref=${actionRef}
        onClick=${onConfirm}>${action}</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>`;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

// A time from the API (ISO 8601, UTC) in the browser's time zone: "2026-11-25 05:21:27".
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// A <time> element: local time shown, the API's UTC time on hover.
export function Time({ at }) {
  return at ? html`<time datetime=${at} title=${at}>${when(at)}</time>` : html`<span class="muted">never</span>`;
}
