#!/usr/bin/env node
// The console's system and events pages in Debian's headless Chromium, against a real ottboxd,
// as the admin: the overview (version, build options, every hardware backend with the reason
// it is not available, storage), a setting saved and an out-of-range one refused with the
// server's message next to its field, a user created, changed and deleted after a
// confirmation, an API key created (its token shown once, and it works) and revoked after a
// confirmation (then it is refused), the audit log listing those actions; the event log with
// a new event (a channel made through the API) showing up without a reload, the pause
// toggle holding events back, and the level and channel filters narrowing the list.
//
//   node tests/e2e/console_system.mjs BASE_URL --initial-password P --new-password P
//        --api-key KEY [--failed-channel ID] [--screenshots DIR] [--timeout S]
//
// BASE_URL is a box started with a fresh data directory (http://127.0.0.1:PORT); KEY an
// admin API key of that box (the test makes channels with it, as another client would).
// --failed-channel: a stopped channel whose failure (an error event) is in the log; the
// level filter must keep its error events.
// Each step leaves a PNG in --screenshots (default output/tests/screenshots/console-system);
// a failure leaves failed.png there. The page must log no error (a CSP refusal, a module
// that does not load, an exception, a failed request) but the ones a step provokes.
//
// Exit status: 0 passed, 1 failed (the step and the reason are printed), 2 a bad command line
// or a missing tool (Chromium, playwright-core).

import { check, checkNoProblems, exitWith, failed, isLiveFeedAbort, launch, parseArgs,
	passed, prepare, screenshots } from './harness.mjs';


const ARGS = {
	name: 'console_system',
	usage: '--initial-password P --new-password P --api-key KEY [--failed-channel ID]',
	screenshots: 'console-system',
	options: {
		'--initial-password': ['initial', true],
		'--new-password': ['fresh', true],
		'--api-key': ['apiKey', true],
		'--failed-channel': ['failed', false],
	},
};

