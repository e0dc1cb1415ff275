#!/usr/bin/env node
// Real-browser playback check: hls.js in Debian's headless Chromium plays an HLS stream.
//
//   node tests/e2e/playback.mjs [URL] [--levels N] [--timeout S] [--advance S] [--require-param NAME]
//
// URL is a master playlist (default $OTTBOX_HLS_URL). The test page and hls.js are served by
// the script itself (page.route) on the fake origin http://player.test/, so nothing comes
// from the internet and every stream request is cross-origin: the box's CORS headers are
// checked too. Within --timeout seconds (40), hls.js must raise no fatal error, list at least
// --levels levels (2), and the muted <video> must play on by at least --advance seconds (3),
// measured between two samples of video.currentTime. A live playlist (no EXT-X-ENDLIST) must
// also gain a segment while the page watches it: a stalled encoder does not pass.
// With --require-param NAME (e.g. __token__ for a premium channel's tokenized URL), every
// request the page makes to the stream's origin (playlists, init and media segments) must
// carry the query parameter NAME with the value it has in URL: a player that follows the
// playlists as served never loses its token on the way to the segments.
//
// Exit status: 0 passed, 1 failed (the reason, hls.js errors and levels seen are printed),
// 2 a bad command line or a missing tool (Chromium, playwright-core, hls.js).

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const CHROMIUM = process.env.OTTBOX_CHROMIUM || '/usr/bin/chromium';
const ORIGIN = 'http://player.test';
const H264 = 'video/mp4; codecs="avc1.64001f"';
const AAC = 'audio/mp4; codecs="mp4a.40.2"';

function usage(message) {
	if (message) console.error(`playback: ${message}`);
	console.error('usage: node tests/e2e/playback.mjs [MASTER_URL] [--levels N] [--timeout S] ' +
		'[--advance S] [--require-param NAME]\n  (MASTER_URL defaults to $OTTBOX_HLS_URL)');
	process.exit(2);
}

function parseArgs(argv) {
	const opts = { url: process.env.OTTBOX_HLS_URL || '', levels: 2, timeout: 40, advance: 3,
		requireParam: null };
	const numeric = { '--levels': 'levels', '--timeout': 'timeout', '--advance': 'advance' };
	const text = { '--require-param': 'requireParam' };
	for (let i = 0; i < argv.length; i++) {
		let arg = argv[i];
		let value;
		const eq = arg.indexOf('=');
		if (arg.startsWith('--') && eq > 0) {
			value = arg.slice(eq + 1);
			arg = arg.slice(0, eq);
		}
		if (arg === '-h' || arg === '--help') usage();
		if (numeric[arg]) {
			if (value === undefined) value = argv[++i];
			const n = Number(value);
			if (value === undefined || !Number.isFinite(n) || n < 0) usage(`${arg} needs a number`);
			opts[numeric[arg]] = n;
		} else if (text[arg]) {
			if (value === undefined) value = argv[++i];
			if (!value) usage(`${arg} needs a value`);
			opts[text[arg]] = value;
		} else if (arg.startsWith('-')) {
			usage(`unknown option ${arg}`);
		} else {
			opts.url = arg;
		}
	}
	if (!opts.url) usage('no playlist URL (give it as an argument or in OTTBOX_HLS_URL)');
	try {
		const u = new URL(opts.url);
		if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
	} catch {
		usage(`not an http(s) URL: ${opts.url}`);
	}
	if (opts.requireParam && !new URL(opts.url).searchParams.has(opts.requireParam)) {
		usage(`--require-param ${opts.requireParam}: the URL has no such query parameter`);
	}
	return opts;
}

// The test page: hls.js on a muted <video>; what happens is kept in window.__state.
function pageHtml(config) {
	const json = JSON.stringify(config).replace(/</g, '\\u003c');
	return `<!doctype html>
<html><head><meta charset="utf-8"><title>ottbox playback test</title></head>
<body>
<video id="video" muted playsinline autoplay width="640" height="360"></video>
<script src="${ORIGIN}/hls.min.js"></script>
<script>
(() => {
	const config = ${json};
	const state = window.__state = {
		hlsVersion: window.Hls ? Hls.version : null,
		hlsSupported: !!(window.Hls && Hls.isSupported()),
		h264: !!(window.MediaSource && MediaSource.isTypeSupported(config.h264)),
		aac: !!(window.MediaSource && MediaSource.isTypeSupported(config.aac)),
		manifestParsed: false, levels: [], fatal: null, errors: [], playError: null,
		live: null, firstEndSN: null, lastEndSN: null, // media playlist segment numbers
	};
	if (!state.hlsSupported || !state.h264) return;
	const video = document.getElementById('video');
	video.muted = true;
	const hls = window.__hls = new Hls({ debug: false });
	const levelsOf = () => hls.levels.map((l) => ({
		width: l.width, height: l.height, bitrate: l.bitrate,
		codecs: [l.videoCodec, l.audioCodec].filter(Boolean).join(','),
	}));
	hls.on(Hls.Events.MANIFEST_PARSED, () => {
		state.manifestParsed = true;
		state.levels = levelsOf();
		video.play().catch((e) => { state.playError = String(e); });
	});
	hls.on(Hls.Events.LEVELS_UPDATED, () => { state.levels = levelsOf(); });
	hls.on(Hls.Events.LEVEL_LOADED, (_event, data) => {
		const d = data.details;
		state.live = d.live;
		if (state.firstEndSN === null) state.firstEndSN = d.endSN;
		state.lastEndSN = Math.max(state.lastEndSN === null ? d.endSN : state.lastEndSN, d.endSN);
	});
	hls.on(Hls.Events.ERROR, (_event, data) => {
		const e = {
			type: data.type, details: data.details, fatal: !!data.fatal,
			url: (data.frag && data.frag.url) || (data.context && data.context.url) || data.url || null,
			status: data.response ? data.response.code : null,
			reason: data.reason || (data.error ? String(data.error) : null),
		};
		if (state.errors.length < 20) state.errors.push(e);
		if (e.fatal && !state.fatal) state.fatal = e;
	});
	hls.loadSource(config.url);
	hls.attachMedia(video);
})();
</script>
</body></html>
`;
}

