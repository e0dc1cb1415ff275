#!/usr/bin/env node
// The console's dashboard and channel pages in Debian's headless Chromium, against a real
// ottboxd: the admin's first login (one-time password, forced change); a channel made from
// the test pattern through the form (a segment duration of 10 s is refused first, with the
// box's message next to the segment field); started; its preview plays in hls.js (the video
// advances) and the rendition picker lists the renditions; the dashboard's figures change
// while it runs with no request for /api/v1/channels after the first load (the box pushes
// them); a premium channel's preview plays with an issued token (every request of the
// player carries __token__), and with a token handed in through #/channels/ID/token/TOKEN;
// with --viewer, a viewer's session sees no control that changes something ([data-needs])
// and is told the premium preview needs the issue permission; stop and delete, each
// confirmed in the page.
//
//   node tests/e2e/console_channels.mjs BASE_URL --initial-password P --new-password P
//        [--ladder ID] [--viewer NAME:PASSWORD] [--screenshots DIR] [--timeout S]
//
// --ladder: the ladder the channels use (one with two rungs or more, small enough to encode
// in real time here). Screenshots (1366x768, and the dashboard and the channel page at phone
// width) land in --screenshots (default output/tests/screenshots/console-channels); a
// failure leaves failed.png there. The page must log no error other than the 404s the
// origin answers before a channel's first segments.
//
// Exit status: 0 passed, 1 failed (the step and the reason are printed), 2 a bad command line
// or a missing tool (Chromium, playwright-core).

import { readFileSync } from 'node:fs';
import { check, checkNoProblems, exitWith, failed, launch, parseArgs, passed, prepare,
	screenshots } from './harness.mjs';

const PLAY_SECONDS = 2;       // the preview must advance by more than this
const PLAY_TIMEOUT_S = 60;    // from start to a playing preview (encoder start, first segments)

