// A channel's input URL as form fields, and back. compose(kind, fields) writes the URL the
// box takes (firmware/engine/channel.c, ob_engine_input_url_check); parse(url) reads one
// back into {kind, fields}. A URL the fields cannot say exactly (an SRT option the form has
// no field for, say) is kept whole as the 'url' kind, so editing never changes what the
// operator did not touch.

// The kinds the form offers, in its order. fields: the defaults of a new input.
export const KINDS = [
  { id: 'test', label: 'Test pattern', fields: { size: '1280x720', rate: '30', type: 'bars' } },
  { id: 'srt', label: 'SRT', fields: { mode: 'listener', host: '', port: '9000', latency: '', passphrase: '' } },
  { id: 'rtmp', label: 'RTMP', fields: { mode: 'publish', host: '', port: '1935', app: 'live', stream: '' } },
  { id: 'udp', label: 'UDP (MPEG-TS)', fields: { mode: 'unicast', host: '', port: '5000', localaddr: '' } },
  { id: 'rtsp', label: 'RTSP', fields: { url: 'rtsp://' } },
  { id: 'hls', label: 'HLS pull', fields: { url: 'https://' } },
  { id: 'http', label: 'HTTP(S) URL', fields: { url: 'https://' } },
  { id: 'file', label: 'Local file', fields: { path: '', loop: true } },
  { id: 'url', label: 'Other URL', fields: { url: '' } },
];

export function kindLabel(id) {
  const k = KINDS.find((x) => x.id === id);
  return k ? k.label : id;
}

export function defaults(kind) {
  const k = KINDS.find((x) => x.id === kind);
  return { ...(k ? k.fields : { url: '' }) };
}

// An IPv6 literal goes in brackets in a URL's authority.
function hostPart(host) {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function query(pairs) {
  const q = pairs.filter(([, v]) => v !== '' && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${v}`).join('&');
  return q ? `?${q}` : '';
}

// The URL for kind with fields (strings as typed; nothing is checked here: the box does).
export function compose(kind, f) {
  const t = (v) => String(v === undefined || v === null ? '' : v).trim();
  switch (kind) {
  case 'test':
    return `test://pattern${query([['size', t(f.size)], ['rate', t(f.rate)], ['type', t(f.type)]])}`;
  case 'srt': {
    // The form asks for milliseconds; libsrt's URL option is in microseconds.
    const ms = t(f.latency);
    const latency = ms === '' ? '' : /^\d+$/.test(ms) ? String(Number(ms) * 1000) : ms;
    const host = f.mode === 'listener' ? (t(f.host) || '0.0.0.0') : t(f.host);
    return `srt://${hostPart(host)}:${t(f.port)}${query([['mode', f.mode], ['latency', latency],
      ['passphrase', t(f.passphrase)]])}`;
  }
  case 'rtmp': {
    const host = f.mode === 'publish' ? '0.0.0.0' : t(f.host);
    const port = t(f.port);
    return `rtmp://${hostPart(host)}${port ? `:${port}` : ''}/${t(f.app)}/${t(f.stream)}`;
  }
  case 'udp': {
    const host = f.mode === 'unicast' ? (t(f.host) || '0.0.0.0') : t(f.host);
    return `udp://${hostPart(host)}:${t(f.port)}${query([['localaddr', t(f.localaddr)]])}`;
  }
  case 'file':
    return `file:${t(f.path)}${f.loop ? '?loop=1' : ''}`;
  default:
    return t(f.url);
  }
}

// 224.0.0.0 to 239.255.255.255, or an IPv6 ff00::/8 group.
export function isMulticast(host) {
  const m = /^(\d+)\.\d+\.\d+\.\d+$/.exec(host);
  if (m) return Number(m[1]) >= 224 && Number(m[1]) <= 239;
  return /^\[?ff/i.test(host);
}

// SCHEME://HOST[:PORT]/PATH?QUERY into its parts, or null.
function split(url) {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\[[^\]]*\]|[^/?:]*)(?::(\d*))?(\/[^?]*)?(?:\?(.*))?$/i.exec(url);
  if (!m) return null;
  const params = [];
  for (const item of (m[5] || '').split('&')) {
    if (!item) continue;
    const eq = item.indexOf('=');
    params.push(eq < 0 ? [item, null] : [item.slice(0, eq), item.slice(eq + 1)]);
  }
  return { scheme: m[1].toLowerCase(), host: m[2].replace(/^\[|\]$/g, ''), port: m[3] ?? null,
    path: m[4] || '', query: m[5] ?? null, params };
}

