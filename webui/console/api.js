// The REST API client. The console is a client of /api/v1 and does nothing the API does not.
// Every change carries the session's CSRF token; an answer that says the session is gone
// (401) or that the password must be changed first (403 password_change_required) is handed
// to the app shell, which shows the login or the password form and then the same view again.

let csrf = null;
let onSessionLost = () => {};
let onPasswordChangeRequired = () => {};

export function setCsrf(token) {
  csrf = token || null;
}

export function setSessionHandlers(handlers) {
  onSessionLost = handlers.lost;
  onPasswordChangeRequired = handlers.passwordChangeRequired;
}

// The error a failed request throws; message is the server's own when it sent one.
export class ApiError extends Error {
  constructor(status, data) {
    const error = data && data.error;
    super(error && error.message ? error.message : `request failed (HTTP ${status})`);
    this.status = status;
    this.code = error ? error.code : null;
    this.field = error ? error.field : null;
  }
}

// One request: resolves to the answer's JSON (null for 204), throws ApiError otherwise.
// The body goes as JSON; with options.type it is a string sent as it is, with that
// Content-Type (a signed bundle as application/jose). The session's own routes (login,
// password change) report 401 and 403 to their caller.
export async function api(method, path, body, options = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = options.type || 'application/json';
  if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : options.type ? body : JSON.stringify(body),
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.ok) return data;
  const err = new ApiError(res.status, data);
  const sessionRoute = path.startsWith('/api/v1/session');
  if (!sessionRoute && err.status === 401) onSessionLost();
  if (!sessionRoute && err.status === 403 && err.code === 'password_change_required') {
    onPasswordChangeRequired();
  }
  throw err;
}

// Asks whether the session still lives; a session that is gone goes to the shell's login
// (as any other 401 would). Resolves true when it lives.
export async function checkSession() {
  try {
    await api('GET', '/api/v1/session');
    return true;
  } catch (e) {
    if (e.status === 401) onSessionLost();
    return false;
  }
}
