// Pieces every page uses: loading a document, the refresh button, the problem line, role
// checks. A page shows only the controls the session's permissions allow; the API refuses
// the rest anyway.
import { useCallback, useEffect, useState } from '../vendor/hooks.js';
import { html } from './html.js';

// Loads with load() at mount and on reload(); a lost session is the shell's business (the
// view is unmounted), any other error is shown in the view.
export function useLoad(load) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const reload = useCallback(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then((data) => live && setState({ data, error: null, loading: false }),
      (e) => live && setState((s) => ({ ...s, error: e.message, loading: false })));
    return () => { live = false; };
  }, [load]);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

export function Refresh({ onClick, loading }) {
  return html`<button type="button" class="secondary" id="refresh" onClick=${onClick}
    disabled=${loading}>${loading ? 'Loading…' : 'Refresh'}</button>`;
}

export function Problem({ text }) {
  return text ? html`<p class="message bad" role="alert">${text}</p>` : null;
}

// The session's permissions, as GET /api/v1/session lists them: read, operate, issue, fleet, admin.
export function can(session, perm) {
  return !!(session && session.permissions && session.permissions.includes(perm));
}
