// The box's live feed: one EventSource per tab on GET /api/v1/events/stream, shared by every
// page. subscribe('stats', cb) gets each stats snapshot ({at, channels, system}) the box
// pushes; subscribe('event', cb) each new event ({seq, at, kind, level, channel, message,
// data}); subscribe('state', cb) the link's state ('connecting', 'open', 'down'). The stream
// opens with the first subscriber and closes 15 s after the last one leaves, so moving from
// page to page keeps one stream (the box serves only a few at once). When it drops, the
// browser reconnects with Last-Event-ID (no event is lost while the box keeps it); when the
// box refuses it, the session is checked (a lost session goes to login) and the stream is
// tried again with a growing delay, never faster than every 2 s.
import { useEffect, useState } from '../vendor/hooks.js';
import { checkSession } from './api.js';

const listeners = { stats: new Set(), event: new Set(), state: new Set() };
let source = null;
let retryTimer = null;
let retryDelay = 2000;
let lingerTimer = null;
const LINGER_MS = 15000;
let linkState = 'down';
let lastStats = null;

function emit(type, value) {
  for (const cb of [...listeners[type]]) {
    try {
      cb(value);
    } catch (e) {
      console.error(e);
    }
  }
}

function setState(state) {
  if (state === linkState) return;
  linkState = state;
  emit('state', state);
}

function subscribers() {
  return listeners.stats.size + listeners.event.size + listeners.state.size;
}

function close() {
  if (source) source.close();
  source = null;
  clearTimeout(retryTimer);
  retryTimer = null;
}

function open() {
  close();
  setState('connecting');
  const es = new EventSource('/api/v1/events/stream?stats=2');
  source = es;
  es.addEventListener('open', () => {
    retryDelay = 2000;
    setState('open');
  });
  es.addEventListener('stats', (m) => {
    lastStats = JSON.parse(m.data);
    emit('stats', lastStats);
  });
  es.addEventListener('event', (m) => emit('event', JSON.parse(m.data)));
  // The box ends the stream when the session ends: the API call sends the shell to login.
  es.addEventListener('end', () => {
    close();
    setState('down');
    if (subscribers()) checkSession();
  });
  es.addEventListener('error', () => {
    if (es !== source) return;
    if (es.readyState === EventSource.CONNECTING) {
      setState('connecting');
      return;
    }
    // Refused (401, 429, 503) or gone: see whether the session lives, then try again.
    close();
    setState('down');
    checkSession().then((alive) => {
      if (alive && subscribers() && !retryTimer) retryTimer = setTimeout(open, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  });
}

export function subscribe(type, cb) {
  listeners[type].add(cb);
  clearTimeout(lingerTimer);
  lingerTimer = null;
  if (!source && !retryTimer) open();
  if (type === 'stats' && lastStats) cb(lastStats);
  if (type === 'state') cb(linkState);
  return () => {
    listeners[type].delete(cb);
    if (!subscribers() && !lingerTimer) {
      lingerTimer = setTimeout(() => {
        lingerTimer = null;
        if (subscribers()) return;
        close();
        setState('down');
      }, LINGER_MS);
    }
  };
}

// The latest stats snapshot, pushed by the box (null until the first arrives).
export function useStats() {
  const [stats, setStats] = useState(lastStats);
  useEffect(() => subscribe('stats', setStats), []);
  return stats;
}

// The link's state: 'connecting', 'open' or 'down'.
export function useLinkState() {
  const [state, setState] = useState(linkState);
  useEffect(() => subscribe('state', setState), []);
  return state;
}

// Closes the stream at once (the session ended or the operator logged out): a stream kept
// for the next page would only be told, seconds later, that its session is gone.
export function stopLive() {
  clearTimeout(lingerTimer);
  lingerTimer = null;
  close();
  lastStats = null;
  setState('down');
}
