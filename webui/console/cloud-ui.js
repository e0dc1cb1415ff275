// Pieces the cloud page's views share: a document re-read every few seconds while it is
// shown, times in milliseconds and relative to now, a server error placed next to the field
// it names (a list entry, bundle_keys[1], next to the list's one control).
import { useCallback, useEffect, useRef, useState } from '../vendor/hooks.js';
import { subscribe } from './live.js';

// Loads with load() now, then again intervalMs after each answer, one request at a time and
// only while the tab is visible (a hidden tab waits, and reads at once when shown again).
// With eventPrefix, an event of the live feed whose kind starts with it ("cloud.") reads at
// once too. reload() reads now (or right after the request in flight). A lost session stops
// it: the shell shows the login and unmounts the view.
export function usePolled(load, intervalMs, eventPrefix) {
  const [state, setState] = useState({ data: null, error: '', loading: true });
  const run = useRef({ alive: false, busy: false, again: false, timer: null });

  const read = useCallback(async () => {
    const r = run.current;
    if (!r.alive) return;
    if (r.busy) {
      r.again = true;
      return;
    }
    clearTimeout(r.timer);
    r.timer = null;
    if (document.hidden) return;
    r.busy = true;
    let lost = false;
    try {
      const data = await load();
      if (r.alive) setState({ data, error: '', loading: false });
    } catch (e) {
      lost = e.status === 401;
      if (r.alive) setState((s) => ({ ...s, error: e.message, loading: false }));
    }
    r.busy = false;
    if (!r.alive || lost) return;
    if (r.again) {
      r.again = false;
      read();
      return;
    }
    r.timer = setTimeout(read, intervalMs);
  }, [load, intervalMs]);

  useEffect(() => {
    const r = run.current;
    r.alive = true;
    read();
    const shown = () => { if (!document.hidden) read(); };
    document.addEventListener('visibilitychange', shown);
    const stop = eventPrefix
      ? subscribe('event', (ev) => { if (ev.kind && ev.kind.startsWith(eventPrefix)) read(); })
      : () => {};
    return () => {
      r.alive = false;
      clearTimeout(r.timer);
      r.timer = null;
      document.removeEventListener('visibilitychange', shown);
      stop();
    };
  }, [read, eventPrefix]);

  return { ...state, reload: read };
}

// How far a time is from now, as people say it: "in 42 s", "3 min ago"; "" for none.
export function relative(iso) {
  if (!iso) return '';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((t - Date.now()) / 1000);
  const a = Math.abs(s);
  const size = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min`
    : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  if (a < 2) return 'now';
  return s > 0 ? `in ${size}` : `${size} ago`;
}

// Splits an ApiError for a form: {fields: {name: message}, problem} as system-ui.js's
// formErrors does, with a field inside a list (bundle_keys[1], events[0]) shown at the
// list's control (bundle_keys, events).
export function listFormErrors(e, fields) {
  const field = e && e.field ? String(e.field).replace(/\[\d+\].*$/, '') : null;
  if (field && fields.includes(field)) return { fields: { [field]: e.message }, problem: '' };
  return { fields: {}, problem: e ? e.message : '' };
}