async function readState(page) {
	return page.evaluate(() => {
		const v = document.getElementById('video');
		const s = window.__state || null;
		if (!s) return null;
		const buffered = [];
		for (let i = 0; v && i < v.buffered.length; i++) {
			buffered.push([+v.buffered.start(i).toFixed(2), +v.buffered.end(i).toFixed(2)]);
		}
		return {
			...s,
			currentTime: v ? v.currentTime : 0,
			paused: v ? v.paused : true,
			readyState: v ? v.readyState : 0,
			mediaError: v && v.error ? `${v.error.code} ${v.error.message}` : null,
			buffered,
			levelCount: window.__hls ? window.__hls.levels.length : 0,
		};
	});
}

function describeLevels(state) {
	if (!state || !state.levels.length) return 'none';
	return state.levels.map((l) => `${l.width}x${l.height}@${Math.round(l.bitrate / 1000)}k` +
		(l.codecs ? `(${l.codecs})` : '')).join(', ');
}

function describeErrors(state) {
	if (!state || !state.errors.length) return 'none';
	return state.errors.slice(-6).map((e) => `${e.fatal ? 'FATAL ' : ''}${e.type}/${e.details}` +
		(e.status ? ` HTTP ${e.status}` : '') + (e.url ? ` ${e.url}` : '') +
		(e.reason ? ` (${e.reason})` : '')).join('\n    ');
}

