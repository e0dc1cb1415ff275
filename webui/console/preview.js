// A channel's preview: hls.js plays its HLS master playlist in a muted <video>. A premium
// channel first gets a short-lived playback token (POST /api/v1/playback-tokens, which needs
// the issue permission) and plays the URL of the answer; a token handed in (the route
// #/channels/ID/token/TOKEN) is played as it is. A rendition picker lists hls.js's levels.
// Until the channel has its first segments the origin answers 404: the preview waits and
// tries again. hls.js's errors are said in words.
//
// hls.js runs on the main thread (enableWorker: false): its ESM build carries no worker
// bundle to start (it would need workerPath); CMAF segments need little transmuxing.
import { useEffect, useRef, useState } from '../vendor/hooks.js';
import { html } from './html.js';
import { api } from './api.js';
import { can } from './common.js';

const RETRY_MS = 2000;
let hlsModule = null;

function loadHls() {
  if (!hlsModule) hlsModule = import('../vendor/hls.esm.js').then((m) => m.default);
  return hlsModule;
}

const DETAILS = {
  manifestLoadError: 'the master playlist could not be loaded',
  manifestLoadTimeOut: 'the master playlist did not come in time',
  manifestParsingError: 'the master playlist is not a valid HLS playlist',
  manifestIncompatibleCodecsError: "this browser cannot play the channel's codecs",
  levelEmptyError: 'a rendition playlist has no segments',
  levelLoadError: 'a rendition playlist could not be loaded',
  levelLoadTimeOut: 'a rendition playlist did not come in time',
  levelParsingError: 'a rendition playlist is not valid',
  audioTrackLoadError: 'the audio playlist could not be loaded',
  fragLoadError: 'a segment could not be loaded',
  fragLoadTimeOut: 'a segment did not come in time',
  fragParsingError: 'a segment could not be read',
  fragGap: 'a segment is missing (a gap)',
  bufferAddCodecError: "the browser refused the channel's codec",
  bufferAppendError: 'the browser refused a segment',
  bufferStalledError: 'playback stalled waiting for data',
  bufferFullError: "the browser's buffer is full",
  bufferNudgeOnStall: 'playback stalled and was nudged on',
  levelSwitchError: 'switching renditions failed',
  internalException: 'hls.js failed inside',
};

const HTTP = {
  401: 'not allowed without a login',
  403: 'refused: the playback token is missing, wrong or expired',
  404: 'not there (yet)',
  410: 'gone',
  500: 'the box failed to answer',
  503: 'the box is busy or stopping',
};

// An hls.js error in words: "a segment could not be loaded (HTTP 404: not there (yet))".
export function describeHlsError(data) {
  const what = DETAILS[data.details] || `${data.type}: ${data.details}`;
  const code = data.response && data.response.code;
  const http = code ? ` (HTTP ${code}${HTTP[code] ? `: ${HTTP[code]}` : ''})` : '';
  const reason = !code && data.reason ? ` (${data.reason})` : !code && data.error && data.error.message
    ? ` (${data.error.message})` : '';
  return `${what.charAt(0).toUpperCase()}${what.slice(1)}${http}${reason}.`;
}

function levelLabel(l) {
  const size = l.width && l.height ? `${l.width}×${l.height}` : l.name || 'rendition';
  return `${size} @ ${Math.round((l.bitrate || 0) / 1000)} kbit/s`;
}

