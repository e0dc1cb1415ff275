// The audit log (admin only): who did what, newest first, a page at a time (GET
// /api/v1/audit?limit=N&before=ID; "More" asks for the records before the oldest shown).
import { useCallback, useEffect, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { Problem } from './common.js';
import { Time } from './system-ui.js';

const PAGE = 50;

function value(v) {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// The record's detail in words: settings.update's {name: {from, to}} as "name: a → b",
// anything else as "key: value".
function Detail({ detail }) {
  if (!detail || typeof detail !== 'object') return html`<span class="muted">—</span>`;
  const lines = Object.entries(detail).map(([k, v]) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && 'from' in v && 'to' in v) {
      return `${k}: ${value(v.from)} → ${value(v.to)}`;
    }
    return `${k}: ${value(v)}`;
  });
  return html`${lines.map((l, i) => html`<div key=${i}>${l}</div>`)}`;
}

export function AuditView() {
  const [records, setRecords] = useState([]);
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState('');
  const [oldest, setOldest] = useState(false); // the last page came back short: nothing older

  const load = useCallback(async (before) => {
    setLoading(true);
    setProblem('');
    try {
      const query = `limit=${PAGE}${before ? `&before=${before}` : ''}`;
      const page = (await api('GET', `/api/v1/audit?${query}`)).records;
      setRecords((had) => (before ? had.concat(page) : page));
      setOldest(page.length < PAGE);
    } catch (e) {
      setProblem(e.message);
    } finally {
      setLoading(false);
    }
  }, []);
  useEffect(() => { load(null); }, [load]);

  const more = () => load(Math.min(...records.map((r) => r.id)));

  return html`
    <div class="card" id="audit">
      <div class="bar">
        <h3>Audit log</h3>
        <button type="button" class="secondary" id="refresh" onClick=${() => load(null)} disabled=${loading}>
          ${loading ? 'Loading…' : 'Refresh'}</button>
      </div>
      <p class="hint">Logins, users, API keys and settings: who did what, from where, newest first.</p>
      <${Problem} text=${problem} />
      <table class="rtable" id="audit-table">
        <thead><tr><th scope="col">Time</th><th scope="col">Who</th><th scope="col">Action</th>
          <th scope="col">Target</th><th scope="col">Result</th><th scope="col">From</th><th scope="col">Detail</th></tr></thead>
        <tbody>${records.map((r) => html`
          <tr key=${r.id} data-audit=${r.id} class=${r.result === 'denied' ? 'denied' : ''}>
            <td data-label="Time"><${Time} at=${r.at} /></td>
            <td data-label="Who">${r.actor}</td>
            <td data-label="Action"><code>${r.action}</code></td>
            <td data-label="Target">${r.target === null ? html`<span class="muted">—</span>` : r.target}</td>
            <td data-label="Result"><span class=${`result result-${r.result}`}>${r.result}</span></td>
            <td data-label="From">${r.remote_addr || html`<span class="muted">on the box</span>`}</td>
            <td data-label="Detail"><${Detail} detail=${r.detail} /></td>
          </tr>`)}
        </tbody>
      </table>
      ${!loading && !records.length && !problem && html`<p class="hint">No records.</p>`}
      <div class="actions">
        ${oldest
          ? records.length > 0 && html`<p class="hint">That is the oldest record the box keeps.</p>`
          : html`<button type="button" class="secondary" id="audit-more" onClick=${more} disabled=${loading}>More</button>`}
      </div>
    </div>`;
}
