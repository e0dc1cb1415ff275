// "Make a test playback URL" on the access page (issue permission): a token for a premium
// channel from POST /api/v1/playback-tokens, its URL to copy, its expiry, and a link that
// opens the channel's preview with it (#/channels/ID/token/TOKEN, the channel page plays it).
import { useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { useLoad, Problem } from './common.js';
import {
  CopyField, FieldError, invalid, lifetime, numberOf, splitError, useFocusInvalid, when,
} from './ladder-fields.js';

const loadChannels = () => api('GET', '/api/v1/channels').then((d) => d.channels);
const TOKEN_FIELDS = ['risk_class', 'ttl_seconds', 'viewer_id'];

export function previewHref(channelId, token) {
  return `#/channels/${encodeURIComponent(channelId)}/token/${encodeURIComponent(token)}`;
}

function Issued({ token, channel }) {
  return html`
    <div class="issued" id="token-result" role="status">
      <${CopyField} id="token-url" label=${`Playback URL for "${channel.name}"`} value=${token.url} />
      <dl>
        <dt>Expires</dt><dd id="token-expires">${when(token.expires_at)} <span class="muted">(${token.expires_at}, after ${lifetime(token.ttl_seconds)})</span></dd>
        <dt>Risk class</dt><dd>${token.risk_class}</dd>
        <dt>Token id</dt><dd><code>${token.token_id}</code> <span class="muted">(revoke this id to stop it)</span></dd>
        <dt>Signed with</dt><dd>key <code>${token.key_id}</code></dd>
      </dl>
      <p><a class="button" id="token-preview" href=${previewHref(channel.id, token.token)}>Open in preview</a></p>
    </div>`;
}

function TokenForm({ channels, policy }) {
  const [channelId, setChannelId] = useState(channels[0].id);
  const [risk, setRisk] = useState('');
  const [ttl, setTtl] = useState('');
  const [viewer, setViewer] = useState('');
  const [err, setErr] = useState(null);
  const [problem, setProblem] = useState('');
  const [busy, setBusy] = useState(false);
  const [issued, setIssued] = useState(null);
  const formRef = useRef(null);
  useFocusInvalid(formRef, err);
  const clear = (slot) => setErr((e) => (e && e.slot === slot ? null : e));

  const channel = channels.find((c) => c.id === channelId) || channels[0];
  const channelClass = channel.risk_class || policy.default_risk_class;
  const cls = policy.risk_classes[risk || channelClass];

  async function submit(ev) {
    ev.preventDefault();
    setErr(null);
    setProblem('');
    setIssued(null);
    const body = { path: channel.playback.hls };
    if (risk) body.risk_class = risk;
    if (ttl.trim()) body.ttl_seconds = numberOf(ttl);
    if (viewer.trim()) body.viewer_id = viewer.trim();
    setBusy(true);
    try {
      setIssued({ token: await api('POST', '/api/v1/playback-tokens', body), channel });
    } catch (e) {
      const split = splitError(e, (field) => (field === 'path' ? 'path' : TOKEN_FIELDS.includes(field) ? field : null));
      setErr(split.err);
      setProblem(split.problem);
    }
    setBusy(false);
  }

  const ttlText = (c) => (c ? `${lifetime(c.ttl_seconds)}, at most ${lifetime(c.max_ttl_seconds)}` : '');
  return html`
    <form id="token-form" ref=${formRef} noValidate onSubmit=${submit} data-needs="issue"
      aria-labelledby="token-title">
      <${Problem} text=${problem} />
      <div class="field-row">
        <div class="field">
          <label for="tok-channel">Premium channel</label>
          <select id="tok-channel" value=${channelId} onChange=${(e) => { setChannelId(e.target.value); clear('path'); }}
            ...${invalid(err, 'path')}>
            ${channels.map((c) => html`<option key=${c.id} value=${c.id}>${c.name}${c.name !== c.id ? ` (${c.id})` : ''}</option>`)}
          </select>
          <${FieldError} err=${err} slot="path" />
        </div>
        <div class="field">
          <label for="tok-risk">Risk class</label>
          <select id="tok-risk" value=${risk} onChange=${(e) => { setRisk(e.target.value); clear('risk_class'); }}
            ...${invalid(err, 'risk_class')}>
            <option value="">The channel's: ${channelClass}</option>
            ${Object.keys(policy.risk_classes).map((n) => html`<option key=${n} value=${n}>${n}</option>`)}
          </select>
          <${FieldError} err=${err} slot="risk_class" />
        </div>
        <div class="field">
          <label for="tok-ttl">Lifetime in seconds (empty: the class's)</label>
          <input id="tok-ttl" type="number" inputmode="numeric" min="1" value=${ttl}
            placeholder=${cls ? String(cls.ttl_seconds) : ''}
            onInput=${(e) => { setTtl(e.target.value); clear('ttl_seconds'); }} ...${invalid(err, 'ttl_seconds', 'tok-ttl-hint')} />
          <span class="hint" id="tok-ttl-hint">${cls ? `class ${risk || channelClass}: ${ttlText(cls)}` : ''}</span>
          <${FieldError} err=${err} slot="ttl_seconds" />
        </div>
        <div class="field">
          <label for="tok-viewer">Viewer id (optional)</label>
          <input id="tok-viewer" value=${viewer} maxlength="64" autocomplete="off" spellcheck="false"
            onInput=${(e) => { setViewer(e.target.value); clear('viewer_id'); }} ...${invalid(err, 'viewer_id')} />
          <${FieldError} err=${err} slot="viewer_id" />
        </div>
      </div>
      <div class="form-tools">
        <button type="submit" id="token-issue" data-needs="issue" disabled=${busy}>Make a test URL</button>
      </div>
      ${issued && html`<${Issued} token=${issued.token} channel=${issued.channel} />`}
    </form>`;
}

// policy: the access policy in force (its risk classes).
export function TokenCard({ policy }) {
  const { data: channels, error } = useLoad(loadChannels);
  const premium = channels ? channels.filter((c) => c.access === 'premium') : null;
  return html`
    <div class="card" id="test-url">
      <h3 id="token-title">Make a test playback URL</h3>
      <${Problem} text=${error} />
      <p class="hint">Issues a real playback token for a premium channel, signed with the signing
        key, as a paywall or CMS would get it; anyone holding the URL can play the channel until
        the token expires.</p>
      ${premium && (premium.length ? html`<${TokenForm} channels=${premium} policy=${policy} />`
        : html`<p class="hint" id="token-no-channel">No premium channel: a playback token is for a
          channel whose access is premium (set on its <a href="#/channels">channel page</a>).</p>`)}
    </div>`;
}
