// The channels: #/channels lists them, #/channels/new creates one, #/channels/ID is one
// channel (its live status, start, stop and delete, a preview, its recent events and its
// settings) and #/channels/ID/token/TOKEN the same with the preview playing TOKEN (the
// Access page's "test playback URL" links there).
import { useCallback, useMemo, useState } from '../../vendor/hooks.js';
import { html } from '../html.js';
import { api } from '../api.js';
import { useLoad, Problem, can } from '../common.js';
import { useLiveChannels, StateBadge, InputHealth, LinkState, isRunning, since, kbps, fps, speed, age,
  useTick } from '../channel-status.js';
import { summary } from '../channel-url.js';
import { ChannelForm, ChannelSettings } from '../channel-form.js';
import { ChannelEvents } from '../channel-events.js';
import { Preview } from '../preview.js';

const channelHref = (id) => `#/channels/${encodeURIComponent(id)}`;
const loadList = () => api('GET', '/api/v1/channels').then((a) => a.channels);
const loadLadders = () => api('GET', '/api/v1/ladders').then((a) => a.ladders);

function ChannelList({ session }) {
  const { data, error, loading } = useLoad(loadList);
  const { channels } = useLiveChannels(data);
  const operate = can(session, 'operate');
  return html`
    <section id="channels" aria-labelledby="channels-title">
      <div class="bar"><h2 id="channels-title">Channels</h2>
        <span class="bar-end"><${LinkState} />${operate
          ? html`<a class="button" id="new-channel" data-needs="operate" href="#/channels/new">New channel</a>` : null}</span></div>
      <${Problem} text=${error} />
      ${loading && !data ? html`<p class="hint">Loading…</p>` : null}
      ${channels && !channels.length ? html`<div class="card"><p class="hint">No channels yet.${operate
        ? html` <a href="#/channels/new" data-needs="operate">Create the first one</a>.` : null}</p></div>` : null}
      ${channels && channels.length ? html`
        <div class="card">
          <table class="channels channel-list">
            <thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Input</th>
              <th scope="col">Ladder</th><th scope="col">Access</th><th scope="col">Playback</th></tr></thead>
            <tbody>
              ${channels.map((ch) => html`
                <tr key=${ch.id} data-channel=${ch.id}>
                  <td data-label="Name"><a href=${channelHref(ch.id)}>${ch.name}</a>${ch.name !== ch.id
                    ? html` <span class="muted">(${ch.id})</span>` : null}</td>
                  <td data-label="State"><${StateBadge} status=${ch.status} />
                    ${ch.status && ch.status.reason ? html`<div class="reason small">${ch.status.reason}</div>` : null}</td>
                  <td data-label="Input">${ch.input ? html`<span title=${ch.input.url}>${summary(ch.input.url)}</span>` : '—'}
                    ${ch.input && ch.input.backup_url ? html`<div class="muted small">backup ${summary(ch.input.backup_url)}</div>` : null}</td>
                  <td data-label="Ladder">${ch.ladder || '—'}</td>
                  <td data-label="Access">${ch.access || '—'}</td>
                  <td data-label="Playback">${ch.playback ? html`<code>${ch.playback.hls}</code>` : '—'}</td>
                </tr>`)}
            </tbody>
          </table>
        </div>` : null}
    </section>`;
}

function NewChannel({ session }) {
  const { data: ladders, error } = useLoad(loadLadders);
  const saved = (ch) => { location.hash = channelHref(ch.id); };
  return html`
    <section id="channels" aria-labelledby="channels-title">
      <div class="bar"><h2 id="channels-title">New channel</h2><a href="#/channels">All channels</a></div>
      <${Problem} text=${error} />
      ${can(session, 'operate')
        ? html`<div class="card"><${ChannelForm} channel=${null} ladders=${ladders} onSaved=${saved} /></div>`
        : html`<p class="message bad" role="alert">Creating a channel needs the operate permission.</p>`}
    </section>`;
}

