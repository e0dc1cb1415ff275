// The users of the console (admin only): the list, a new user with a role and a one-time
// password, and per user: change the role, disable or enable, set a new one-time password
// (the user must change it at the next login), delete after a confirmation. One form is
// open at a time, so each field's id (and the id of its error) is unique on the page.
import { useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { useLoad, Refresh, Problem } from './common.js';
import { NO_ERRORS, ConfirmRow, described, formErrors, FieldError, Time } from './system-ui.js';

export const ROLES = [
  ['viewer', 'viewer: reads configuration and status'],
  ['issuer', 'issuer: issues playback tokens (a paywall or CMS)'],
  ['operator', 'operator: also runs channels, ladders and revocations'],
  ['admin', 'admin: also users, API keys, settings and policy'],
];

const loadUsers = () => api('GET', '/api/v1/users').then((r) => r.users);

// A password for the admin to hand over: 16 letters and digits from the browser's CSPRNG
// (about 95 bits), to be replaced by the user at the first login.
function suggestPassword() {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

export function RoleSelect({ id, value, onChange, errors, field }) {
  return html`
    <select id=${id} name=${field} value=${value} onChange=${(ev) => onChange(ev.target.value)}
      ...${described(field, errors)}>
      ${ROLES.map(([role, text]) => html`<option key=${role} value=${role}>${text}</option>`)}
    </select>`;
}

function NewUserForm({ onCreated, onCancel }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [password, setPassword] = useState('');
  const [mustChange, setMustChange] = useState(true);
  const [errors, setErrors] = useState(NO_ERRORS);
  const [busy, setBusy] = useState(false);

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const user = await api('POST', '/api/v1/users',
        { name, role, password, must_change_password: mustChange });
      onCreated(user);
    } catch (e) {
      setErrors(formErrors(e, ['name', 'role', 'password', 'must_change_password']));
      setBusy(false);
    }
  }

  return html`
    <form id="user-create" class="card inset" onSubmit=${submit} novalidate aria-labelledby="user-create-title">
      <h4 id="user-create-title">New user</h4>
      <${Problem} text=${errors.problem} />
      <label for="user-name">Name</label>
      <input id="user-name" name="name" value=${name} autocomplete="off" autocapitalize="none" spellcheck="false"
        onInput=${(ev) => setName(ev.target.value)} ...${described('name', errors, 'user-name-hint')} />
      <p class="hint" id="user-name-hint">1 to 32 of a–z, 0–9, “.”, “_”, “-”, starting with a letter or digit.</p>
      <${FieldError} field="name" errors=${errors} />
      <label for="user-role">Role</label>
      <${RoleSelect} id="user-role" field="role" value=${role} onChange=${setRole} errors=${errors} />
      <${FieldError} field="role" errors=${errors} />
      <label for="user-password">One-time password</label>
      <div class="inline">
        <input id="user-password" name="password" value=${password} autocomplete="off" spellcheck="false"
          onInput=${(ev) => setPassword(ev.target.value)} ...${described('password', errors, 'user-password-hint')} />
        <button type="button" class="secondary" onClick=${() => setPassword(suggestPassword())}>Suggest one</button>
      </div>
      <p class="hint" id="user-password-hint">8 to 128 characters, not a common password, not the
        user name. Give it to the user by a safe way.</p>
      <${FieldError} field="password" errors=${errors} />
      <label class="check" for="user-must-change">
        <input type="checkbox" id="user-must-change" checked=${mustChange}
          onChange=${(ev) => setMustChange(ev.target.checked)} ...${described('must_change_password', errors)} />
        The user must choose a new password at the first login</label>
      <${FieldError} field="must_change_password" errors=${errors} />
      <div class="actions">
        <button type="submit" data-needs="admin" disabled=${busy}>Create user</button>
        <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
      </div>
    </form>`;
}

