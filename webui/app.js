// The console is a client of the REST API and does nothing the API does not do.
const $ = (id) => document.getElementById(id);
let csrf = null;

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  return { status: res.status, data };
}

function say(text) {
  $('message').textContent = text || '';
  $('message').hidden = !text;
}

function show(view) {
  for (const id of ['login', 'change', 'overview']) $(id).hidden = id !== view;
  $('logout').hidden = view === 'login';
}

function errorText(res) {
  return res.data && res.data.error ? res.data.error.message : `request failed (${res.status})`;
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

async function showOverview() {
  const res = await api('GET', '/api/v1/system');
  if (res.status === 401) return showLogin();
  if (res.status === 403 && res.data?.error?.code === 'password_change_required') {
    return show('change');
  }
  if (res.status !== 200) return say(errorText(res));
  const s = res.data;
  $('box-name').textContent = s.box_name || 'Box';
  const rows = [
    ['Version', `${s.version} (${s.build})`],
    ['Up for', duration(s.uptime_s)],
    ['CPU', `${s.cpu.model}, ${s.cpu.cores} cores, load ${s.cpu.load_average.map((l) => l.toFixed(2)).join(' ')}`],
    ['Memory', `${bytes(s.memory.available_bytes)} free of ${bytes(s.memory.total_bytes)}`],
    ['Storage', `${bytes(s.storage.available_bytes)} free of ${bytes(s.storage.total_bytes)} (${s.storage.path})`],
    ['Host', `${s.os.hostname}, Linux ${s.os.kernel}`],
  ];
  $('system').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    return [dt, dd];
  }));
  $('hardware').replaceChildren(...s.hardware.map((b) => {
    const li = document.createElement('li');
    li.textContent = `${b.name}: ${b.available ? 'available' : `not available (${b.reason || 'unknown'})`}` +
      (b.encoders ? ` — encoders ${b.encoders.join(', ')}` : '');
    if (!b.available) li.className = 'off';
    return li;
  }));
  show('overview');
}

function showLogin() {
  csrf = null;
  $('who').textContent = '';
  show('login');
  $('login-name').focus();
}

async function start() {
  const res = await api('GET', '/api/v1/session');
  if (res.status !== 200) return showLogin();
  csrf = res.data.csrf_token || null;
  $('who').textContent = `${res.data.user} (${res.data.role})`;
  if (res.data.must_change_password) return show('change');
  return showOverview();
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const res = await api('POST', '/api/v1/session',
    { name: form.get('name'), password: form.get('password') });
  if (res.status !== 200) return say(errorText(res));
  say('');
  ev.target.reset();
  csrf = res.data.csrf_token;
  $('who').textContent = `${res.data.user} (${res.data.role})`;
  if (res.data.must_change_password) return show('change');
  return showOverview();
});

$('change').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const res = await api('POST', '/api/v1/session/password', {
    current_password: form.get('current_password'), new_password: form.get('new_password'),
  });
  if (res.status !== 204) return say(errorText(res));
  say('');
  ev.target.reset();
  return showOverview();
});

$('logout').addEventListener('click', async () => {
  await api('DELETE', '/api/v1/session');
  showLogin();
});

start();
