// The ladders page: #/ladders lists the built-in presets (read-only) and the operator's
// ladders; #/ladders/new (or #/ladders/new/FROM, a copy of ladder FROM) creates one;
// #/ladders/ID shows a ladder, editable by an operator unless it is built in. The rung editor
// shows the bitrate step between neighbouring rungs as the operator types and flags one
// outside 30–45 % (ladder-steps.js); the box's own message for a refused field is shown next
// to that field.
import { useCallback, useEffect, useMemo, useRef, useState } from '../../vendor/hooks.js';
import { html } from '../html.js';
import { api } from '../api.js';
import { useLoad, Refresh, Problem, can } from '../common.js';
import {
  ConfirmButton, FieldError, inputId, invalid, numberOf, splitError, useFocusInvalid,
} from '../ladder-fields.js';
import { stepBetween, stepText, STEP_MIN_PERCENT, STEP_MAX_PERCENT } from '../ladder-steps.js';

const RUNGS_MAX = 8; // OB_LADDER_RUNGS_MAX
const CODECS = ['h264', 'hevc'];
const PROFILES = { h264: ['high', 'main', 'baseline'], hevc: ['main', 'main10'] };
const PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow',
  'slower', 'veryslow'];
const DEFAULT_PRESET = 'veryfast';
const DEFAULT_AUDIO_KBPS = 128;
const RUNG_NUMBERS = ['width', 'height', 'video_bitrate_kbps', 'max_bitrate_kbps', 'buffer_kbits'];
const RUNG_CHOICES = ['codec', 'profile', 'preset'];
const LADDER_FIELDS = ['id', 'name', 'check_steps', 'rungs', 'audio', 'audio.mode', 'audio.bitrate_kbps'];

const loadLadders = () => api('GET', '/api/v1/ladders').then((d) => d.ladders);
const ladderPath = (id) => `/api/v1/ladders/${encodeURIComponent(id)}`;

// The defaults the box fills in (ob_engine_ladder_fill_defaults): a value equal to its
// default is shown as "auto", so it follows the bitrate when the operator changes that.
const defaultMax = (kbps) => Math.floor(kbps * 11 / 10);
const defaultBuffer = (kbps) => kbps * 2;

function audioText(a) {
  if (!a || a.mode === 'aac') return `AAC ${(a && a.bitrate_kbps) || DEFAULT_AUDIO_KBPS} kbit/s`;
  return 'passthrough';
}

function rungsText(rungs) {
  const r = (x) => `${x.width}×${x.height} ${x.video_bitrate_kbps}`;
  if (rungs.length === 1) return `1 rung: ${r(rungs[0])} kbit/s`;
  return `${rungs.length} rungs: ${r(rungs[0])} … ${r(rungs[rungs.length - 1])} kbit/s`;
}

// ---- the list ----