async function main() {
	const opts = parseArgs(process.argv.slice(2));
	const require = createRequire(import.meta.url);

	let chromium;
	let hlsPath;
	try {
		({ chromium } = await import('playwright-core'));
		hlsPath = require.resolve('hls.js/dist/hls.min.js');
	} catch (e) {
		console.error(`playback: ${e.message}\nplayback: run \`npm ci\` in the repository ` +
			'(or `make deps-test`) to install playwright-core and hls.js');
		process.exit(2);
	}
	if (!existsSync(CHROMIUM)) {
		console.error(`playback: no Chromium at ${CHROMIUM}; install Debian's chromium package`);
		process.exit(2);
	}
	const hlsJs = readFileSync(hlsPath);
	const html = pageHtml({ url: opts.url, h264: H264, aac: AAC });

	const started = Date.now();
	const deadline = started + opts.timeout * 1000;
	const console_ = [];      // the page's console errors and warnings (CORS refusals land here)
	const failedRequests = [];
	const streamOrigin = new URL(opts.url).origin;
	const wanted = opts.requireParam ? new URL(opts.url).searchParams.get(opts.requireParam) : null;
	const streamRequests = { count: 0, without: [] }; // requests to the box; those lacking the param
	const fail = (reason, state) => {
		const lines = [
			`playback: FAIL ${opts.url}: ${reason}`,
			`  levels seen (${state ? state.levelCount : 0}, want >= ${opts.levels}): ${describeLevels(state)}`,
			`  hls.js errors: ${describeErrors(state)}`,
		];
		if (state) {
			lines.push(`  video: currentTime=${state.currentTime.toFixed(2)} readyState=${state.readyState} ` +
				`paused=${state.paused} buffered=${JSON.stringify(state.buffered)}` +
				(state.mediaError ? ` error=${state.mediaError}` : '') +
				(state.playError ? ` play()=${state.playError}` : ''));
		}
		if (streamRequests.without.length) {
			lines.push(`  requests without ${opts.requireParam}: ${streamRequests.without.slice(0, 5).join('\n    ')}`);
		}
		if (failedRequests.length) lines.push(`  failed requests: ${failedRequests.slice(-5).join('\n    ')}`);
		if (console_.length) lines.push(`  browser console: ${console_.slice(-5).join('\n    ')}`);
		if (console_.some((l) => l.includes('address space'))) {
			lines.push('  (Chromium refused a local-network request: this Chromium may name the ' +
				'feature to disable differently than --disable-features=LocalNetworkAccessChecks)');
		}
		if (console_.some((l) => l.includes("No 'Access-Control-Allow-Origin' header"))) {
			lines.push('  (the server sent no Access-Control-Allow-Origin header: players on other ' +
				'origins cannot load this stream)');
		}
		console.error(lines.join('\n'));
		return 1;
	};

	let browser;
	try {
		browser = await chromium.launch({
			executablePath: CHROMIUM,
			headless: true,
			// LocalNetworkAccessChecks off: a page from a public origin (player.test) may fetch
			// from loopback or the LAN, where a box is; CORS is still enforced as in any browser.
			args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required',
				'--disable-features=LocalNetworkAccessChecks'],
			timeout: 30000,
		});
	} catch (e) {
		console.error(`playback: Chromium (${CHROMIUM}) did not start: ${e.message}`);
		return 2;
	}
	try {
		const page = await browser.newPage();
		page.on('console', (m) => {
			if ((m.type() === 'error' || m.type() === 'warning') && console_.length < 50) {
				console_.push(m.text().slice(0, 400));
			}
		});
		page.on('pageerror', (e) => console_.push(`page error: ${e.message}`.slice(0, 400)));
		page.on('request', (r) => {
			let u;
			try {
				u = new URL(r.url());
			} catch {
				return;
			}
			if (u.origin !== streamOrigin) return;
			streamRequests.count++;
			if (wanted !== null && u.searchParams.get(opts.requireParam) !== wanted &&
				streamRequests.without.length < 50) {
				streamRequests.without.push(r.url());
			}
		});
		page.on('requestfailed', (r) => {
			if (failedRequests.length < 50) failedRequests.push(`${r.url()} (${r.failure()?.errorText})`);
		});
		await page.route(`${ORIGIN}/**`, (route) => {
			const path = new URL(route.request().url()).pathname;
			if (path === '/' || path === '/index.html') {
				return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
			}
			if (path === '/hls.min.js') {
				return route.fulfill({ status: 200, contentType: 'text/javascript', body: hlsJs });
			}
			return route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' });
		});
		await page.goto(`${ORIGIN}/`, { timeout: Math.max(1000, deadline - Date.now()) });

		let state = await readState(page);
		if (!state || !state.hlsVersion) return fail('hls.js did not load in the page', state);
		if (!state.hlsSupported) return fail('hls.js says this browser has no usable MediaSource', state);
		if (!state.h264) {
			return fail(`this Chromium cannot play H.264: MediaSource.isTypeSupported('${H264}') is ` +
				'false (a build without proprietary codecs; Debian\'s chromium package has them)', state);
		}

		let first = null; // { t: currentTime, at: wall ms } once playback runs
		for (;;) {
			state = await readState(page);
			if (streamRequests.without.length) {
				return fail(`a request lost the ${opts.requireParam} query parameter: ` +
					streamRequests.without[0], state);
			}
			if (state.fatal) return fail('hls.js reported a fatal error', state);
			if (state.mediaError) return fail(`the video element failed: ${state.mediaError}`, state);
			const levelsOk = state.levelCount >= opts.levels;
			if (state.manifestParsed && !levelsOk) {
				return fail(`the master playlist has ${state.levelCount} level(s), want >= ${opts.levels}`, state);
			}
			if (levelsOk && !first && state.currentTime > 0 && !state.paused) {
				first = { t: state.currentTime, at: Date.now() };
			}
			const grew = state.live === false || state.lastEndSN > state.firstEndSN;
			if (first && state.currentTime - first.t >= opts.advance && grew) {
				const secs = ((Date.now() - started) / 1000).toFixed(1);
				console.log(`playback: OK ${opts.url}: hls.js ${state.hlsVersion}, ${state.levelCount} ` +
					`levels [${describeLevels(state)}], ${state.live ? 'live' : 'VOD'}, currentTime ` +
					`${first.t.toFixed(2)} -> ${state.currentTime.toFixed(2)} s, ${secs} s in all, ` +
					`${streamRequests.count} requests` +
					(opts.requireParam ? `, every one with ${opts.requireParam}` : ''));
				return 0;
			}
			if (Date.now() >= deadline) {
				let why;
				if (!state.manifestParsed) why = 'the master playlist was not loaded';
				else if (!first) why = 'the video did not start playing';
				else if (state.currentTime - first.t < opts.advance) {
					why = `the video played ${(state.currentTime - first.t).toFixed(2)} s, want >= ${opts.advance} s`;
				} else {
					why = `the live playlist gained no segment (it ends at #${state.lastEndSN}): the stream is stalled`;
				}
				return fail(`${why} (waited ${opts.timeout} s)`, state);
			}
			await new Promise((r) => setTimeout(r, 250));
		}
	} finally {
		await browser.close().catch(() => {});
	}
}

main().then((code) => { process.exitCode = code; }, (e) => {
	console.error(`playback: FAIL: ${e.stack || e}`);
	process.exitCode = 1;
});
