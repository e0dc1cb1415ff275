// The event log: what happened on the box, newest first, live. The page loads the latest
// events (GET /api/v1/events) and puts each new one on top as the live feed brings it; the
// filters (level at least, channel, kind prefix) apply to both. Paused, new events wait
// (counted) until the operator resumes; "Load older" pages back with `before`.
import { useCallback, useEffect, useRef, useState } from '../../vendor/hooks.js';
import { html } from '../html.js';
import { api } from '../api.js';
import { Problem } from '../common.js';
import { subscribe, useLinkState } from '../live.js';
import { Time } from '../system-ui.js';

const PAGE = 100;
// Live events past this many rows drop off the bottom ("Load older" brings them back).
const MAX_ROWS = 1000;
const LEVELS = ['info', 'warning', 'error'];
const KINDS = ['box.', 'channel.', 'channel.state', 'channel.created', 'channel.updated', 'channel.deleted',
  'channel.started', 'channel.stopped', 'channel.note', 'access.changed', 'settings.changed'];
const NO_FILTER = { level: 'info', channel: '', kind: '' };

function filtered(f) {
  return f.level !== NO_FILTER.level || !!f.channel || !!f.kind;
}

function matches(ev, f) {
  return LEVELS.indexOf(ev.level) >= LEVELS.indexOf(f.level) &&
    (!f.channel || ev.channel === f.channel) &&
    (!f.kind || ev.kind.startsWith(f.kind));
}

function query(f, before) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (f.level !== 'info') q.set('level', f.level);
  if (f.channel) q.set('channel', f.channel);
  if (f.kind) q.set('kind', f.kind);
  if (before) q.set('before', String(before));
  return `/api/v1/events?${q}`;
}

// Newest first, each seq once.
function merge(a, b) {
  const bySeq = new Map();
  for (const ev of a.concat(b)) bySeq.set(ev.seq, ev);
  return [...bySeq.values()].sort((x, y) => y.seq - x.seq).slice(0, MAX_ROWS);
}

function problemText(e) {
  if (e.status === 404 && e.code === 'not_found' && /\/api\/v1\/events/.test(e.message)) {
    return 'This box keeps no event log (GET /api/v1/events is not there): update its firmware.';
  }
  return e.message;
}

const LINK_TEXT = {
  open: 'Live: new events appear as they happen.',
  connecting: 'Connecting to the live feed…',
  down: 'The live feed is down; the console tries again. Events still load with Refresh.',
};

function EventRow({ ev }) {
  return html`
    <tr data-seq=${ev.seq} data-level=${ev.level} class=${`ev ev-${ev.level}`}>
      <td data-label="Time"><${Time} at=${ev.at} /></td>
      <td data-label="Level"><span class=${`level level-${ev.level}`}>${ev.level}</span></td>
      <td data-label="Kind"><code>${ev.kind}</code></td>
      <td data-label="Channel" class="ev-channel">${ev.channel
        ? html`<a href=${`#/channels/${encodeURIComponent(ev.channel)}`}>${ev.channel}</a>`
        : html`<span class="muted">—</span>`}</td>
      <td data-label="Message" class="ev-message">${ev.message}</td>
    </tr>`;
}

// channels: the box's channels ({id, name}); seen: channel ids the listed events name (a
// channel made or deleted since the page loaded).
function Filters({ filter, channels, seen, onChange }) {
  const [kind, setKind] = useState(filter.kind);
  useEffect(() => setKind(filter.kind), [filter.kind]);
  const submit = (ev) => {
    ev.preventDefault();
    onChange({ ...filter, kind: kind.trim() });
  };
  const known = (channels || []).slice();
  for (const id of [filter.channel, ...seen]) {
    if (id && !known.some((c) => c.id === id)) known.push({ id, name: id });
  }
  return html`
    <form class="filters" id="event-filters" onSubmit=${submit} aria-label="Filter events">
      <div class="filter">
        <label for="events-level">Level at least</label>
        <select id="events-level" value=${filter.level} onChange=${(ev) => onChange({ ...filter, level: ev.target.value })}>
          <option value="info">info (all)</option>
          <option value="warning">warning</option>
          <option value="error">error</option>
        </select>
      </div>
      <div class="filter">
        <label for="events-channel">Channel</label>
        <select id="events-channel" value=${filter.channel} onChange=${(ev) => onChange({ ...filter, channel: ev.target.value })}>
          <option value="">all channels and the box</option>
          ${known.map((c) => html`<option key=${c.id} value=${c.id}>${c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id}</option>`)}
        </select>
      </div>
      <div class="filter">
        <label for="events-kind">Kind starts with</label>
        <div class="inline">
          <input id="events-kind" list="events-kinds" value=${kind} maxlength="31" placeholder="channel.state" autocomplete="off"
            spellcheck="false" onInput=${(ev) => setKind(ev.target.value)}
            onChange=${(ev) => onChange({ ...filter, kind: ev.target.value.trim() })} />
          <datalist id="events-kinds">${KINDS.map((k) => html`<option key=${k} value=${k} />`)}</datalist>
          <button type="submit" class="secondary">Apply</button>
        </div>
      </div>
      ${filtered(filter) && html`
        <div class="filter"><button type="button" class="secondary" onClick=${() => onChange(NO_FILTER)}>Clear filters</button></div>`}
    </form>`;
}

