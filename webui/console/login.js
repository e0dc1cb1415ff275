// The login form and the forced password change: labelled fields, keyboard first, the
// server's message shown as it says it.
import { useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';

function Message({ text, kind }) {
  if (!text) return null;
  return html`<p class=${`message ${kind || 'bad'}`} role=${kind === 'info' ? 'status' : 'alert'}>${text}</p>`;
}

// onLoggedIn(session): the Session answer of POST /api/v1/session.
export function LoginForm({ notice, onLoggedIn }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const nameRef = useRef(null);
  useEffect(() => { nameRef.current && nameRef.current.focus(); }, []);

  async function submit(ev) {
    ev.preventDefault();
    const form = new FormData(ev.target);
    setBusy(true);
    setError('');
    try {
      const session = await api('POST', '/api/v1/session',
        { name: form.get('name'), password: form.get('password') });
      onLoggedIn(session);
    } catch (e) {
      setError(e.status === 401 ? 'Wrong user name or password.' : e.message);
      setBusy(false);
    }
  }

  return html`
    <form id="login" class="card narrow" onSubmit=${submit} aria-labelledby="login-title">
      <h2 id="login-title">Log in</h2>
      <${Message} text=${notice} kind="info" />
      <${Message} text=${error} />
      <label for="login-name">User name</label>
      <input id="login-name" name="name" ref=${nameRef} autocomplete="username" required />
      <label for="login-password">Password</label>
      <input id="login-password" name="password" type="password" autocomplete="current-password" required />
      <button type="submit" disabled=${busy}>Log in</button>
      <p class="hint">First start? The one-time password of <code>admin</code> was printed on the
        box's console and is in <code>initial-admin-password</code> in its data directory.</p>
    </form>`;
}

// onChanged(): the password was changed; the session may now do what its role allows.
export function ChangePasswordForm({ onChanged }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const firstRef = useRef(null);
  useEffect(() => { firstRef.current && firstRef.current.focus(); }, []);

  async function submit(ev) {
    ev.preventDefault();
    const form = new FormData(ev.target);
    if (form.get('new_password') !== form.get('confirm_password')) {
      setError('The two new passwords differ.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      await api('POST', '/api/v1/session/password', {
        current_password: form.get('current_password'), new_password: form.get('new_password'),
      });
      onChanged();
    } catch (e) {
      setError(e.message);
      setBusy(false);
    }
  }

  return html`
    <form id="change" class="card narrow" onSubmit=${submit} aria-labelledby="change-title">
      <h2 id="change-title">Choose your password</h2>
      <p class="hint">The password you logged in with was for one use only.</p>
      <${Message} text=${error} />
      <label for="change-current">Current password</label>
      <input id="change-current" name="current_password" type="password" ref=${firstRef}
        autocomplete="current-password" required />
      <label for="change-new">New password (8 to 128 characters; a few unrelated words work well)</label>
      <input id="change-new" name="new_password" type="password" autocomplete="new-password"
        minlength="8" maxlength="128" required />
      <label for="change-confirm">New password again</label>
      <input id="change-confirm" name="confirm_password" type="password" autocomplete="new-password"
        minlength="8" maxlength="128" required />
      <button type="submit" disabled=${busy}>Save password</button>
    </form>`;
}