async function main() {
	const opts = parseArgs(ARGS, process.argv.slice(2));
	const chromium = await prepare(ARGS.name, opts);
	if (!chromium) return 2;

	// The box's API as another client (the API key), outside the browser.
	const boxApi = async (method, path, body, key = opts.apiKey) => {
		const res = await fetch(`${opts.base}${path}`, { method,
			headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
			body: body ? JSON.stringify(body) : undefined });
		const text = await res.text();
		return { status: res.status, json: text ? JSON.parse(text) : null };
	};

	const started = Date.now();
	const problems = []; // errors the page logged that no step provoked on purpose
	let allowed = null;  // a pattern of console errors the current step provokes on purpose
	let step = 'starting Chromium';
	const shots = screenshots(opts.screenshots);
	const browser = await launch(ARGS.name, chromium);
	if (!browser) return 2;
	const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
	context.setDefaultTimeout(opts.timeout * 1000);
	const page = await context.newPage();
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		const text = `${m.text()} (${m.location().url || 'no url'})`;
		// The session check at start answers 401 before the login.
		if (/status of 401/.test(text) && /\/api\/v1\/session/.test(text)) return;
		if (allowed && allowed.test(text)) return;
		problems.push(text.slice(0, 400));
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`.slice(0, 400)));
	page.on('requestfailed', (r) => {
		// The live feed's stream is cut when the page goes away; that is no failure.
		if (isLiveFeedAbort(r)) return;
		problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
	});
	page.on('response', (r) => {
		if (r.status() >= 400 && !r.url().includes('/api/')) problems.push(`HTTP ${r.status()} for ${r.url()}`);
	});

	const snap = (name) => shots.snap(page, name);
	const noProblems = () => checkNoProblems(problems);
	const system = page.locator('section#system');
	const subView = async (title) => {
		await system.getByRole('navigation', { name: 'System views' }).getByRole('link', { name: title, exact: true }).click();
		await system.locator('h2').filter({ hasText: title }).waitFor();
	};
	const status = (text) => page.getByRole('status').filter({ hasText: text });

	try {
		step = 'first login: the one-time password, then the forced change';
		await page.goto(`${opts.base}/`);
		await page.getByLabel('User name').fill('admin');
		await page.getByLabel('Password', { exact: true }).fill(opts.initial);
		await page.getByRole('button', { name: 'Log in' }).click();
		await page.locator('form#change').waitFor();
		await page.getByLabel('Current password').fill(opts.initial);
		await page.getByLabel(/^New password \(/).fill(opts.fresh);
		await page.getByLabel('New password again').fill(opts.fresh);
		await page.getByRole('button', { name: 'Save password' }).click();
		await page.locator('section#dashboard').waitFor();

		step = 'the system overview: version, build, options, storage';
		await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'System' }).click();
		await system.waitFor();
		await page.locator('#hardware li').first().waitFor();
		const version = (await page.locator('#version').innerText()).trim();
		check(/^\d+\.\d+\.\d+/.test(version), `the version reads "${version}"`);
		const build = (await page.locator('#build-id').innerText()).trim();
		check(build.length > 0, 'the build id is empty');
		const options = await page.locator('#build-options li').allInnerTexts();
		check(options.includes('HW_SOFTWARE') && options.includes('WEBUI'),
			`the build options do not list HW_SOFTWARE and WEBUI: ${options.join(' ')}`);
		const storage = await page.locator('#storage').innerText();
		check(/free of .* used/.test(storage), `storage reads "${storage}"`);
		check(/\d/.test(await page.locator('#uptime').innerText()), 'no uptime');

		step = 'HTTPS: the certificate the box serves, or "HTTPS off"';
		const { tls } = (await boxApi('GET', '/api/v1/system')).json;
		const tlsCard = await page.locator('#tls').innerText();
		if (tls.enabled) {
			check(tlsCard.includes(tls.listen) && tlsCard.includes(tls.certificate.sha256),
				`the HTTPS card does not show the address and fingerprint: ${tlsCard}`);
			check(!tls.certificate.self_signed || /self-signed/.test(tlsCard), 'the card does not say self-signed');
		} else {
			check(/HTTPS off/.test(tlsCard), `the HTTPS card reads: ${tlsCard}`);
		}

		step = 'the hardware report: software available, nvenc/qsv/vaapi not, each with its reason';
		const software = page.locator('#hardware li[data-backend="software"]');
		check((await software.locator('.avail').innerText()).trim() === 'available', 'software is not available');
		check(/libx264/.test(await software.innerText()), 'the software backend lists no libx264');
		for (const name of ['nvenc', 'qsv', 'vaapi']) {
			const li = page.locator(`#hardware li[data-backend="${name}"]`);
			check(await li.count() === 1, `the report has no ${name} backend`);
			check((await li.locator('.avail').innerText()).trim() === 'not available', `${name} reads available`);
			const reason = (await li.locator('.reason').innerText()).trim();
			check(reason.length > 5, `${name} gives no reason: "${reason}"`);
		}
		check(/CPU/.test(await page.locator('#hardware-load').innerText()), 'the load table has no CPU row');
		noProblems();
		await snap('system');
		await page.setViewportSize({ width: 390, height: 844 });
		await snap('system-phone');
		await page.setViewportSize({ width: 1366, height: 768 });

		step = 'a setting is changed and saved';
		await subView('Settings');
		const boxName = page.getByLabel('box_name', { exact: true });
		await boxName.fill('studio-test');
		await page.getByRole('button', { name: 'Save settings' }).click();
		await status('Saved: box_name.').waitFor();
		const settings = await boxApi('GET', '/api/v1/settings');
		check(settings.json.box_name === 'studio-test', `the box's box_name is ${settings.json.box_name}`);
		await snap('settings-saved');

		step = 'an out-of-range setting shows the server\'s message next to its field';
		const idle = page.getByLabel('session_idle_timeout_s', { exact: true });
		allowed = /status of 400/;
		await idle.fill('5');
		await idle.press('Enter');
		const idleError = page.locator('#err-session-idle-timeout-s');
		await idleError.waitFor();
		const message = await idleError.innerText();
		check(/^session_idle_timeout_s: must be between 60 and 86400/.test(message),
			`the message next to the field reads "${message}"`);
		check(await idle.getAttribute('aria-invalid') === 'true', 'the field is not marked invalid');
		check((await idle.getAttribute('aria-describedby') || '').split(' ').includes('err-session-idle-timeout-s'),
			'the field is not described by its message');
		// The message sits in the same row as its field, not at the top of the form.
		const [fieldBox, errorBox] = [await idle.boundingBox(), await idleError.boundingBox()];
		check(errorBox.y > fieldBox.y && errorBox.y - fieldBox.y < 120,
			`the message is not next to the field (field at y=${fieldBox.y}, message at y=${errorBox.y})`);
		check((await boxApi('GET', '/api/v1/settings')).json.session_idle_timeout_s === 1800,
			'the refused value was saved');
		allowed = null;
		noProblems();
		await snap('settings-refused');

		step = 'a user is created with a role and a one-time password';
		await subView('Users');
		await page.getByRole('button', { name: 'New user' }).click();
		await page.getByLabel('Name', { exact: true }).fill('op-test');
		await page.getByLabel('Role', { exact: true }).selectOption('operator');
		await page.getByLabel('One-time password', { exact: true }).fill('tangerine orbit 42');
		await page.getByRole('button', { name: 'Create user' }).click();
		await status('User op-test (operator) created').waitFor();
		const userRow = page.locator('tr[data-user="op-test"]');
		check(/must change password/.test(await userRow.innerText()), `the new user's row: ${await userRow.innerText()}`);
		await snap('user-created');

		step = 'the user\'s role is changed, then the user is deleted after a confirmation';
		await userRow.getByRole('button', { name: /Change/ }).click();
		const panel = page.locator('#user-panel');
		await panel.getByLabel('Role', { exact: true }).selectOption('viewer');
		await panel.getByRole('button', { name: 'Change role' }).click();
		await status('op-test is now viewer').waitFor();
		check(/viewer/.test(await userRow.innerText()), 'the row does not show the new role');
		await panel.getByRole('button', { name: 'Delete user…' }).click();
		const confirm = panel.locator('.confirm');
		await confirm.waitFor();
		await snap('user-delete-confirm');
		check((await boxApi('GET', '/api/v1/users/op-test')).status === 200, 'the user went before the confirmation');
		await confirm.getByRole('button', { name: 'Delete op-test' }).click();
		await status('User op-test deleted.').waitFor();
		check(await userRow.count() === 0, 'the deleted user is still listed');
		check((await boxApi('GET', '/api/v1/users/op-test')).status === 404, 'the box still has the user');

		step = 'an API key is created and its token shown once';
		await subView('API keys');
		await page.getByRole('button', { name: 'New API key' }).click();
		await page.getByLabel('What it is for', { exact: true }).fill('ci-test');
		await page.getByLabel('Role', { exact: true }).selectOption('viewer');
		await page.getByRole('button', { name: 'Create key' }).click();
		const tokenCard = page.locator('#apikey-token');
		await tokenCard.waitFor();
		check(/it will not be shown again/.test(await tokenCard.innerText()), 'no "it will not be shown again"');
		const token = (await page.locator('#apikey-token-value').innerText()).trim();
		const tokenMatch = /^obk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/.exec(token);
		check(tokenMatch, `the token reads "${token}"`);
		const keyId = tokenMatch[1];
		const asKey = await boxApi('GET', '/api/v1/session', null, token);
		check(asKey.status === 200 && asKey.json.role === 'viewer', `the new key does not work: ${asKey.status}`);
		await snap('apikey-token');
		await page.getByRole('button', { name: 'I have copied it' }).click();
		await tokenCard.waitFor({ state: 'detached' });
		await page.locator('#apikeys').getByRole('button', { name: 'Refresh' }).click();
		await page.locator(`tr[data-apikey="${keyId}"]`).waitFor();
		check(!(await page.content()).includes(token.slice(21)), 'the token is still in the page');

		step = 'the API key is revoked after a confirmation';
		const keyRow = page.locator(`tr[data-apikey="${keyId}"]`);
		await keyRow.getByRole('button', { name: /Revoke/ }).click();
		const keyConfirm = page.locator('#apikeys .confirm');
		await keyConfirm.waitFor();
		check((await boxApi('GET', '/api/v1/session', null, token)).status === 200, 'the key went before the confirmation');
		await snap('apikey-revoke-confirm');
		await keyConfirm.getByRole('button', { name: 'Revoke key' }).click();
		await status('revoked').waitFor();
		await keyRow.waitFor({ state: 'detached' });
		check((await boxApi('GET', '/api/v1/session', null, token)).status === 401, 'the revoked key still works');

		step = 'the audit log lists those actions, newest first';
		await subView('Audit log');
		await page.locator('#audit-table tbody tr').first().waitFor();
		const actions = await page.locator('#audit-table tbody tr td[data-label="Action"]').allInnerTexts();
		const want = ['apikey.delete', 'apikey.create', 'user.delete', 'user.update', 'user.create', 'settings.update'];
		const at = want.map((a) => actions.indexOf(a));
		check(at.every((i) => i >= 0), `the audit log lacks some of ${want.join(', ')}: ${actions.join(', ')}`);
		check(at.every((i, n) => n === 0 || at[n - 1] < i), `not newest first: ${actions.join(', ')}`);
		const settingsRow = page.locator('#audit-table tbody tr').filter({ hasText: 'settings.update' }).first();
		check(/box_name: ottbox → studio-test/.test(await settingsRow.innerText()),
			`the settings record does not say what changed: ${await settingsRow.innerText()}`);
		noProblems();
		await snap('audit');

		step = 'the event log lists the box\'s events';
		await page.evaluate(() => { window.ottboxNoReload = true; });
		await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Events' }).click();
		const events = page.locator('section#events');
		await events.waitFor();
		const rows = page.locator('#event-log tbody tr');
		await rows.first().waitFor();
		await page.locator('#events-link.link-open').waitFor();
		const before = await rows.count();

		step = 'a channel made through the API shows up live, without a reload';
		const made = await boxApi('POST', '/api/v1/channels',
			{ name: 'live-one', input: { url: 'test://pattern?size=320x180&rate=25' } });
		check(made.status === 201, `creating a channel answered ${made.status}`);
		const liveRow = rows.filter({ has: page.locator('td[data-label="Kind"]', { hasText: 'channel.created' }) })
			.filter({ hasText: 'live-one' });
		await liveRow.first().waitFor();
		check(await page.evaluate(() => window.ottboxNoReload === true), 'the page was reloaded');
		check(await rows.first().getAttribute('data-seq') === await liveRow.first().getAttribute('data-seq'),
			'the new event is not on top');
		check(await liveRow.first().locator('a[href="#/channels/live-one"]').count() === 1,
			'the event does not link to its channel');
		await snap('events-live');

		step = 'paused, new events wait until resumed';
		await page.getByRole('button', { name: 'Pause' }).click();
		const other = await boxApi('POST', '/api/v1/channels',
			{ name: 'live-two', input: { url: 'test://pattern?size=320x180&rate=25' } });
		check(other.status === 201, `creating a channel answered ${other.status}`);
		await page.getByRole('button', { name: 'Resume (1 new)' }).waitFor();
		check(await rows.filter({ hasText: 'live-two' }).count() === 0, 'a paused log showed the new event');
		await page.getByRole('button', { name: /^Resume/ }).click();
		await rows.filter({ hasText: 'live-two' }).first().waitFor();

		step = 'the channel filter narrows the list to one channel';
		const all = await rows.count();
		check(all > before, `the list did not grow (${before} then ${all})`);
		await page.getByLabel('Channel', { exact: true }).selectOption('live-one');
		await page.waitForFunction(() => {
			const cells = [...document.querySelectorAll('#event-log tbody td.ev-channel')];
			return cells.length > 0 && cells.every((td) => td.innerText.trim() === 'live-one');
		});
		const one = await rows.count();
		check(one < all, `the channel filter did not narrow the list (${all} then ${one})`);
		await snap('events-channel');

		step = 'the level filter narrows the list to warnings and errors';
		await page.getByLabel('Channel', { exact: true }).selectOption('');
		await page.waitForFunction((n) => document.querySelectorAll('#event-log tbody tr').length >= n, all);
		await page.getByLabel('Level at least', { exact: true }).selectOption('warning');
		await page.waitForFunction(() => {
			const trs = [...document.querySelectorAll('#event-log tbody tr')];
			return document.querySelector('#events-none') !== null ||
				(trs.length > 0 && trs.every((tr) => ['warning', 'error'].includes(tr.dataset.level)));
		});
		const serious = await rows.count();
		check(serious < all, `the level filter did not narrow the list (${all} then ${serious})`);
		if (opts.failed) {
			const failures = rows.filter({ has: page.locator(`td.ev-channel a[href="#/channels/${opts.failed}"]`) });
			check(await failures.count() > 0, `the failure of ${opts.failed} is not listed at level warning`);
			check(await failures.first().getAttribute('data-level') === 'error', 'the failure is not an error');
		}
		await snap('events-level');

		step = 'a live event below the level stays out of the filtered list';
		// The page's own live feed (the console's live.js module) says when the event came.
		// The subscription is in place before the channel is made (an event the feed brought
		// before it would never reach it), and the wait for it is bounded.
		await page.evaluate(() => import('/console/live.js').then(({ subscribe }) => {
			window.liveThreeArrived = new Promise((resolve) => {
				const stop = subscribe('event', (ev) => {
					if (ev.kind === 'channel.created' && ev.channel === 'live-three') {
						stop();
						resolve(ev.seq);
					}
				});
			});
		}));
		const third = await boxApi('POST', '/api/v1/channels',
			{ name: 'live-three', input: { url: 'test://pattern?size=320x180&rate=25' } });
		check(third.status === 201, `creating a channel answered ${third.status}`);
		const seq = await page.evaluate((ms) => Promise.race([window.liveThreeArrived,
			new Promise((resolve, reject) => setTimeout(() => reject(new Error(
				`the live feed did not bring the new channel's event within ${ms} ms`)), ms))]),
		opts.timeout * 1000);
		check(await page.locator(`#event-log tbody tr[data-seq="${seq}"]`).count() === 0,
			'an info event showed in a list filtered to warnings');
		await page.getByLabel('Level at least', { exact: true }).selectOption('info');
		await page.locator(`#event-log tbody tr[data-seq="${seq}"]`).waitFor();
		noProblems();
		await page.setViewportSize({ width: 390, height: 844 });
		await snap('events-phone');

		return passed(ARGS.name, opts, shots, started);
	} catch (e) {
		// Awaited here: the browser closes in finally, which runs once this returns.
		return await failed(ARGS.name, opts, step, page, problems, e);
	} finally {
		await browser.close().catch(() => {});
	}
}

exitWith(ARGS.name, main);