export function Events({ path }) {
  const [filter, setFilter] = useState(() => ({ ...NO_FILTER, channel: path || '' }));
  const [events, setEvents] = useState([]);
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState('');
  const [oldest, setOldest] = useState(false);
  const [paused, setPaused] = useState(false);
  const [waiting, setWaiting] = useState([]);
  const [channels, setChannels] = useState(null);
  const link = useLinkState();
  // The live callback reads these, so the feed is subscribed to once per page.
  const filterRef = useRef(filter);
  const pausedRef = useRef(paused);
  filterRef.current = filter;
  pausedRef.current = paused;
  // Each load gets a number: an answer to an older load (the filter changed since) is dropped.
  const loadRef = useRef(0);

  const load = useCallback(async (f, before) => {
    const mine = ++loadRef.current;
    setLoading(true);
    setProblem('');
    try {
      const page = (await api('GET', query(f, before))).events;
      if (mine !== loadRef.current) return;
      setEvents((had) => merge(had, page));
      setOldest(page.length < PAGE);
    } catch (e) {
      if (mine === loadRef.current) setProblem(problemText(e));
    } finally {
      if (mine === loadRef.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    setEvents([]);
    setWaiting([]);
    load(filter, null);
  }, [filter, load]);

  useEffect(() => subscribe('event', (ev) => {
    if (!ev || !matches(ev, filterRef.current)) return;
    if (pausedRef.current) setWaiting((w) => merge(w, [ev]));
    else setEvents((had) => merge(had, [ev]));
  }), []);

  useEffect(() => {
    api('GET', '/api/v1/channels').then((r) => setChannels(r.channels.map((c) => ({ id: c.id, name: c.name }))),
      () => setChannels([]));
  }, []);

  // A filter that says what the current one says changes nothing (Enter in the kind field
  // both submits the form and fires its change event).
  const applyFilter = (f) => setFilter((had) => (had.level === f.level && had.channel === f.channel &&
    had.kind === f.kind ? had : f));
  const togglePause = () => {
    if (paused) {
      setEvents((had) => merge(had, waiting));
      setWaiting([]);
    }
    setPaused(!paused);
  };
  const older = () => load(filter, Math.min(...events.map((ev) => ev.seq)));
  const refresh = () => {
    setEvents([]);
    setWaiting([]);
    load(filter, null);
  };

  const seen = [...new Set(events.map((ev) => ev.channel).filter(Boolean))].sort();

  return html`
    <section id="events" aria-labelledby="events-title">
      <div class="bar">
        <h2 id="events-title">Events</h2>
        <div class="actions">
          <button type="button" class="secondary" id="events-pause" aria-pressed=${paused ? 'true' : 'false'}
            onClick=${togglePause}>${paused ? `Resume${waiting.length ? ` (${waiting.length} new)` : ''}` : 'Pause'}</button>
          <button type="button" class="secondary" id="refresh" onClick=${refresh} disabled=${loading}>
            ${loading ? 'Loading…' : 'Refresh'}</button>
        </div>
      </div>
      <p class=${`link-state link-${link}`} id="events-link" role="status">
        ${paused ? `Paused: ${waiting.length} new event${waiting.length === 1 ? '' : 's'} waiting.` : LINK_TEXT[link]}</p>
      <div class="card">
        <${Filters} filter=${filter} channels=${channels} seen=${seen} onChange=${applyFilter} />
        <${Problem} text=${problem} />
        ${events.length > 0 && html`
          <table class="rtable" id="event-log">
            <thead><tr><th scope="col">Time</th><th scope="col">Level</th><th scope="col">Kind</th>
              <th scope="col">Channel</th><th scope="col">Message</th></tr></thead>
            <tbody>${events.map((ev) => html`<${EventRow} key=${ev.seq} ev=${ev} />`)}</tbody>
          </table>`}
        ${!loading && !problem && !events.length && html`<p class="hint" id="events-none">No events match these filters.</p>`}
        ${events.length > 0 && html`
          <div class="actions">
            ${oldest
              ? html`<p class="hint">No older events${filtered(filter) ? ' match' : ''}.</p>`
              : html`<button type="button" class="secondary" id="events-older" onClick=${older} disabled=${loading}>Load older</button>`}
          </div>`}
      </div>
    </section>`;
}