// The status panel: state, input, every rung, the audio, where it runs, what the engine changed.
function StatusPanel({ status }) {
  useTick(5000);
  const s = status || { state: 'stopped' };
  const rungs = s.rungs || [];
  return html`
    <div id="status-panel">
      <p class="state-line"><${StateBadge} status=${s} /> <span id="status-reason">${s.reason || (s.state === 'stopped' ? 'Not running.' : '')}</span>
        ${s.since ? html` <span class="muted small">since ${since(s.since)}</span>` : null}</p>
      ${s.input ? html`
        <h4>Input</h4>
        <${InputHealth} status=${s} />
        ${s.input.url ? html`<p class="small muted">from <code>${s.input.url}</code></p>` : null}` : null}
      ${rungs.length ? html`
        <h4>Renditions</h4>
        <table class="rung-table">
          <thead><tr><th scope="col">Rung</th><th scope="col">fps</th><th scope="col">Speed</th>
            <th scope="col">Bitrate</th><th scope="col">Encoder</th><th scope="col">Frames</th>
            <th scope="col" title="frames dropped / queue depth">Drop / queue</th></tr></thead>
          <tbody>
            ${rungs.map((r) => html`
              <tr key=${r.name} data-rung=${r.name}>
                <td data-label="Rung">${r.name} <span class="muted">${r.width}×${r.height}</span></td>
                <td data-label="fps" data-stat="fps">${r.fps === undefined || r.fps === null ? '—' : Number(r.fps).toFixed(1)}</td>
                <td data-label="Speed">${speed(r.speed)}</td>
                <td data-label="Bitrate" data-stat="bitrate">${kbps(r.bitrate_kbps)}
                  <span class="muted sub">of ${kbps(r.target_kbps)}</span></td>
                <td data-label="Encoder">${r.encoder || '—'}${r.backend ? html` <span class="muted sub">${r.backend}</span>` : null}</td>
                <td data-label="Frames" data-stat="frames">${r.frames ?? '—'}</td>
                <td data-label="Drop / queue"><span class=${r.dropped_frames ? 'stale' : ''}>${r.dropped_frames ?? '—'}</span>${
                  ' / '}${r.queue_depth ?? '—'}</td>
              </tr>`)}
          </tbody>
        </table>` : null}
      ${s.audio ? html`<p class="small">Audio: ${s.audio.encoder} ${kbps(s.audio.bitrate_kbps)}
        <span class="muted">(${kbps(s.audio.target_kbps)}), speed ${speed(s.audio.speed)}</span></p>` : null}
      ${s.placement ? html`<p class="small">Runs on <strong>${s.placement.backend}</strong>${s.placement.device
        ? ` (${s.placement.device})` : ''}: ${s.placement.pipeline}.</p>` : null}
      ${s.notes && s.notes.length ? html`<ul class="notes small">${s.notes.map((n) => html`<li key=${n}>${n}</li>`)}</ul>` : null}
      ${s.backend_failures && s.backend_failures.length ? html`
        <h4>Backend failures</h4>
        <ul class="small">${s.backend_failures.map((b) => html`<li key=${b.at_ms}>${b.backend}: ${b.reason}
          <span class="muted">${since(new Date(b.at_ms).toISOString())}</span></li>`)}</ul>` : null}
      ${s.input && s.input.last_packet_age_ms !== undefined && s.state !== 'stopped'
        ? html`<p class="small muted">Last packet ${age(s.input.last_packet_age_ms)} ago${s.epoch ? `, discontinuity ${s.epoch}` : ''}.</p>` : null}
    </div>`;
}

// An action that asks first, in the page: [Stop] -> "Stop channel X? [Stop channel] [Cancel]".
function Confirm({ text, yes, onYes, onNo, busy }) {
  return html`
    <div class="channel-confirm" role="alertdialog" aria-label=${text} id="confirm">
      <p>${text}</p>
      <button type="button" class="danger" id="confirm-yes" data-needs="operate" onClick=${onYes} disabled=${busy}>${yes}</button>
      <button type="button" class="secondary" id="confirm-no" onClick=${onNo}>Cancel</button>
    </div>`;
}