// channel: the Channel document (id, access, playback); running: whether the engine runs
// it; token: a playback token to play with instead of issuing one.
export function Preview({ channel, running, session, token }) {
  const video = useRef(null);
  const hlsRef = useRef(null);
  const timer = useRef(null);
  const gen = useRef(0);
  const reissued = useRef(0);
  const recovered = useRef(false);
  const [phase, setPhase] = useState('idle'); // idle token loading waiting playing error denied
  const [message, setMessage] = useState('');
  const [note, setNote] = useState('');
  const [levels, setLevels] = useState([]);
  const [choice, setChoice] = useState(-1);
  const [onAir, setOnAir] = useState(-1);
  const [shown, setShown] = useState('');
  const premium = channel.access === 'premium';
  const hlsPath = channel.playback && channel.playback.hls;

  function halt() {
    gen.current++;
    clearTimeout(timer.current);
    timer.current = null;
    if (hlsRef.current) {
      hlsRef.current.destroy();
      hlsRef.current = null;
    }
  }

  function retryLater(my, text) {
    if (my !== gen.current) return;
    if (hlsRef.current) {
      hlsRef.current.destroy();
      hlsRef.current = null;
    }
    setPhase('waiting');
    setMessage(text);
    timer.current = setTimeout(() => my === gen.current && start(), RETRY_MS);
  }

  async function playbackUrl(my) {
    if (token) return `${hlsPath}?__token__=${encodeURIComponent(token)}`;
    if (!premium) return hlsPath;
    if (!can(session, 'issue')) {
      setPhase('denied');
      setMessage('This channel is premium: its preview needs a playback token, and issuing one ' +
        'needs the issue permission, which this session does not have.');
      return null;
    }
    setPhase('token');
    setMessage('Getting a playback token…');
    try {
      const t = await api('POST', '/api/v1/playback-tokens', { path: hlsPath });
      return t.url;
    } catch (e) {
      if (my === gen.current) {
        setPhase('error');
        setMessage(`No playback token for the preview: ${e.message}`);
      }
      return null;
    }
  }

  async function start() {
    halt();
    const my = gen.current;
    setNote('');
    recovered.current = false;
    const url = await playbackUrl(my);
    if (!url || my !== gen.current) return;
    let Hls;
    try {
      Hls = await loadHls();
    } catch (e) {
      setPhase('error');
      setMessage(`The player (hls.js) did not load: ${e.message}`);
      return;
    }
    if (my !== gen.current) return;
    if (!Hls.isSupported()) {
      setPhase('error');
      setMessage('This browser has no Media Source Extensions: hls.js cannot play here.');
      return;
    }
    setShown(url.replace(/__token__=[^&]*/, '__token__=…'));
    if (phase !== 'waiting') setPhase('loading');
    const hls = new Hls({ enableWorker: false, backBufferLength: 30 });
    hlsRef.current = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      if (my !== gen.current) return;
      setLevels(hls.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate, name: l.name })));
      setChoice(-1);
      setPhase('playing');
      setMessage('');
      const v = video.current;
      if (v) v.play().catch(() => {});
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => my === gen.current && setOnAir(data.level));
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (my !== gen.current) return;
      const code = data.response && data.response.code;
      const words = describeHlsError(data);
      if (!data.fatal) {
        setNote(words);
        return;
      }
      if (code === 404 && /^(manifest|level|audioTrack)Load/.test(data.details)) {
        retryLater(my, 'Waiting for the first segments: the box publishes the playlists once every ' +
          `rendition has its first segment, and answers 404 until then. Trying again every ${RETRY_MS / 1000} s.`);
        return;
      }
      if (code === 403 && premium && !token && Date.now() - reissued.current > 10000) {
        // The issued token expired (or the key changed): issue another.
        reissued.current = Date.now();
        start();
        return;
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered.current) {
        recovered.current = true;
        hls.recoverMediaError();
        setNote(`${words} Recovering…`);
        return;
      }
      halt();
      setPhase('error');
      setMessage(words);
    });
    hls.loadSource(url);
    hls.attachMedia(video.current);
  }

  // Plays when the channel runs (and its URL or token changes); stops retrying when it stops.
  useEffect(() => {
    if (running) start();
    else if (hlsRef.current === null) {
      halt();
      setPhase('idle');
      setMessage('');
    }
  }, [running, hlsPath, premium, token]);

  useEffect(() => halt, []);

  function pick(ev) {
    const level = Number(ev.target.value);
    setChoice(level);
    if (hlsRef.current) hlsRef.current.currentLevel = level;
  }

  const active = phase === 'playing' || phase === 'waiting' || phase === 'loading' || phase === 'token';
  const kind = phase === 'error' || phase === 'denied' ? 'bad' : 'info';
  return html`
    <div class="preview" id="preview">
      <div class="video-box">
        <video ref=${video} muted playsinline controls aria-label=${`Preview of ${channel.name}`}></video>
        ${!active && phase !== 'playing' ? html`<div class="video-idle">${running ? 'Not playing' : 'The channel is stopped'}</div>` : null}
      </div>
      <div class="preview-controls">
        <label for="rendition">Rendition</label>
        <select id="rendition" value=${choice} onChange=${pick} disabled=${!levels.length}>
          <option value="-1">Auto${choice === -1 && onAir >= 0 && levels[onAir] ? ` (now ${levelLabel(levels[onAir])})` : ''}</option>
          ${levels.map((l, i) => html`<option key=${i} value=${i}>${levelLabel(l)}</option>`)}
        </select>
        ${active ? html`<button type="button" class="secondary" id="preview-stop"
            onClick=${() => { halt(); setPhase('idle'); setMessage(''); }}>Stop preview</button>`
          : html`<button type="button" class="secondary" id="preview-play" onClick=${() => start()}
            disabled=${phase === 'denied'}>${phase === 'error' ? 'Try again' : 'Play preview'}</button>`}
      </div>
      ${message ? html`<p class=${`message ${kind}`} id="preview-message" role=${kind === 'bad' ? 'alert' : 'status'}>${message}</p>`
        : !running && phase === 'idle' ? html`<p class="hint" id="preview-message">Start the channel to preview it
          (or play what it left on disk with Play preview).</p>` : null}
      ${note ? html`<p class="hint" id="preview-note">Last hls.js warning: ${note}</p>` : null}
      ${shown ? html`<p class="hint small">Playing <code>${shown}</code>${token ? ' with the token from the link' : premium ? ' with a token issued for this preview' : ''}.</p>` : null}
    </div>`;
}