function LadderRow({ ladder, session, onDelete }) {
  const l = ladder;
  return html`
    <tr id=${`ladder-row-${l.id}`}>
      <td data-label="Name"><a href=${`#/ladders/${encodeURIComponent(l.id)}`}>${l.name}</a></td>
      <td data-label="Id"><code>${l.id}</code></td>
      <td data-label="Rungs">${rungsText(l.rungs)}</td>
      <td data-label="Audio">${audioText(l.audio)}</td>
      <td data-label="Kind">${l.builtin ? html`<span class="tag">built-in</span>` : 'operator'}</td>
      <td class="actions">
        ${can(session, 'operate') && (l.builtin
          ? html`<a class="button secondary" data-needs="operate"
              href=${`#/ladders/new/${encodeURIComponent(l.id)}`}>Start from this preset</a>`
          : html`
            <a class="button secondary" data-needs="operate" href=${`#/ladders/${encodeURIComponent(l.id)}`}>Edit</a>
            <a class="button secondary" data-needs="operate" href=${`#/ladders/new/${encodeURIComponent(l.id)}`}>Copy</a>
            <${ConfirmButton} label="Delete" needs="operate" yes="Yes, delete"
              question=${`Delete ladder "${l.id}"?`} onConfirm=${() => onDelete(l.id)} />`)}
      </td>
    </tr>`;
}

function LadderList({ session, notice }) {
  const { data, error, loading, reload } = useLoad(loadLadders);
  const [problem, setProblem] = useState('');
  const [deleted, setDeleted] = useState('');

  async function remove(id) {
    setProblem('');
    setDeleted('');
    try {
      await api('DELETE', ladderPath(id));
      setDeleted(`Ladder "${id}" deleted.`);
      reload();
    } catch (e) {
      setProblem(e.message);
    }
  }

  const message = deleted || notice;
  return html`
    <div class="bar">
      <h2 id="ladders-title">Ladders</h2>
      <span class="bar-tools">
        ${can(session, 'operate') && html`<a class="button" id="ladder-new" data-needs="operate" href="#/ladders/new">New ladder</a>`}
        <${Refresh} onClick=${reload} loading=${loading} />
      </span>
    </div>
    ${message && html`<p class="message info" role="status" id="ladders-notice">${message}</p>`}
    <${Problem} text=${error || problem} />
    <p class="hint">A ladder is the set of renditions a channel encodes, from the highest to the
      lowest. Each rung's bitrate is ${STEP_MIN_PERCENT}–${STEP_MAX_PERCENT} % below the one above, so
      players switch smoothly. The built-in presets cannot be changed; start a ladder of your own from one.</p>
    ${data && html`
      <div class="card">
        <table class="stack" id="ladder-list">
          <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Rungs</th>
            <th scope="col">Audio</th><th scope="col">Kind</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${data.map((l) => html`<${LadderRow} key=${l.id} ladder=${l} session=${session} onDelete=${remove} />`)}</tbody>
        </table>
      </div>`}`;
}

// ---- the read-only view ----

function StepCell({ rungs, index, check }) {
  if (index === 0) return html`<td data-label="Step">—</td>`;
  const { text, bad } = stepText(stepBetween(rungs[index - 1], rungs[index]), check);
  return html`<td data-label="Step" class=${bad ? 'step bad' : 'step'}>${text}</td>`;
}

function LadderView({ ladder, session }) {
  const l = ladder;
  return html`
    <div class="card" id="ladder-view">
      <h3>${l.name}</h3>
      <dl>
        <dt>Id</dt><dd><code>${l.id}</code></dd>
        <dt>Kind</dt><dd>${l.builtin ? 'built-in preset (read-only)' : 'operator ladder'}</dd>
        <dt>Audio</dt><dd>${audioText(l.audio)}</dd>
        <dt>Bitrate steps</dt><dd>${l.check_steps ? `checked (${STEP_MIN_PERCENT}–${STEP_MAX_PERCENT} %)` : 'not checked'}</dd>
      </dl>
      <table class="stack rung-table">
        <thead><tr><th scope="col">Rung</th><th scope="col">Size</th><th scope="col">Video</th>
          <th scope="col">Max</th><th scope="col">Buffer</th><th scope="col">Codec</th>
          <th scope="col">Preset</th><th scope="col">Step</th></tr></thead>
        <tbody>${l.rungs.map((r, i) => html`
          <tr key=${i}>
            <td data-label="Rung">${i + 1}</td>
            <td data-label="Size">${r.width}×${r.height}</td>
            <td data-label="Video">${r.video_bitrate_kbps} kbit/s</td>
            <td data-label="Max">${r.max_bitrate_kbps} kbit/s</td>
            <td data-label="Buffer">${r.buffer_kbits} kbit</td>
            <td data-label="Codec">${r.codec} ${r.profile}</td>
            <td data-label="Preset">${r.preset}</td>
            <${StepCell} rungs=${l.rungs} index=${i} check=${l.check_steps} />
          </tr>`)}</tbody>
      </table>
      ${l.builtin && can(session, 'operate') && html`
        <p><a class="button" data-needs="operate" href=${`#/ladders/new/${encodeURIComponent(l.id)}`}>Start from this preset</a></p>`}
    </div>`;
}

// ---- the editor ----

let rungKeys = 0;

function rungForm(r) {
  const kbps = r.video_bitrate_kbps;
  const codec = r.codec || 'h264';
  return {
    key: ++rungKeys,
    width: String(r.width ?? ''),
    height: String(r.height ?? ''),
    video_bitrate_kbps: String(kbps ?? ''),
    max_bitrate_kbps: r.max_bitrate_kbps == null || r.max_bitrate_kbps === defaultMax(kbps) ? '' : String(r.max_bitrate_kbps),
    buffer_kbits: r.buffer_kbits == null || r.buffer_kbits === defaultBuffer(kbps) ? '' : String(r.buffer_kbits),
    codec,
    profile: r.profile || PROFILES[codec][0],
    preset: r.preset || DEFAULT_PRESET,
  };
}

// The form's state from a ladder; copy: a new ladder started from it.
function ladderForm(l, copy) {
  const audio = l.audio || { mode: 'aac' };
  return {
    id: copy ? '' : l.id,
    name: copy ? '' : l.name,
    check_steps: l.check_steps !== false,
    audio_mode: audio.mode || 'aac',
    audio_bitrate: String(audio.bitrate_kbps ?? DEFAULT_AUDIO_KBPS),
    rungs: l.rungs.map(rungForm),
  };
}

const BLANK = { rungs: [{ width: 1280, height: 720, video_bitrate_kbps: 3000 }] };

function ladderBody(form) {
  return {
    id: form.id.trim(),
    name: form.name,
    rungs: form.rungs.map((r) => ({
      width: numberOf(r.width),
      height: numberOf(r.height),
      video_bitrate_kbps: numberOf(r.video_bitrate_kbps),
      max_bitrate_kbps: numberOf(r.max_bitrate_kbps),
      buffer_kbits: numberOf(r.buffer_kbits),
      codec: r.codec,
      profile: r.profile,
      preset: r.preset,
    })),
    audio: form.audio_mode === 'aac'
      ? { mode: 'aac', bitrate_kbps: numberOf(form.audio_bitrate) } : { mode: form.audio_mode },
    check_steps: form.check_steps,
  };
}

// A rung's numbers as numbers (NaN while a field is empty or not whole), for the step.
function rungNumbers(r) {
  const n = (t) => (/^\d+$/.test(String(t).trim()) ? Number(t) : NaN);
  return { width: n(r.width), height: n(r.height), video_bitrate_kbps: n(r.video_bitrate_kbps) };
}

// The next rung below the last one: three quarters of its size (even), 40 % less bitrate.
function rungBelow(last) {
  const n = rungNumbers(last);
  const even = (x, min) => Math.max(min, 2 * Math.round(x * 0.375));
  return rungForm({
    width: Number.isInteger(n.width) ? even(n.width, 128) : 640,
    height: Number.isInteger(n.height) ? even(n.height, 96) : 360,
    video_bitrate_kbps: Number.isInteger(n.video_bitrate_kbps) ? Math.max(64, Math.round(n.video_bitrate_kbps * 0.6)) : 800,
    codec: last.codec, profile: last.profile, preset: last.preset,
  });
}

// Where the form shows a message about a field (see ladder-fields.js), or null.
function ladderSlot(field, form, isNew) {
  if (field === 'id') return isNew ? 'id' : null;
  if (field === 'audio.bitrate_kbps' && form.audio_mode !== 'aac') return 'audio';
  if (LADDER_FIELDS.includes(field)) return field;
  const m = /^rungs\[(\d+)\](?:\.([a-z_]+))?$/.exec(field);
  if (!m || Number(m[1]) >= form.rungs.length) return null;
  if (m[2] && (RUNG_NUMBERS.includes(m[2]) || RUNG_CHOICES.includes(m[2]))) return field;
  return `rungs[${m[1]}]`;
}

function NumField({ path, label, value, onInput, err, also, placeholder, min, max, step }) {
  const id = inputId('ladder', path);
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      <input id=${id} type="number" inputmode="numeric" value=${value} min=${min} max=${max}
        step=${step || 1} placeholder=${placeholder}
        onInput=${(e) => onInput(e.target.value)} ...${invalid(err, path, also)} />
      <${FieldError} err=${err} slot=${path} />
    </div>`;
}

function ChoiceField({ path, label, value, options, onInput, err }) {
  const id = inputId('ladder', path);
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      <select id=${id} value=${value} onChange=${(e) => onInput(e.target.value)} ...${invalid(err, path)}>
        ${options.map((o) => html`<option key=${o} value=${o}>${o}</option>`)}
      </select>
      <${FieldError} err=${err} slot=${path} />
    </div>`;
}

function StepNote({ upper, lower, index, check }) {
  const { text, bad } = stepText(stepBetween(rungNumbers(upper), rungNumbers(lower)), check, index);
  return html`<p id=${`step-${index}`} class=${bad ? 'step bad' : 'step'} aria-live="polite">
    ${bad ? html`<span aria-hidden="true">⚠ </span>` : null}${text || `Rung ${index + 1}: fill in both bitrates to see the step.`}</p>`;
}

function RungEditor({ rung, index, count, err, setField, move, remove }) {
  const p = (f) => `rungs[${index}].${f}`;
  const kbps = rungNumbers(rung).video_bitrate_kbps;
  const auto = (v) => (Number.isInteger(kbps) ? `auto (${v(kbps)})` : 'auto');
  const stepId = index > 0 ? `step-${index}` : null;
  return html`
    <fieldset class="rung" id=${`rung-${index}`} ...${invalid(err, `rungs[${index}]`)}>
      <legend>Rung ${index + 1}</legend>
      <${FieldError} err=${err} slot=${`rungs[${index}]`} />
      <div class="rung-grid">
        <${NumField} path=${p('width')} label="Width (px)" value=${rung.width} min="128" max="7680" step="2"
          err=${err} onInput=${(v) => setField(index, 'width', v)} />
        <${NumField} path=${p('height')} label="Height (px)" value=${rung.height} min="96" max="4320" step="2"
          err=${err} onInput=${(v) => setField(index, 'height', v)} />
        <${NumField} path=${p('video_bitrate_kbps')} label="Video bitrate (kbit/s)" value=${rung.video_bitrate_kbps}
          min="64" max="100000" err=${err} also=${stepId}
          onInput=${(v) => setField(index, 'video_bitrate_kbps', v)} />
        <${NumField} path=${p('max_bitrate_kbps')} label="Max bitrate (kbit/s)" value=${rung.max_bitrate_kbps}
          min="64" max="200000" placeholder=${auto(defaultMax)} err=${err}
          onInput=${(v) => setField(index, 'max_bitrate_kbps', v)} />
        <${NumField} path=${p('buffer_kbits')} label="Buffer (kbit)" value=${rung.buffer_kbits}
          min="64" max="800000" placeholder=${auto(defaultBuffer)} err=${err}
          onInput=${(v) => setField(index, 'buffer_kbits', v)} />
        <${ChoiceField} path=${p('codec')} label="Codec" value=${rung.codec} options=${CODECS} err=${err}
          onInput=${(v) => setField(index, 'codec', v)} />
        <${ChoiceField} path=${p('profile')} label="Profile" value=${rung.profile}
          options=${PROFILES[rung.codec] || PROFILES.h264} err=${err}
          onInput=${(v) => setField(index, 'profile', v)} />
        <${ChoiceField} path=${p('preset')} label="Preset" value=${rung.preset} options=${PRESETS} err=${err}
          onInput=${(v) => setField(index, 'preset', v)} />
      </div>
      <div class="rung-tools">
        <button type="button" class="secondary" data-needs="operate" disabled=${index === 0}
          aria-label=${`Move rung ${index + 1} up`} onClick=${() => move(index, -1)}>↑ Up</button>
        <button type="button" class="secondary" data-needs="operate" disabled=${index === count - 1}
          aria-label=${`Move rung ${index + 1} down`} onClick=${() => move(index, 1)}>↓ Down</button>
        <button type="button" class="secondary" data-needs="operate" disabled=${count === 1}
          aria-label=${`Remove rung ${index + 1}`} onClick=${() => remove(index)}>Remove</button>
      </div>
    </fieldset>`;
}

function LadderForm({ initial, isNew, originalId, done }) {
  const [form, setForm] = useState(initial);
  const [err, setErr] = useState(null);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);
  const formRef = useRef(null);
  useFocusInvalid(formRef, err);

  const clearFor = (slot) => setErr((e) => (e && e.slot === slot ? null : e));
  const set = (field, value) => {
    setForm((f) => ({ ...f, [field]: value }));
    clearFor(field === 'audio_mode' ? 'audio.mode' : field === 'audio_bitrate' ? 'audio.bitrate_kbps' : field);
  };
  const setField = (index, field, value) => {
    setForm((f) => ({
      ...f,
      rungs: f.rungs.map((r, i) => {
        if (i !== index) return r;
        const next = { ...r, [field]: value };
        if (field === 'codec' && !PROFILES[value].includes(r.profile)) next.profile = PROFILES[value][0];
        return next;
      }),
    }));
    setErr((e) => (e && (e.slot === `rungs[${index}].${field}` || e.slot === `rungs[${index}]`) ? null : e));
  };
  // Rungs added, moved or removed: indices change, so a message about one is stale.
  const reshape = (change) => {
    setForm((f) => ({ ...f, rungs: change(f.rungs) }));
    setErr(null);
  };
  const move = (index, by) => reshape((rungs) => {
    const next = rungs.slice();
    [next[index], next[index + by]] = [next[index + by], next[index]];
    return next;
  });
  const remove = (index) => reshape((rungs) => rungs.filter((_, i) => i !== index));
  const add = () => reshape((rungs) => [...rungs, rungBelow(rungs[rungs.length - 1])]);

  async function submit(ev) {
    ev.preventDefault();
    setBusy(true);
    setProblem('');
    setErr(null);
    const body = ladderBody(form);
    if (!isNew) body.id = originalId;
    try {
      const saved = isNew ? await api('POST', '/api/v1/ladders', body)
        : await api('PUT', ladderPath(originalId), body);
      done(`Ladder "${saved.id}" saved.`);
    } catch (e) {
      const split = splitError(e, (field) => ladderSlot(field, form, isNew));
      setErr(split.err);
      setProblem(split.problem);
      setBusy(false);
    }
  }

  async function destroy() {
    setProblem('');
    try {
      await api('DELETE', ladderPath(originalId));
      done(`Ladder "${originalId}" deleted.`);
    } catch (e) {
      setProblem(e.message);
    }
  }

  return html`
    <form id="ladder-form" class="card ladder-form" ref=${formRef} noValidate onSubmit=${submit}
      data-needs="operate" aria-labelledby="ladder-form-title">
      <h3 id="ladder-form-title">${isNew ? 'New ladder' : html`Edit ladder <code>${originalId}</code>`}</h3>
      <${Problem} text=${problem} />
      <div class="field-row">
        ${isNew && html`
          <div class="field">
            <label for="ladder-id">Id</label>
            <input id="ladder-id" value=${form.id} autocomplete="off" spellcheck="false" maxlength="32"
              onInput=${(e) => set('id', e.target.value)} ...${invalid(err, 'id', 'ladder-id-hint')} />
            <span class="hint" id="ladder-id-hint">a-z, 0-9, - and _; channels name the ladder by it</span>
            <${FieldError} err=${err} slot="id" />
          </div>`}
        <div class="field">
          <label for="ladder-name">Name</label>
          <input id="ladder-name" value=${form.name} maxlength="64" autocomplete="off"
            onInput=${(e) => set('name', e.target.value)} ...${invalid(err, 'name')} />
          <${FieldError} err=${err} slot="name" />
        </div>
      </div>

      <h4 id="rungs-title">Rungs, from the highest to the lowest</h4>
      <${FieldError} err=${err} slot="rungs" />
      <div class="rungs" role="group" aria-labelledby="rungs-title" ...${invalid(err, 'rungs')}>
        ${form.rungs.map((r, i) => html`
          ${i > 0 && html`<${StepNote} key=${`s${r.key}`} upper=${form.rungs[i - 1]} lower=${r} index=${i}
            check=${form.check_steps} />`}
          <${RungEditor} key=${r.key} rung=${r} index=${i} count=${form.rungs.length} err=${err}
            setField=${setField} move=${move} remove=${remove} />`)}
      </div>
      <div>
        <button type="button" class="secondary" id="rung-add" data-needs="operate"
          disabled=${form.rungs.length >= RUNGS_MAX} onClick=${add}>Add a rung</button>
        ${form.rungs.length >= RUNGS_MAX && html` <span class="hint">A ladder has at most ${RUNGS_MAX} rungs.</span>`}
      </div>

      <div class="check">
        <input type="checkbox" id="ladder-check-steps" checked=${form.check_steps}
          onChange=${(e) => set('check_steps', e.target.checked)} ...${invalid(err, 'check_steps')} />
        <label for="ladder-check-steps">Check the bitrate steps: each rung ${STEP_MIN_PERCENT}–${STEP_MAX_PERCENT} % below the one above</label>
      </div>
      <${FieldError} err=${err} slot="check_steps" />

      <fieldset class="audio" ...${invalid(err, 'audio')}>
        <legend>Audio</legend>
        <${FieldError} err=${err} slot="audio" />
        <div class="field-row">
          <div class="field">
            <label for="ladder-audio-mode">Mode</label>
            <select id="ladder-audio-mode" value=${form.audio_mode}
              onChange=${(e) => set('audio_mode', e.target.value)} ...${invalid(err, 'audio.mode')}>
              <option value="aac">AAC, encoded once for every rung</option>
              <option value="passthrough">Passthrough: the source's audio as it is</option>
            </select>
            <${FieldError} err=${err} slot="audio.mode" />
          </div>
          ${form.audio_mode === 'aac' && html`
            <div class="field">
              <label for="ladder-audio-bitrate">AAC bitrate (kbit/s)</label>
              <input id="ladder-audio-bitrate" type="number" inputmode="numeric" min="32" max="512"
                value=${form.audio_bitrate} onInput=${(e) => set('audio_bitrate', e.target.value)}
                ...${invalid(err, 'audio.bitrate_kbps')} />
              <${FieldError} err=${err} slot="audio.bitrate_kbps" />
            </div>`}
        </div>
      </fieldset>

      <div class="form-tools">
        <button type="submit" id="ladder-save" data-needs="operate" disabled=${busy}>${busy ? 'Saving…' : 'Save ladder'}</button>
        <a class="button secondary" href="#/ladders">Cancel</a>
        ${!isNew && html`<${ConfirmButton} id="ladder-delete" label="Delete ladder" needs="operate" yes="Yes, delete"
          question=${`Delete ladder "${originalId}"?`} onConfirm=${destroy} />`}
      </div>
    </form>`;
}

function LadderEditor({ session, path, done }) {
  const isNew = path === 'new' || path.startsWith('new/');
  const source = isNew ? path.slice(4) : path;
  const load = useCallback(() => (source ? api('GET', ladderPath(source)) : Promise.resolve(null)), [source]);
  const { data, error, loading } = useLoad(load);
  const initial = useMemo(() => (isNew ? ladderForm(data || BLANK, true)
    : data && ladderForm(data, false)), [data, isNew]);

  let body;
  if (error) body = html`<${Problem} text=${error} />`;
  else if (loading || (!isNew && !data)) body = html`<p class="hint" aria-live="polite">Loading…</p>`;
  else if (isNew && !can(session, 'operate')) body = html`<p class="hint">Creating a ladder needs the operate permission.</p>`;
  else if (isNew || (can(session, 'operate') && !data.builtin)) {
    body = html`
      ${isNew && data && html`<p class="message info" role="status">Starting from "${data.name}" (<code>${data.id}</code>): give the new ladder its own id and name.</p>`}
      <${LadderForm} initial=${initial} isNew=${isNew} originalId=${isNew ? null : data.id} done=${done} />`;
  } else {
    body = html`<${LadderView} ladder=${data} session=${session} />`;
  }
  return html`
    <div class="bar">
      <h2 id="ladders-title">${isNew ? 'New ladder' : 'Ladder'}</h2>
      <a href="#/ladders">All ladders</a>
    </div>
    ${body}`;
}

export function Ladders({ session, path }) {
  const [notice, setNotice] = useState('');
  useEffect(() => { if (path) setNotice(''); }, [path]);
  const done = useCallback((text) => {
    setNotice(text);
    location.hash = '#/ladders';
  }, []);
  return html`
    <section id="ladders" aria-labelledby="ladders-title">
      ${path
        ? html`<${LadderEditor} key=${path} session=${session} path=${path} done=${done} />`
        : html`<${LadderList} session=${session} notice=${notice} />`}
    </section>`;
}
