// The console's shell: the session (login, forced password change, logout, expiry), the
// header and the view named in location.hash. A lost session shows the login form and keeps
// the hash, so logging in again returns to the view the operator was on.
import { render } from './vendor/preact.js';
import { useCallback, useEffect, useState } from './vendor/hooks.js';
import { html } from './console/html.js';
import { api, setCsrf, setSessionHandlers } from './console/api.js';
import { LoginForm, ChangePasswordForm } from './console/login.js';
import { stopLive } from './console/live.js';
import { Dashboard } from './console/pages/dashboard.js';
import { Channels } from './console/pages/channels.js';
import { Ladders } from './console/pages/ladders.js';
import { Access } from './console/pages/access.js';
import { Events } from './console/pages/events.js';
import { System } from './console/pages/system.js';
import { Cloud } from './console/pages/cloud.js';

// Each view is a page module; #/NAME/REST shows page NAME with path REST (for example
// #/channels/demo). A page gets the session ({user, role, permissions}) and its path.
const VIEWS = {
  dashboard: { title: 'Dashboard', component: Dashboard },
  channels: { title: 'Channels', component: Channels },
  ladders: { title: 'Ladders', component: Ladders },
  access: { title: 'Access', component: Access },
  events: { title: 'Events', component: Events },
  cloud: { title: 'Cloud', component: Cloud },
  system: { title: 'System', component: System },
};
const DEFAULT_VIEW = 'dashboard';

function routeFromHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const name = VIEWS[parts[0]] ? parts[0] : DEFAULT_VIEW;
  const path = VIEWS[parts[0]] ? parts.slice(1).map(decodeURIComponent).join('/') : '';
  return { view: name, path };
}

function useHashRoute() {
  const [route, setRoute] = useState(routeFromHash);
  useEffect(() => {
    const changed = () => setRoute(routeFromHash());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function Header({ boxName, session, onLogout, view }) {
  return html`
    <header>
      <h1><span class="brand">ottbox</span>${boxName && boxName !== 'ottbox'
        ? html` <span class="sep" aria-hidden="true">·</span> <span id="box-name">${boxName}</span>` : null}</h1>
      ${session && view && html`
        <nav aria-label="Views">
          ${Object.entries(VIEWS).map(([name, v]) => html`
            <a key=${name} href=${`#/${name}`} aria-current=${view === name ? 'page' : null}>${v.title}</a>`)}
        </nav>`}
      ${session && html`
        <span class="who" id="who">${session.user} <span class="role">(${session.role})</span></span>
        <button type="button" id="logout" class="secondary" onClick=${onLogout}>Log out</button>`}
    </header>`;
}

function App() {
  // phase: loading (asking the box), login, change (the password first), ready.
  const [phase, setPhase] = useState('loading');
  const [session, setSession] = useState(null);
  const [notice, setNotice] = useState('');
  const [boxName, setBoxName] = useState('');
  const { view, path } = useHashRoute();

  const enter = useCallback((s) => {
    setCsrf(s.csrf_token);
    setSession({ user: s.user, role: s.role, permissions: s.permissions || [] });
    setNotice('');
    setPhase(s.must_change_password ? 'change' : 'ready');
  }, []);

  const toLogin = useCallback((text) => {
    stopLive();
    setCsrf(null);
    setSession(null);
    setNotice(text || '');
    setPhase('login');
  }, []);

  useEffect(() => {
    setSessionHandlers({
      lost: () => toLogin('Your session has ended. Log in again to go on where you were.'),
      passwordChangeRequired: () => setPhase('change'),
    });
    api('GET', '/api/v1/session').then((s) => (s.via === 'session' ? enter(s) : toLogin()),
      () => toLogin());
  }, [enter, toLogin]);

  useEffect(() => {
    if (phase !== 'ready') return;
    api('GET', '/api/v1/system').then((s) => setBoxName(s.box_name || ''), () => {});
  }, [phase]);

  useEffect(() => {
    const title = phase === 'ready' ? VIEWS[view].title : phase === 'change' ? 'Choose your password' : 'Log in';
    document.title = `${title} · ${boxName || 'ottbox'}`;
  }, [phase, view, boxName]);

  async function logout() {
    try {
      await api('DELETE', '/api/v1/session');
    } catch (e) {
      // Gone already: the login form is what the operator wants either way.
    }
    toLogin('You are logged out.');
  }

  async function passwordChanged() {
    try {
      enter(await api('GET', '/api/v1/session'));
    } catch (e) {
      toLogin('Your password was changed; log in with it.');
    }
  }

  let body;
  if (phase === 'loading') body = html`<p class="hint" aria-live="polite">Loading…</p>`;
  else if (phase === 'login') body = html`<${LoginForm} notice=${notice} onLoggedIn=${enter} />`;
  else if (phase === 'change') body = html`<${ChangePasswordForm} onChanged=${passwordChanged} />`;
  else body = html`<${VIEWS[view].component} key=${view} session=${session} path=${path} />`;

  return html`
    <${Header} boxName=${boxName} session=${phase === 'ready' || phase === 'change' ? session : null}
      onLogout=${logout} view=${phase === 'ready' ? view : null} />
    <main id="main">${body}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));