const ARGS = {
	name: 'console_channels',
	usage: '--initial-password P --new-password P [--ladder ID] [--viewer NAME:PASSWORD]',
	screenshots: 'console-channels',
	options: {
		'--initial-password': ['initial', true],
		'--new-password': ['fresh', true],
		'--ladder': ['ladder', false],
		'--viewer': ['viewer', false],
	},
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The form's input URLs, read back into fields and written again unchanged (channel-url.js
// is a plain module: node imports it as the browser does). A URL the fields cannot say
// exactly is kept whole as "Other URL".
const URL_CASES = [
	['test://pattern?size=1280x720&rate=30&type=bars', 'test'],
	['test://pattern', 'test'],
	['srt://0.0.0.0:9000?mode=listener', 'srt'],
	['srt://encoder.example:9000?mode=caller&latency=200000&passphrase=0123456789abc', 'srt'],
	['srt://[::1]:9000?mode=caller', 'srt'],
	['srt://0.0.0.0:9000', 'url'],
	['srt://encoder.example:9000?mode=caller&streamid=x', 'url'],
	['rtmp://0.0.0.0:1935/live/key', 'rtmp'],
	['rtmp://0.0.0.0/live/key', 'rtmp'],
	['rtmp://origin.example/app/stream', 'rtmp'],
	['udp://239.1.1.1:5000', 'udp'],
	['udp://239.1.1.1:5000?localaddr=192.0.2.7', 'udp'],
	['udp://0.0.0.0:5000', 'udp'],
	['udp://@:5000', 'udp'],
	['rtsp://camera.example:554/stream', 'rtsp'],
	['https://cdn.example/live/master.m3u8', 'hls'],
	['http://cdn.example/feed.ts', 'http'],
	['file:promo/loop.mp4?loop=1', 'file'],
	['file:promo/once.mp4', 'file'],
	['file:promo/once.mp4?loop=0', 'url'],
];

async function checkUrls() {
	// As a data: URL: node would otherwise warn that the repository's package.json names no
	// module type.
	const source = readFileSync(new URL('../../webui/console/channel-url.js', import.meta.url), 'utf8');
	const { parse, compose } = await import(`data:text/javascript,${encodeURIComponent(source)}`);
	const wrong = [];
	for (const [url, kind] of URL_CASES) {
		const p = parse(url);
		const again = compose(p.kind, p.fields);
		if (p.kind !== kind || again !== url) wrong.push(`${url}: ${p.kind} ${JSON.stringify(p.fields)} -> ${again}`);
	}
	const listener = compose('srt', { mode: 'listener', host: '', port: '9000', latency: '120', passphrase: '' });
	if (listener !== 'srt://0.0.0.0:9000?mode=listener&latency=120000') wrong.push(`SRT listener: ${listener}`);
	return wrong;
}

async function main() {
	const opts = parseArgs(ARGS, process.argv.slice(2));
	const chromium = await prepare(ARGS.name, opts);
	if (!chromium) return 2;
	const wrong = await checkUrls();
	if (wrong.length) {
		console.error(`console_channels: FAIL at "input URLs read back and written again":\n    ${wrong.join('\n    ')}`);
		return 1;
	}

	const started = Date.now();
	const problems = []; // errors the page logged that no step provoked on purpose
	const requests = []; // every request the page made: { url, at }
	let step = 'starting Chromium';
	const shots = screenshots(opts.screenshots);
	const browser = await launch(ARGS.name, chromium, ['--autoplay-policy=no-user-gesture-required']);
	if (!browser) return 2;
	const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
	context.setDefaultTimeout(opts.timeout * 1000);
	const page = await context.newPage();
	// The origin answers 404 until a channel has its first segments; the preview waits on it.
	const expected404 = (url) => /\/(premium\/)?live\//.test(url);
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		const text = m.text();
		// Chromium logs each 4xx answer: the session check before login (401), the form's
		// refusals (400, checked where the steps provoke them), the origin before a channel's
		// first segments (404, see the response check).
		if (/status of (400|401|404)/.test(text)) return;
		problems.push(text.slice(0, 400));
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`.slice(0, 400)));
	page.on('request', (r) => requests.push({ url: r.url(), at: Date.now() }));
	page.on('requestfailed', (r) => {
		const why = r.failure()?.errorText || '';
		// The live feed closed, or a player torn down mid-request, when a page goes: aborted.
		const path = new URL(r.url()).pathname;
		if (/ERR_ABORTED/.test(why) && (path === '/api/v1/events/stream' || expected404(path))) return;
		problems.push(`request failed: ${r.url()} (${why})`);
	});
	page.on('response', (r) => {
		const url = r.url();
		if (r.status() >= 400 && !url.includes('/api/') && !(r.status() === 404 && expected404(url))) {
			problems.push(`HTTP ${r.status()} for ${url}`);
		}
	});

	const timings = [];
	let stepStarted = Date.now();
	const begin = (name) => {
		if (step !== 'starting Chromium') timings.push(`${((Date.now() - stepStarted) / 1000).toFixed(1)} s ${step}`);
		step = name;
		stepStarted = Date.now();
	};

	const snap = (name) => shots.snap(page, name);
	const noProblems = () => checkNoProblems(problems);
	const until = async (what, fn, seconds = opts.timeout) => {
		const deadline = Date.now() + seconds * 1000;
		let last;
		for (;;) {
			last = await fn();
			if (last) return last;
			if (Date.now() > deadline) throw new Error(`${what} (waited ${seconds} s)`);
			await sleep(250);
		}
	};
	const stateOf = () => page.locator('#channels-title [data-state]').getAttribute('data-state');

	// Creates a channel through the form at #/channels/new; returns its id (from the URL).
	const createChannel = async ({ name, premium }) => {
		await page.goto(`${opts.base}/#/channels`);
		await page.locator('#new-channel').click();
		await page.locator('form#channel-form').waitFor();
		await page.getByLabel('Name', { exact: true }).fill(name);
		check(await page.locator('#ch-kind').inputValue() === 'test', 'a new channel does not start from the test pattern');
		await page.getByLabel('Size (WIDTHxHEIGHT)').fill('320x180');
		await page.getByLabel('Frame rate (fps)').fill('25');
		await page.getByLabel('Picture').selectOption('moving');
		check((await page.locator('#composed-url').innerText()) === 'test://pattern?size=320x180&rate=25&type=moving',
			`the form composed ${await page.locator('#composed-url').innerText()}`);
		if (opts.ladder) await page.getByLabel('Ladder').selectOption(opts.ladder);
		await page.getByLabel('Segment duration (s)').fill('2');
		if (premium) await page.getByLabel('Access class').selectOption('premium');
		await page.getByRole('button', { name: 'Create channel' }).click();
		await page.waitForURL(/#\/channels\/[a-z0-9_-]+$/);
		await page.locator('section.channel-page').waitFor();
		return decodeURIComponent(page.url().split('#/channels/')[1]);
	};

	// Waits for the preview to play: hls.js's levels in the picker, currentTime advancing.
	const previewPlays = async (seconds = PLAY_SECONDS) => {
		const video = page.locator('#preview video');
		const sample = () => video.evaluate((v) => ({ t: v.currentTime, paused: v.paused, ready: v.readyState }));
		const first = await until('the preview did not start playing', async () => {
			const bad = page.locator('#preview-message.bad');
			const message = (await bad.count()) ? await bad.innerText() : '';
			check(!message, `the preview failed: ${message}`);
			const s = await sample();
			return s.t > 0 && !s.paused ? s : null;
		}, PLAY_TIMEOUT_S);
		await until(`the preview did not advance by ${seconds} s from ${first.t.toFixed(2)}`,
			async () => (await sample()).t - first.t > seconds, seconds + 20);
		return first;
	};

	const login = async (password) => {
		await page.getByLabel('User name').fill('admin');
		await page.getByLabel('Password', { exact: true }).fill(password);
		await page.getByRole('button', { name: 'Log in' }).click();
	};

	try {
		begin('first login and the forced password change');
		await page.goto(`${opts.base}/#/channels`);
		await page.locator('form#login').waitFor();
		await login(opts.initial);
		await page.locator('form#change').waitFor();
		await page.getByLabel('Current password').fill(opts.initial);
		await page.getByLabel(/^New password \(/).fill(opts.fresh);
		await page.getByLabel('New password again').fill(opts.fresh);
		await page.getByLabel('New password again').press('Enter');
		await page.locator('section#channels').waitFor();
		check(page.url().endsWith('#/channels'), `the URL is ${page.url()}, not …#/channels`);

		begin('the form shows the box\'s message for a segment duration of 10 s next to the field');
		await page.locator('#new-channel').click();
		await page.locator('form#channel-form').waitFor();
		await page.getByLabel('Name', { exact: true }).fill('Refused');
		await page.getByLabel('Segment duration (s)').fill('10');
		const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/channels') && r.request().method() === 'POST');
		await page.getByRole('button', { name: 'Create channel' }).click();
		const refused = await answer;
		check(refused.status() === 400, `POST /api/v1/channels answered ${refused.status()}, not 400`);
		const boxSays = (await refused.json()).error;
		check(boxSays.field === 'segment_seconds', `the box named the field ${boxSays.field}`);
		check(boxSays.message.includes('segment_seconds: must be between 2 and 6'), `the box said ${boxSays.message}`);
		const fieldError = page.locator('#err-segment-seconds');
		await fieldError.waitFor();
		check((await fieldError.innerText()) === boxSays.message,
			`next to the segment field: "${await fieldError.innerText()}", the box said "${boxSays.message}"`);
		check(await page.getByLabel('Segment duration (s)').getAttribute('aria-invalid') === 'true',
			'the segment field is not marked invalid');
		check(await page.getByLabel('Segment duration (s)').getAttribute('aria-describedby') === 'err-segment-seconds',
			'the segment field does not point at its message');
		check(page.url().endsWith('#/channels/new'), `a refused form left the page: ${page.url()}`);
		await snap('channel-form-refused');

		begin('the input kinds compose the URLs the box takes');
		await page.getByLabel('Kind').selectOption('srt');
		await page.getByLabel('Port').fill('9000');
		await page.getByLabel('Latency (ms)').fill('200');
		check(await page.locator('#composed-url').innerText() === 'srt://0.0.0.0:9000?mode=listener&latency=200000',
			`SRT listener composed ${await page.locator('#composed-url').innerText()}`);
		await page.getByLabel('Kind').selectOption('udp');
		await page.getByLabel('Mode').selectOption('multicast');
		await page.getByLabel('Group').fill('239.1.1.1');
		await page.getByLabel('Port').fill('5000');
		check(await page.locator('#composed-url').innerText() === 'udp://239.1.1.1:5000',
			`UDP multicast composed ${await page.locator('#composed-url').innerText()}`);
		await page.getByLabel('Kind').selectOption('rtmp');
		await page.getByLabel('Stream key').fill('abc123');
		check(await page.locator('#composed-url').innerText() === 'rtmp://0.0.0.0:1935/live/abc123',
			`RTMP publish composed ${await page.locator('#composed-url').innerText()}`);
		await page.getByLabel('Kind').selectOption('file');
		await page.getByLabel('File in the media library').fill('../etc/passwd');
		const fileAnswer = page.waitForResponse((r) => r.url().endsWith('/api/v1/channels') && r.request().method() === 'POST');
		await page.getByLabel('Segment duration (s)').fill('4');
		await page.getByRole('button', { name: 'Create channel' }).click();
		const fileRefused = await (await fileAnswer).json();
		check(fileRefused.error.field === 'input.url', `a bad file path was refused for ${fileRefused.error.field}`);
		await page.locator('#err-input-url').waitFor();
		check((await page.locator('#err-input-url').innerText()) === fileRefused.error.message,
			'the input.url message is not next to the input fields');
		check(!(await page.locator('#err-segment-seconds').count()), 'the old segment message stayed');

		begin('a channel from the test pattern, made through the form');
		const id = await createChannel({ name: 'Form test' });
		check(id === 'form-test', `the channel's id is ${id}`);
		check(await stateOf() === 'stopped', `a new channel is ${await stateOf()}`);
		check(await page.locator('#ch-kind').inputValue() === 'test', 'the settings did not read the URL back as a test pattern');
		check(await page.getByLabel('Size (WIDTHxHEIGHT)').inputValue() === '320x180', 'the size was not read back');
		check(await page.getByLabel('Picture').inputValue() === 'moving', 'the pattern type was not read back');
		check(await page.getByLabel('Segment duration (s)').inputValue() === '2', 'the segment duration was not read back');

		begin('start: the preview plays and the picker lists the renditions');
		await page.locator('#start').click();
		await until('the channel did not go on (starting or live)',
			async () => ['starting', 'live'].includes(await stateOf()));
		await previewPlays();
		const options = await page.locator('#rendition option').allInnerTexts();
		check(options.length > 2, `the rendition picker lists ${options.length - 1} renditions: ${options.join(' | ')}`);
		check(/^Auto/.test(options[0]) && options.slice(1).every((o) => /^\d+×\d+ @ \d+ kbit\/s$/.test(o)),
			`the picker's options read ${options.join(' | ')}`);
		// Picking a rendition sets hls.js's level: the picker keeps it and playback goes on.
		await page.locator('#rendition').selectOption({ index: 2 });
		check(await page.locator('#rendition').inputValue() === '1', 'the picker did not keep the rendition');
		await previewPlays(0.5);
		await until('the channel did not turn live', async () => (await stateOf()) === 'live', 30);
		await page.locator('#status-panel [data-rung]').first().waitFor();
		noProblems();
		await snap('channel-preview');
		await page.setViewportSize({ width: 390, height: 844 });
		await snap('channel-preview-phone');
		await page.setViewportSize({ width: 1366, height: 768 });

		begin('the dashboard: figures pushed by the box, no request for /api/v1/channels after the first load');
		const mark = requests.length;
		await page.goto(`${opts.base}/#/dashboard`);
		const row = page.locator(`table.channels tr[data-channel="${id}"]`);
		await row.waitFor();
		const loadedAt = Date.now();
		await until('the dashboard did not say the channel is live',
			async () => (await row.locator('[data-state]').getAttribute('data-state')) === 'live');
		await until('the live feed is not open', async () => (await page.locator('#link-state').innerText()) === 'live');
		const figures = () => row.locator('[data-stat="frames"]').allInnerTexts().then((t) => t.join(','));
		const before = await until('the dashboard shows no frame count for the channel', figures);
		const changed = await until('the dashboard\'s figures did not change',
			async () => { const now = await figures(); return now !== before ? now : null; }, 15);
		await until('the hardware load did not show', async () => page.locator('#hardware-load li').count());
		await sleep(2500);
		const channelRequests = requests.slice(mark).filter((r) => /\/api\/v1\/channels(\/|\?|$)/.test(new URL(r.url).pathname + '?'));
		check(channelRequests.length === 1,
			`the dashboard asked for the channels ${channelRequests.length} times: ${channelRequests.map((r) => r.url).join(', ')}`);
		check(channelRequests[0].at <= loadedAt, 'the dashboard asked for the channels after its first load');
		console.log(`console_channels: dashboard frames ${before} -> ${changed}, one request for the channels`);
		noProblems();
		await snap('dashboard');
		await page.setViewportSize({ width: 390, height: 844 });
		await snap('dashboard-phone');
		await page.setViewportSize({ width: 1366, height: 768 });

		begin('the channel list');
		await page.locator('nav').getByRole('link', { name: 'Channels' }).click();
		await page.locator(`table.channel-list tr[data-channel="${id}"]`).waitFor();
		await snap('channel-list');

		begin('stop, confirmed in the page');
		await page.goto(`${opts.base}/#/channels/${id}`);
		await page.locator('section.channel-page').waitFor();
		await page.locator('#stop').click();
		await page.locator('#confirm').waitFor();
		await page.locator('#confirm-no').click();
		check(!(await page.locator('#confirm').count()), 'Cancel did not close the confirmation');
		check(['live', 'starting'].includes(await stateOf()), 'Cancel stopped the channel');
		await page.locator('#stop').click();
		await page.locator('#confirm-yes').click();
		await until('the channel did not stop', async () => (await stateOf()) === 'stopped');
		await page.locator('#start').waitFor();

		begin('a premium channel: the preview plays with an issued token');
		const pid = await createChannel({ name: 'Premium test', premium: true });
		const pmark = requests.length;
		await page.locator('#start').click();
		await previewPlays();
		const premiumRequests = requests.slice(pmark).filter((r) => new URL(r.url).pathname.startsWith('/premium/'));
		check(premiumRequests.length >= 3, `the player made ${premiumRequests.length} requests under /premium/`);
		const bare = premiumRequests.filter((r) => !new URL(r.url).searchParams.get('__token__'));
		check(!bare.length, `requests without __token__: ${bare.map((r) => r.url).join(', ')}`);
		check(requests.slice(pmark).some((r) => r.url.endsWith('/api/v1/playback-tokens')),
			'the preview did not ask for a playback token');
		noProblems();
		await snap('premium-preview');

		begin('a premium channel: the preview plays a token handed in by #/channels/ID/token/TOKEN');
		const session = await (await context.request.get(`${opts.base}/api/v1/session`)).json();
		const issued = await context.request.post(`${opts.base}/api/v1/playback-tokens`, {
			headers: { 'X-CSRF-Token': session.csrf_token },
			data: { path: `/premium/live/${pid}/master.m3u8` } });
		check(issued.status() === 201, `POST /api/v1/playback-tokens answered ${issued.status()}`);
		const token = (await issued.json()).token;
		const tmark = requests.length;
		await page.goto(`${opts.base}/#/channels/${pid}/token/${token}`);
		await page.locator('section.channel-page').waitFor();
		await previewPlays();
		const tokenRequests = requests.slice(tmark).filter((r) => new URL(r.url).pathname.startsWith('/premium/'));
		check(tokenRequests.length >= 3, `the player made ${tokenRequests.length} requests under /premium/`);
		const other = tokenRequests.filter((r) => new URL(r.url).searchParams.get('__token__') !== token);
		check(!other.length, `requests without the handed-in token: ${other.map((r) => r.url).join(', ')}`);
		check(!requests.slice(tmark).some((r) => r.url.endsWith('/api/v1/playback-tokens')),
			'the preview issued a token of its own');

		if (opts.viewer) {
			begin('a viewer: no control that changes something, the premium preview says what it needs');
			const [name, password] = [opts.viewer.slice(0, opts.viewer.indexOf(':')), opts.viewer.slice(opts.viewer.indexOf(':') + 1)];
			const viewerContext = await browser.newContext({ viewport: { width: 1366, height: 768 } });
			viewerContext.setDefaultTimeout(opts.timeout * 1000);
			const vpage = await viewerContext.newPage();
			vpage.on('pageerror', (e) => problems.push(`viewer page error: ${e.message}`.slice(0, 400)));
			try {
				await vpage.goto(`${opts.base}/#/dashboard`);
				await vpage.getByLabel('User name').fill(name);
				await vpage.getByLabel('Password', { exact: true }).fill(password);
				await vpage.getByRole('button', { name: 'Log in' }).click();
				await vpage.locator(`table.channels tr[data-channel="${pid}"]`).waitFor();
				check(!(await vpage.locator('[data-needs]').count()), 'the dashboard shows a viewer controls that change something');
				await vpage.goto(`${opts.base}/#/channels`);
				await vpage.locator(`table.channel-list tr[data-channel="${pid}"]`).waitFor();
				check(!(await vpage.locator('[data-needs]').count()), 'the channel list shows a viewer controls that change something');
				await vpage.goto(`${opts.base}/#/channels/${pid}`);
				await vpage.locator('#channel-settings').waitFor();
				await vpage.locator('#preview-message').filter({ hasText: 'needs the issue permission' }).waitFor();
				check(!(await vpage.locator('[data-needs]').count()), 'the channel page shows a viewer controls that change something');
				await vpage.goto(`${opts.base}/#/channels/new`);
				await vpage.getByText('Creating a channel needs the operate permission').waitFor();
				check(!(await vpage.locator('[data-needs]').count()), 'the new channel page shows a viewer a form');
			} finally {
				await viewerContext.close();
			}
		}

		begin('stop and delete the premium channel, confirmed in the page');
		await page.locator('#stop').click();
		await page.locator('#confirm-yes').click();
		await until('the premium channel did not stop', async () => (await stateOf()) === 'stopped');
		await page.locator('#delete').click();
		await page.locator('#confirm-yes').click();
		await page.waitForURL(/#\/channels$/);

		begin('delete, confirmed in the page');
		await page.goto(`${opts.base}/#/channels/${id}`);
		await page.locator('section.channel-page').waitFor();
		await page.locator('#delete').click();
		await page.locator('#confirm').waitFor();
		await page.locator('#confirm-no').click();
		check(!(await page.locator('#confirm').count()), 'Cancel did not close the confirmation');
		await page.locator('#delete').click();
		await page.locator('#confirm-yes').click();
		await page.waitForURL(/#\/channels$/);
		await page.locator('section#channels').waitFor();
		await until('the deleted channels are still listed',
			async () => !(await page.locator('table.channel-list tr[data-channel]').count()));
		const gone = await context.request.get(`${opts.base}/api/v1/channels/${id}`);
		check(gone.status() === 404, `GET the deleted channel answered ${gone.status()}`);
		noProblems();

		begin('done');
		console.log(`console_channels: steps:\n    ${timings.join('\n    ')}`);
		return passed(ARGS.name, opts, shots, started);
	} catch (e) {
		// Awaited here: the browser closes in finally, which runs once this returns.
		return await failed(ARGS.name, opts, step, page, problems, e);
	} finally {
		await browser.close().catch(() => {});
	}
}

exitWith(ARGS.name, main);
