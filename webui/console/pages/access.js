// The access page: who may play premium content and for how long. The policy (risk classes
// and token lifetimes, editable by an admin), the token signing keys (admin only), the
// revocations, a tool that makes a test playback URL (issue permission), and the counters of
// the box's playback decisions.
import { useState } from '../../vendor/hooks.js';
import { html } from '../html.js';
import { api } from '../api.js';
import { useLoad, Problem, can } from '../common.js';
import { PolicyCard } from '../access-policy.js';
import { KeysCard } from '../access-keys.js';
import { RevocationsCard } from '../access-revocations.js';
import { TokenCard } from '../access-token.js';

const loadPolicy = () => api('GET', '/api/v1/access/policy');
const loadStats = () => api('GET', '/api/v1/access/stats');

// Why the origin refused a request, in words (AccessStats.denied).
const DENIALS = {
  missing: 'no token',
  malformed: 'malformed token',
  expired: 'expired',
  not_yet_valid: 'not yet valid',
  bad_signature: 'bad signature (unknown or retired key)',
  outside_acl: 'outside the token\'s path',
  address: 'other client address',
  revoked: 'revoked',
  too_many_sessions: 'too many sessions for the viewer',
};

function StatsCard() {
  const { data: s, error, loading, reload } = useLoad(loadStats);
  const denied = s ? Object.values(s.denied).reduce((a, b) => a + b, 0) : 0;
  const lookups = s ? s.cache.hits + s.cache.misses : 0;
  return html`
    <div class="card" id="access-stats">
      <div class="bar">
        <h3 id="stats-title">Playback decisions since the box started</h3>
        <button type="button" class="secondary" id="stats-refresh" onClick=${reload} disabled=${loading}>
          ${loading ? 'Loading…' : 'Refresh counts'}</button>
      </div>
      <${Problem} text=${error} />
      ${s && html`
        <div class="stats-grid">
          <dl>
            <dt>Allowed</dt><dd id="stats-allowed">${s.allowed}</dd>
            <dt>Denied</dt><dd id="stats-denied">${denied}</dd>
            <dt>Viewer sessions now</dt><dd>${s.sessions}</dd>
            <dt>Keys in the ring</dt><dd>${s.keys}</dd>
            <dt>Decision cache</dt><dd>${s.cache.entries} of ${s.cache.capacity} entries; ${s.cache.hits} hits,
              ${' '}${s.cache.misses} misses${lookups ? ` (${Math.round(100 * s.cache.hits / lookups)} % hits)` : ''}</dd>
            <dt>Access generation</dt><dd>${s.generation}</dd>
          </dl>
          <table id="stats-denials">
            <caption class="sr-only">Denied requests by reason</caption>
            <thead><tr><th scope="col">Denied because</th><th scope="col" class="num">Requests</th></tr></thead>
            <tbody>${Object.entries(s.denied).map(([reason, n]) => html`
              <tr key=${reason} class=${n ? '' : 'off'}>
                <td>${DENIALS[reason] || reason}</td><td class="num">${n}</td>
              </tr>`)}</tbody>
          </table>
        </div>`}
    </div>`;
}

export function Access({ session }) {
  const { data, error } = useLoad(loadPolicy);
  const [saved, setSaved] = useState(null);
  const policy = saved || data;
  return html`
    <section id="access" aria-labelledby="access-title">
      <div class="bar"><h2 id="access-title">Access</h2></div>
      <p class="hint">Premium channels play only with a playback token: signed with one of the
        keys below, alive for its risk class's lifetime, and not revoked.</p>
      <${Problem} text=${error} />
      ${policy && html`<${PolicyCard} session=${session} policy=${policy} onSaved=${setSaved} />`}
      <${KeysCard} admin=${can(session, 'admin')} />
      <${RevocationsCard} session=${session} />
      ${policy && (can(session, 'issue')
        ? html`<${TokenCard} policy=${policy} />`
        : html`<div class="card" id="test-url"><h3>Make a test playback URL</h3>
            <p class="hint">Issuing playback tokens needs the issue permission.</p></div>`)}
      <${StatsCard} />
    </section>`;
}