function readParams(params, known) {
  const out = {};
  for (const [k, v] of params) {
    if (!known.includes(k) || v === null || k in out) return null;
    out[k] = v;
  }
  return out;
}

function guess(url) {
  if (url.startsWith('file:')) {
    const q = url.indexOf('?');
    const path = q < 0 ? url.slice(5) : url.slice(5, q);
    const rest = q < 0 ? '' : url.slice(q + 1);
    if (rest && rest !== 'loop=1' && rest !== 'loop=0') return null;
    return { kind: 'file', fields: { path, loop: rest === 'loop=1' } };
  }
  const u = split(url);
  if (!u) return null;
  switch (u.scheme) {
  case 'test': {
    const p = readParams(u.params, ['size', 'rate', 'type']);
    if (!p || u.host !== 'pattern' || u.port !== null || u.path) return null;
    return { kind: 'test', fields: { size: p.size || '', rate: p.rate || '', type: p.type || '' } };
  }
  case 'srt': {
    const p = readParams(u.params, ['mode', 'latency', 'passphrase']);
    if (!p || u.path || !u.port) return null;
    const any = !u.host || u.host === '0.0.0.0' || u.host === '::';
    const mode = p.mode || (any ? 'listener' : 'caller');
    if (mode !== 'listener' && mode !== 'caller') return null;
    let latency = p.latency || '';
    if (latency && /^\d+$/.test(latency) && Number(latency) % 1000 === 0) latency = String(Number(latency) / 1000);
    else if (latency) return null;
    return { kind: 'srt', fields: { mode, host: mode === 'listener' && u.host === '0.0.0.0' ? '' : u.host,
      port: u.port, latency, passphrase: p.passphrase || '' } };
  }
  case 'rtmp': {
    const m = /^\/([^/]+)\/(.+)$/.exec(u.path);
    if (!m || u.query !== null) return null;
    const publish = u.host === '0.0.0.0';
    return { kind: 'rtmp', fields: { mode: publish ? 'publish' : 'pull', host: publish ? '' : u.host,
      port: u.port || '', app: m[1], stream: m[2] } };
  }
  case 'udp': {
    const p = readParams(u.params, ['localaddr']);
    if (!p || u.path || !u.port) return null;
    const multicast = isMulticast(u.host);
    return { kind: 'udp', fields: { mode: multicast ? 'multicast' : 'unicast',
      host: !multicast && u.host === '0.0.0.0' ? '' : u.host, port: u.port, localaddr: p.localaddr || '' } };
  }
  case 'rtsp':
    return { kind: 'rtsp', fields: { url } };
  case 'http':
  case 'https':
    return { kind: /\.m3u8$/i.test(u.path) ? 'hls' : 'http', fields: { url } };
  default:
    return null;
  }
}

// {kind, fields} for url; a URL the fields cannot say exactly is the 'url' kind.
export function parse(url) {
  const g = url ? guess(url) : null;
  if (g && compose(g.kind, g.fields) === url) return g;
  return { kind: 'url', fields: { url: url || '' } };
}

// A short line for lists: "SRT listener :9000", "Test pattern 1280x720".
export function summary(url) {
  const { kind, fields: f } = parse(url);
  switch (kind) {
  case 'test': return `Test pattern ${f.size || ''}`.trim();
  case 'srt': return `SRT ${f.mode} ${f.mode === 'caller' ? f.host : ''}:${f.port}`;
  case 'rtmp': return f.mode === 'publish' ? `RTMP publish :${f.port || 1935}/${f.app}` : `RTMP pull ${f.host}`;
  case 'udp': return `UDP ${f.mode} ${f.host || ''}:${f.port}`;
  case 'file': return `File ${f.path}${f.loop ? ' (loop)' : ''}`;
  default: return url;
  }
}
