// A channel's recent events: the last ones the box kept (GET /api/v1/events?channel=ID),
// then each new one as the live feed pushes it, newest first.
import { useEffect, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { subscribe } from './live.js';

const LIMIT = 50;

function time(at) {
  const d = new Date(typeof at === 'number' && at < 1e11 ? at * 1000 : at);
  if (Number.isNaN(d.getTime())) return String(at || '');
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

function merge(list, more) {
  const bySeq = new Map();
  for (const e of [...list, ...more]) bySeq.set(e.seq ?? `${e.at}|${e.kind}|${e.message}`, e);
  return [...bySeq.values()].sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0) ||
    String(b.at).localeCompare(String(a.at))).slice(0, LIMIT);
}

export function ChannelEvents({ id }) {
  const [events, setEvents] = useState([]);
  const [problem, setProblem] = useState('');
  const [loaded, setLoaded] = useState(false);

  useEffect(() => {
    let live = true;
    const off = subscribe('event', (e) => {
      if (!e || e.channel !== id) return;
      setEvents((list) => merge(list, [e]));
    });
    api('GET', `/api/v1/events?channel=${encodeURIComponent(id)}&limit=${LIMIT}`).then((answer) => {
      if (!live) return;
      const list = Array.isArray(answer) ? answer : (answer && answer.events) || [];
      setEvents((cur) => merge(cur, list));
      setLoaded(true);
    }, (e) => {
      if (!live) return;
      setProblem(e.status === 404 ? 'This box keeps no event log yet.' : `The events did not load: ${e.message}`);
      setLoaded(true);
    });
    return () => {
      live = false;
      off();
    };
  }, [id]);

  return html`
    <div id="channel-events">
      ${problem ? html`<p class="hint">${problem}</p>` : null}
      ${loaded && !events.length && !problem ? html`<p class="hint">No events for this channel yet.</p>` : null}
      ${events.length ? html`
        <ol class="events">
          ${events.map((e) => html`
            <li key=${e.seq ?? `${e.at}${e.kind}`} class=${`event level-${e.level || 'info'}`}>
              <time datetime=${typeof e.at === 'string' ? e.at : null}>${time(e.at)}</time>
              <span class=${`level level-${e.level || 'info'}`}>${e.level || 'info'}</span>
              <span class="kind">${e.kind}</span>
              <span class="text">${e.message}</span>
            </li>`)}
        </ol>` : null}
    </div>`;
}