function ChannelPage({ id, token, session }) {
  const load = useCallback(() => Promise.all([
    api('GET', `/api/v1/channels/${encodeURIComponent(id)}`),
    api('GET', '/api/v1/ladders').then((a) => a.ladders, () => []),
  ]).then(([channel, ladders]) => ({ channel, ladders })), [id]);
  const { data, error } = useLoad(load);
  // The channel as the last answer gave it (a start, stop or save), else as loaded.
  const [doc, setDoc] = useState(null);
  const [asking, setAsking] = useState(null); // 'stop' | 'delete'
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const channel = doc || (data && data.channel);
  // useLiveChannels takes snapshots older than the list's last change for stale.
  const list = useMemo(() => (channel ? [channel] : null), [channel]);
  const { channels, pushed } = useLiveChannels(list);
  const live = channels && channels.find((c) => c.id === id);
  const operate = can(session, 'operate');

  if (error) {
    return html`
      <section id="channels" aria-labelledby="channels-title">
        <div class="bar"><h2 id="channels-title">Channel ${id}</h2><a href="#/channels">All channels</a></div>
        <${Problem} text=${error} />
      </section>`;
  }
  if (!live && pushed) {
    return html`
      <section id="channels" aria-labelledby="channels-title">
        <div class="bar"><h2 id="channels-title">Channel ${id}</h2><a href="#/channels">All channels</a></div>
        <p class="message info" role="status">This channel was deleted.</p>
      </section>`;
  }
  if (!live) return html`<section id="channels"><p class="hint">Loading…</p></section>`;
  const status = live.status || { state: 'stopped' };
  const running = isRunning(status);

  async function act(what) {
    setBusy(true);
    setProblem('');
    try {
      if (what === 'delete') {
        await api('DELETE', `/api/v1/channels/${encodeURIComponent(id)}`);
        location.hash = '#/channels';
        return;
      }
      setDoc(await api('POST', `/api/v1/channels/${encodeURIComponent(id)}/${what}`));
      setAsking(null);
    } catch (e) {
      setProblem(e.message);
    }
    setBusy(false);
  }

  return html`
    <section id="channels" class="channel-page" aria-labelledby="channels-title" data-channel=${id}>
      <div class="bar">
        <h2 id="channels-title">${live.name} <span class="muted small">(${channel.id})</span> <${StateBadge} status=${status} /></h2>
        <span class="bar-end"><${LinkState} /><a href="#/channels">All channels</a></span>
      </div>
      ${operate ? html`
        <div class="toolbar">
          ${!running ? html`<button type="button" id="start" data-needs="operate" onClick=${() => act('start')} disabled=${busy}>Start</button>`
            : html`<button type="button" id="stop" data-needs="operate" class="secondary" onClick=${() => setAsking('stop')} disabled=${busy}>Stop</button>`}
          <button type="button" id="delete" data-needs="operate" class="secondary danger-text" onClick=${() => setAsking('delete')} disabled=${busy}>Delete</button>
        </div>` : null}
      ${asking === 'stop' && operate ? html`<${Confirm} busy=${busy} yes="Stop channel" onYes=${() => act('stop')} onNo=${() => setAsking(null)}
        text=${`Stop ${live.name}? Its playlists end and viewers lose the stream until it starts again.`} />` : null}
      ${asking === 'delete' && operate ? html`<${Confirm} busy=${busy} yes="Delete channel" onYes=${() => act('delete')} onNo=${() => setAsking(null)}
        text=${`Delete ${live.name}? Its configuration is removed; this cannot be undone.`} />` : null}
      <${Problem} text=${problem} />
      <div class="channel-grid">
        <div class="card">
          <h3>Preview</h3>
          <${Preview} channel=${live} running=${running} session=${session} token=${token} />
        </div>
        <div class="card">
          <h3>Status</h3>
          <${StatusPanel} status=${status} />
          <p class="small">Playback: <code>${live.playback.hls}</code> · <code>${live.playback.dash}</code>${
            live.access === 'premium' ? ' (with a playback token)' : ''}</p>
        </div>
      </div>
      <div class="card">
        <h3>Recent events</h3>
        <${ChannelEvents} id=${id} />
      </div>
      <div class="card">
        <h3>Settings</h3>
        ${operate ? html`<${ChannelForm} key=${channel.id} channel=${channel} ladders=${data && data.ladders}
          onSaved=${setDoc} />` : html`<${ChannelSettings} channel=${live} />`}
      </div>
    </section>`;
}

export function Channels({ session, path }) {
  if (!path) return html`<${ChannelList} session=${session} />`;
  if (path === 'new') return html`<${NewChannel} session=${session} />`;
  // ID, or ID/token/TOKEN: everything after "ID/token/" is the token ('/', '~', '=' and all).
  const slash = path.indexOf('/');
  const id = slash < 0 ? path : path.slice(0, slash);
  const rest = slash < 0 ? '' : path.slice(slash + 1);
  const token = rest.startsWith('token/') ? rest.slice('token/'.length) : null;
  return html`<${ChannelPage} key=${`${id} ${token}`} id=${id} token=${token || null} session=${session} />`;
}
