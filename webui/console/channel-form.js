// The channel form, for a new channel (POST /api/v1/channels) and an existing one (PUT
// /api/v1/channels/ID). The input is chosen by kind, with the fields that kind needs, and
// composed into input.url (channel-url.js); an existing channel's URL is read back into
// them. The box validates: its message for a field appears next to that field (the
// input.url ones next to the input's fields), and the form itself checks nothing.
import { useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { KINDS, compose, defaults, parse } from './channel-url.js';

const BACKENDS = [
  ['auto', 'Automatic (the best the box has)'], ['software', 'Software (CPU)'], ['vaapi', 'VAAPI'],
  ['qsv', 'Intel Quick Sync'], ['nvenc', 'NVIDIA NVENC'],
];
const SIZES = ['3840x2160', '1920x1080', '1280x720', '960x540', '640x360', '320x180'];

function fromChannel(ch) {
  const { kind, fields } = parse(ch ? ch.input.url : 'test://pattern?size=1280x720&rate=30&type=bars');
  const str = (v, d) => (v === undefined || v === null ? d : String(v));
  return {
    name: ch ? ch.name : '', id: ch ? ch.id : '', kind, fields,
    backup_url: str(ch && ch.input.backup_url, ''),
    failover_after_s: str(ch && ch.input.failover_after_s, '3'),
    ladder: ch ? ch.ladder : '', segment_seconds: str(ch && ch.segment_seconds, '4'),
    live_window_segments: str(ch && ch.live_window_segments, '6'),
    dvr_window_seconds: str(ch && ch.dvr_window_seconds, '0'),
    access: ch ? ch.access : 'public', risk_class: str(ch && ch.risk_class, ''),
    backend: ch ? ch.backend : 'auto', autostart: ch ? !!ch.autostart : false,
    hls_ts: ch ? !!ch.hls_ts : false, software_fallback: ch ? ch.software_fallback !== false : true,
  };
}

// A number field's value: an integer when it reads as one, else the text as typed (the box
// then says what is wrong with it); undefined when empty.
function num(v) {
  const t = String(v).trim();
  if (t === '') return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

function toBody(f, original) {
  const body = original ? { ...original } : {};
  delete body.status;
  delete body.playback;
  body.name = f.name;
  if (!original && f.id.trim()) body.id = f.id.trim();
  body.input = { url: compose(f.kind, f.fields) };
  body.input.backup_url = f.backup_url.trim() ? f.backup_url.trim() : null;
  const failover = num(f.failover_after_s);
  if (failover !== undefined) body.input.failover_after_s = failover;
  if (f.ladder) body.ladder = f.ladder;
  for (const k of ['segment_seconds', 'live_window_segments', 'dvr_window_seconds']) {
    const v = num(f[k]);
    if (v === undefined) delete body[k];
    else body[k] = v;
  }
  body.access = f.access;
  if (f.risk_class.trim()) body.risk_class = f.risk_class.trim();
  else delete body.risk_class;
  body.backend = f.backend;
  body.autostart = f.autostart;
  body.hls_ts = f.hls_ts;
  body.software_fallback = f.software_fallback;
  return body;
}

// The id of the element that shows the box's message for a field path: err-input-url for
// input.url (every character but letters and digits becomes '-').
export function errId(field) {
  return `err-${field.replace(/[^A-Za-z0-9]/g, '-')}`;
}

// The message under a field, when the box named it.
function FieldError({ field, text }) {
  return text ? html`<p class="field-error" id=${errId(field)} role="alert">${text}</p>` : null;
}

// A labelled control: <label> then the control, then the box's message for field.
function Field({ id, label, hint, field, error, children }) {
  return html`
    <div class=${`field${error ? ' invalid' : ''}`}>
      <label for=${id}>${label}</label>
      ${children}
      ${hint ? html`<p class="hint small">${hint}</p>` : null}
      <${FieldError} field=${field || id} text=${error} />
    </div>`;
}

// What a control carries when the box refused its field.
const invalid = (field, error) => ({ 'aria-invalid': error ? 'true' : null,
  'aria-describedby': error ? errId(field) : null });

function KindFields({ kind, fields, set, disabled, error }) {
  const v = (k) => fields[k] ?? '';
  const input = (k, label, opts = {}) => html`
    <${Field} id=${`in-${k}`} label=${label} hint=${opts.hint}>
      <input id=${`in-${k}`} value=${v(k)} onInput=${(e) => set(k, e.target.value)} disabled=${disabled}
        ...${invalid('input.url', error)}
        inputmode=${opts.numeric ? 'numeric' : null} placeholder=${opts.placeholder || null}
        list=${opts.list || null} autocomplete="off" spellcheck="false" />
    <//>`;
  const select = (k, label, options) => html`
    <${Field} id=${`in-${k}`} label=${label}>
      <select id=${`in-${k}`} value=${v(k)} onChange=${(e) => set(k, e.target.value)} disabled=${disabled}
        ...${invalid('input.url', error)}>
        ${options.map(([val, text]) => html`<option key=${val} value=${val}>${text}</option>`)}
      </select>
    <//>`;
  switch (kind) {
  case 'test':
    return html`
      ${input('size', 'Size (WIDTHxHEIGHT)', { list: 'test-sizes', placeholder: '1280x720' })}
      <datalist id="test-sizes">${SIZES.map((s) => html`<option key=${s} value=${s} />`)}</datalist>
      ${input('rate', 'Frame rate (fps)', { numeric: true, placeholder: '30' })}
      ${select('type', 'Picture', [['bars', 'Colour bars'], ['moving', 'Moving pattern'], ['', 'Default']])}`;
  case 'srt':
    return html`
      ${select('mode', 'Mode', [['listener', 'Listener (the encoder calls this box)'], ['caller', 'Caller (this box calls the encoder)']])}
      ${fields.mode === 'caller' ? input('host', 'Host') : input('host', 'Listen address', { placeholder: '0.0.0.0 (every address)' })}
      ${input('port', 'Port', { numeric: true })}
      ${input('latency', 'Latency (ms)', { numeric: true, placeholder: 'libsrt default (120)' })}
      ${input('passphrase', 'Passphrase', { hint: '10 to 79 characters, the same on both ends; empty for none', placeholder: 'none' })}`;
  case 'rtmp':
    return html`
      ${select('mode', 'Mode', [['publish', 'Publish (the encoder pushes to this box)'], ['pull', 'Pull (from an RTMP server)']])}
      ${fields.mode === 'pull' ? input('host', 'Server host') : null}
      ${input('port', 'Port', { numeric: true, placeholder: '1935' })}
      ${input('app', 'Application')}
      ${input('stream', fields.mode === 'pull' ? 'Stream' : 'Stream key')}`;
  case 'udp':
    return html`
      ${select('mode', 'Mode', [['unicast', 'Unicast'], ['multicast', 'Multicast']])}
      ${fields.mode === 'multicast' ? input('host', 'Group', { placeholder: '239.1.1.1' })
        : input('host', 'Listen address', { placeholder: '0.0.0.0 (every address)' })}
      ${input('port', 'Port', { numeric: true })}
      ${fields.mode === 'multicast' ? input('localaddr', 'Interface address', { placeholder: 'the default route\'s' }) : null}`;
  case 'file':
    return html`
      ${input('path', 'File in the media library', { placeholder: 'promo/loop.mp4', hint: 'A path relative to DATA_DIR/media' })}
      <label class="check"><input type="checkbox" id="in-loop" checked=${!!fields.loop} disabled=${disabled}
        onChange=${(e) => set('loop', e.target.checked)} /> Loop (play it again at its end)</label>`;
  case 'rtsp':
    return input('url', 'RTSP URL', { placeholder: 'rtsp://camera.local:554/stream' });
  case 'hls':
    return input('url', 'HLS playlist URL', { placeholder: 'https://example.com/live/master.m3u8' });
  case 'http':
    return input('url', 'HTTP(S) URL', { placeholder: 'https://example.com/feed.ts' });
  default:
    return input('url', 'Input URL', { hint: 'srt://, rtmp://, udp://, rtsp://, http(s)://, file: or test://pattern' });
  }
}

// channel: the Channel document to edit, or null for a new one. ladders: GET
// /api/v1/ladders's list. onSaved(channel): the box stored it. Only for a session that may
// operate: others see ChannelSettings.
export function ChannelForm({ channel, ladders, onSaved }) {
  const [f, setF] = useState(() => fromChannel(channel));
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState('');
  const set = (k, v) => setF((s) => ({ ...s, [k]: v }));
  const setKindField = (k, v) => setF((s) => ({ ...s, fields: { ...s.fields, [k]: v } }));
  const changeKind = (kind) => setF((s) => {
    // Switching to "Other URL" keeps the URL composed so far, to edit it by hand.
    const fields = kind === 'url' ? { url: compose(s.kind, s.fields) } : defaults(kind);
    return { ...s, kind, fields };
  });
  const ladderList = ladders || [];
  const ladderKnown = ladderList.some((l) => l.id === f.ladder);

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setErrors({});
    setFormError('');
    setSaved('');
    try {
      const body = toBody(f, channel);
      const saved = channel
        ? await api('PUT', `/api/v1/channels/${encodeURIComponent(channel.id)}`, body)
        : await api('POST', '/api/v1/channels', body);
      setBusy(false);
      setSaved(channel ? 'Saved.' : '');
      onSaved(saved);
    } catch (e) {
      setBusy(false);
      if (e.field) setErrors({ [e.field]: e.message });
      else setFormError(e.message);
    }
  }

  // The box's message for a field, or for one in the input block.
  const err = (k) => errors[k];
  const inputError = Object.keys(errors).find((k) => k === 'input.url' || k === 'input' ||
    (k.startsWith('input.') && !['input.backup_url', 'input.failover_after_s'].includes(k)));
  const known = ['name', 'id', 'input.backup_url', 'input.failover_after_s', 'ladder', 'segment_seconds',
    'live_window_segments', 'dvr_window_seconds', 'access', 'risk_class', 'backend', 'autostart', 'hls_ts',
    'software_fallback'];
  const stray = Object.keys(errors).find((k) => k !== inputError && !known.includes(k));
  const url = compose(f.kind, f.fields);
  const dis = busy;
  const text = (k, label, opts = {}) => html`
    <${Field} id=${`ch-${k}`} field=${opts.field || k} label=${label} hint=${opts.hint} error=${err(opts.field || k)}>
      <input id=${`ch-${k}`} name=${k} value=${f[k]} onInput=${(e) => set(k, e.target.value)} disabled=${dis}
        inputmode=${opts.numeric ? 'numeric' : null} placeholder=${opts.placeholder || null} required=${opts.required}
        ...${invalid(opts.field || k, err(opts.field || k))} autocomplete="off" />
    <//>`;

  return html`
    <form id="channel-form" class="channel-form" data-needs="operate" onSubmit=${submit} noValidate aria-label=${channel ? 'Channel settings' : 'New channel'}>
      ${formError || stray ? html`<p class="message bad" role="alert" id="form-error">${formError || errors[stray]}</p>` : null}
      <fieldset>
        <legend>Channel</legend>
        <div class="grid">
          ${text('name', 'Name', { required: true, placeholder: 'News' })}
          ${channel ? html`<${Field} id="ch-id" field="id" label="Id"><input id="ch-id" value=${channel.id} disabled /><//>`
            : text('id', 'Id (optional)', { placeholder: 'made from the name', hint: 'Part of the playback URL: a-z, 0-9, - and _' })}
        </div>
      </fieldset>

      <fieldset class=${inputError ? 'invalid' : ''}>
        <legend>Input</legend>
        <div class="field">
          <label for="ch-kind">Kind</label>
          <select id="ch-kind" value=${f.kind} onChange=${(e) => changeKind(e.target.value)} disabled=${dis}
            ...${invalid('input.url', inputError)}>
            ${KINDS.map((k) => html`<option key=${k.id} value=${k.id}>${k.label}</option>`)}
          </select>
        </div>
        <div class="grid kind-fields" id="kind-fields">
          <${KindFields} kind=${f.kind} fields=${f.fields} set=${setKindField} disabled=${dis} error=${inputError} />
        </div>
        <p class="hint small composed">input.url: <code id="composed-url">${url || '—'}</code></p>
        <${FieldError} field="input.url" text=${inputError ? errors[inputError] : ''} />
        <div class="grid">
          ${text('backup_url', 'Backup input URL (optional)', { field: 'input.backup_url', placeholder: 'udp://239.1.1.2:5000',
            hint: 'Taken over when the primary is silent, given back once it delivers again' })}
          ${text('failover_after_s', 'Failover after (s)', { field: 'input.failover_after_s', numeric: true })}
        </div>
      </fieldset>

      <fieldset>
        <legend>Encoding and packaging</legend>
        <div class="grid">
          <${Field} id="ch-ladder" field="ladder" label="Ladder" error=${err('ladder')}>
            <select id="ch-ladder" value=${f.ladder} onChange=${(e) => set('ladder', e.target.value)} disabled=${dis}
              ...${invalid('ladder', err('ladder'))}>
              ${!channel ? html`<option value="">Default (720p-3)</option>` : null}
              ${!ladderKnown && f.ladder ? html`<option value=${f.ladder}>${f.ladder}</option>` : null}
              ${ladderList.map((l) => html`<option key=${l.id} value=${l.id}>${l.name} (${l.id}): ${
                l.rungs.map((r) => `${r.height}p`).join(' ')}</option>`)}
            </select>
          <//>
          <${Field} id="ch-backend" field="backend" label="Backend" error=${err('backend')}>
            <select id="ch-backend" value=${f.backend} onChange=${(e) => set('backend', e.target.value)} disabled=${dis}
              ...${invalid('backend', err('backend'))}>
              ${BACKENDS.map(([v, t]) => html`<option key=${v} value=${v}>${t}</option>`)}
            </select>
          <//>
          ${text('segment_seconds', 'Segment duration (s)', { numeric: true, hint: '2 to 6' })}
          ${text('live_window_segments', 'Live window (segments)', { numeric: true, hint: '3 to 30' })}
          ${text('dvr_window_seconds', 'DVR window (s)', { numeric: true, hint: '0 for none' })}
        </div>
        <label class="check"><input type="checkbox" id="ch-hls_ts" checked=${f.hls_ts} disabled=${dis}
          onChange=${(e) => set('hls_ts', e.target.checked)} /> Also MPEG-TS HLS, for old players</label>
        <${FieldError} field="hls_ts" text=${err('hls_ts')} />
        <${FieldError} field="software_fallback" text=${err('software_fallback')} />
        <label class="check"><input type="checkbox" id="ch-software_fallback" checked=${f.software_fallback} disabled=${dis}
          onChange=${(e) => set('software_fallback', e.target.checked)} /> The CPU may take the channel when no hardware can</label>
      </fieldset>

      <fieldset>
        <legend>Access and start</legend>
        <div class="grid">
          <${Field} id="ch-access" field="access" label="Access class" error=${err('access')}>
            <select id="ch-access" value=${f.access} onChange=${(e) => set('access', e.target.value)} disabled=${dis}
              ...${invalid('access', err('access'))}>
              <option value="public">Public (plays without a token)</option>
              <option value="premium">Premium (plays with a playback token)</option>
            </select>
          <//>
          ${f.access === 'premium'
            ? text('risk_class', 'Risk class', { placeholder: "the policy's default", hint: 'Sets the lifetime of its tokens' }) : null}
        </div>
        <label class="check"><input type="checkbox" id="ch-autostart" checked=${f.autostart} disabled=${dis}
          onChange=${(e) => set('autostart', e.target.checked)} /> Start with the box</label>
        <${FieldError} field="autostart" text=${err('autostart')} />
      </fieldset>
      <div class="actions">
        <button type="submit" data-needs="operate" disabled=${busy}>${busy ? 'Saving…' : channel ? 'Save changes' : 'Create channel'}</button>
        ${saved ? html`<span class="saved" role="status">${saved}</span>` : null}
        ${channel ? html`<span class="hint small">Saving a running channel restarts it with the new settings.</span>` : null}
      </div>
    </form>`;
}

// A channel's settings as text, for a session that may not change them.
export function ChannelSettings({ channel: ch }) {
  const yes = (b) => (b ? 'yes' : 'no');
  return html`
    <dl id="channel-settings">
      <dt>Input</dt><dd><code>${ch.input.url}</code></dd>
      <dt>Backup input</dt><dd>${ch.input.backup_url ? html`<code>${ch.input.backup_url}</code>` : 'none'}
        ${ch.input.backup_url ? ` (after ${ch.input.failover_after_s} s of silence)` : ''}</dd>
      <dt>Ladder</dt><dd>${ch.ladder}</dd>
      <dt>Segments</dt><dd>${ch.segment_seconds} s, ${ch.live_window_segments} in the live window</dd>
      <dt>DVR window</dt><dd>${ch.dvr_window_seconds ? `${ch.dvr_window_seconds} s` : 'none'}</dd>
      <dt>Access</dt><dd>${ch.access}${ch.risk_class ? ` (risk class ${ch.risk_class})` : ''}</dd>
      <dt>Backend</dt><dd>${ch.backend}${ch.software_fallback ? ', the CPU may take over' : ''}</dd>
      <dt>MPEG-TS HLS</dt><dd>${yes(ch.hls_ts)}</dd>
      <dt>Starts with the box</dt><dd>${yes(ch.autostart)}</dd>
    </dl>`;
}