// The changes one user can get; each is one PATCH (or the DELETE) and closes nothing until
// the operator is done.
function UserPanel({ user, self, onChanged, onDeleted, onClose }) {
  const [role, setRole] = useState(user.role);
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState(NO_ERRORS);
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);

  async function patch(body, what) {
    setBusy(true);
    setErrors(NO_ERRORS);
    setDone('');
    try {
      const after = await api('PATCH', `/api/v1/users/${encodeURIComponent(user.name)}`, body);
      setDone(what);
      if (body.password) setPassword('');
      onChanged(after);
    } catch (e) {
      setErrors(formErrors(e, ['role', 'password', 'disabled']));
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      await api('DELETE', `/api/v1/users/${encodeURIComponent(user.name)}`);
      onDeleted(user);
    } catch (e) {
      setErrors(formErrors(e, []));
      setConfirming(false);
      setBusy(false);
    }
  }

  const selfNote = self ? ' This is you: your session ends and you log in again.' : '';
  return html`
    <div class="user-panel" id="user-panel" aria-label=${`Change user ${user.name}`} role="group">
      <${Problem} text=${errors.problem} />
      ${done && html`<p class="message info" role="status">${done}</p>`}
      <form class="inline-form" onSubmit=${(ev) => { ev.preventDefault(); patch({ role }, `${user.name} is now ${role}; their sessions ended.`); }}>
        <label for="user-role">Role</label>
        <div class="inline">
          <${RoleSelect} id="user-role" field="role" value=${role} onChange=${setRole} errors=${errors} />
          <button type="submit" data-needs="admin" disabled=${busy || role === user.role}>Change role</button>
        </div>
        <${FieldError} field="role" errors=${errors} />
      </form>
      <form class="inline-form" novalidate onSubmit=${(ev) => {
        ev.preventDefault();
        patch({ password }, `${user.name} has a new one-time password and must change it at the next login; their sessions ended.`);
      }}>
        <label for="user-password">New one-time password</label>
        <div class="inline">
          <input id="user-password" name="password" value=${password} autocomplete="off" spellcheck="false"
            onInput=${(ev) => setPassword(ev.target.value)} ...${described('password', errors, 'user-reset-hint')} />
          <button type="button" class="secondary" onClick=${() => setPassword(suggestPassword())}>Suggest one</button>
          <button type="submit" data-needs="admin" disabled=${busy || !password}>Reset password</button>
        </div>
        <p class="hint" id="user-reset-hint">The user must choose a new password at the next login.${selfNote}</p>
        <${FieldError} field="password" errors=${errors} />
      </form>
      <div class="actions">
        <button type="button" class="secondary" data-needs="admin" disabled=${busy}
          onClick=${() => patch({ disabled: !user.disabled },
            user.disabled ? `${user.name} can log in again.` : `${user.name} is disabled; their sessions ended.`)}>
          ${user.disabled ? 'Enable user' : 'Disable user'}</button>
        ${!confirming && html`<button type="button" class="secondary danger-text" data-needs="admin"
          disabled=${busy} onClick=${() => setConfirming(true)}>Delete user…</button>`}
        <button type="button" class="secondary" onClick=${onClose}>Close</button>
      </div>
      <${FieldError} field="disabled" errors=${errors} />
      ${confirming && html`<${ConfirmRow} needs="admin" busy=${busy} action=${`Delete ${user.name}`}
        text=${`Delete user ${user.name}? Their sessions end; API keys they made stay valid. This cannot be undone.${selfNote}`}
        onConfirm=${remove} onCancel=${() => setConfirming(false)} />`}
    </div>`;
}

function state(user) {
  const parts = [user.disabled ? 'disabled' : 'enabled'];
  if (user.must_change_password) parts.push('must change password');
  return parts.join(', ');
}

export function UsersView({ session }) {
  const { data: users, error, loading, reload } = useLoad(loadUsers);
  // open: null, 'new', or the name of the user whose panel is open.
  const [open, setOpen] = useState(null);
  const [notice, setNotice] = useState('');

  const created = (user) => {
    setOpen(null);
    setNotice(`User ${user.name} (${user.role}) created.${user.must_change_password
      ? ' They must choose a new password at the first login.' : ''}`);
    reload();
  };
  const deleted = (user) => {
    setOpen(null);
    setNotice(`User ${user.name} deleted.`);
    reload();
  };

  return html`
    <div class="card" id="users">
      <div class="bar">
        <h3>Users</h3>
        <div class="actions">
          ${open !== 'new' && html`<button type="button" data-needs="admin" id="user-new"
            onClick=${() => { setOpen('new'); setNotice(''); }}>New user</button>`}
          <${Refresh} onClick=${reload} loading=${loading} />
        </div>
      </div>
      <${Problem} text=${error} />
      ${notice && html`<p class="message info" role="status">${notice}</p>`}
      ${open === 'new' && html`<${NewUserForm} onCreated=${created} onCancel=${() => setOpen(null)} />`}
      ${users && html`
        <table class="rtable" id="users-table">
          <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">State</th>
            <th scope="col">Last login</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${users.map((u) => html`
            <tr key=${u.name} data-user=${u.name} class=${u.disabled ? 'off' : ''}>
              <td data-label="Name"><strong>${u.name}</strong>${u.name === session.user ? html` <span class="muted">(you)</span>` : null}</td>
              <td data-label="Role">${u.role}</td>
              <td data-label="State">${state(u)}</td>
              <td data-label="Last login"><${Time} at=${u.last_login_at} /></td>
              <td data-label="Created"><${Time} at=${u.created_at} /></td>
              <td data-label="">
                <button type="button" class="secondary" data-needs="admin" aria-expanded=${open === u.name}
                  onClick=${() => { setOpen(open === u.name ? null : u.name); setNotice(''); }}>
                  ${open === u.name ? 'Close' : 'Change…'}<span class="sr-only"> ${u.name}</span></button>
              </td>
            </tr>
            ${open === u.name && html`
              <tr key=${`${u.name}-panel`} class="panel-row"><td colspan="6">
                <${UserPanel} user=${u} self=${u.name === session.user} onChanged=${reload}
                  onDeleted=${deleted} onClose=${() => setOpen(null)} />
              </td></tr>`}`)}
          </tbody>
        </table>`}
    </div>`;
}
