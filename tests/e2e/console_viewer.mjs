#!/usr/bin/env node
// A viewer-role user in the console, in Debian's headless Chromium against a real ottboxd:
// after the first login (and the forced password change) every page shows no control that
// changes something (no element marked data-needs, no visible button or link that creates,
// saves, deletes, starts, stops, revokes or retires), and no page logs an error; then a
// request forced from the viewer's own session, with its CSRF token, is refused: starting
// a channel and changing a setting answer 403 and change nothing.
//
//   node tests/e2e/console_viewer.mjs BASE_URL --user NAME --password P --new-password P
//        --channel ID --ladder ID [--screenshots DIR] [--timeout S]
//
// NAME is a viewer the box has (with --password; when it must change it, the console's
// forced change sets --new-password); ID a channel and a ladder of the box, so the pages
// have something to show. Each page leaves a PNG in --screenshots (default
// output/tests/screenshots/console-viewer); a failure leaves failed.png there.
//
// Exit status: 0 passed, 1 failed (the step and the reason are printed), 2 a bad command line
// or a missing tool (Chromium, playwright-core).

import { check, checkNoProblems, exitWith, failed, isLiveFeedAbort, launch, parseArgs,
	passed, prepare, screenshots } from './harness.mjs';

// Words that start the label of a control that changes something.
const CHANGING = /^(new|create|add|save|edit|change|update|delete|remove|start|stop|restart|revoke|retire|rotate|import|issue|disable|enable|reset|apply changes)\b/i;

const ARGS = {
	name: 'console_viewer',
	usage: '--user NAME --password P --new-password P --channel ID --ladder ID',
	screenshots: 'console-viewer',
	options: {
		'--user': ['user', true],
		'--password': ['password', true],
		'--new-password': ['fresh', true],
		'--channel': ['channel', true],
		'--ladder': ['ladder', true],
	},
};

async function main() {
	const opts = parseArgs(ARGS, process.argv.slice(2));
	const chromium = await prepare(ARGS.name, opts);
	if (!chromium) return 2;

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
		if (/status of 401/.test(text) && /\/api\/v1\/session/.test(text)) return;
		if (allowed && allowed.test(text)) return;
		problems.push(text.slice(0, 400));
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`.slice(0, 400)));
	page.on('requestfailed', (r) => {
		if (isLiveFeedAbort(r)) return;
		problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
	});
	// A page must not even ask for what the role may not read (an admin-only list).
	page.on('response', (r) => {
		if (r.status() >= 400 && !(allowed && allowed.test(`${r.status()} ${r.url()}`))) {
			if (r.status() === 401 && r.url().endsWith('/api/v1/session')) return;
			problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
		}
	});

	const snap = (name) => shots.snap(page, name);
	const noProblems = () => checkNoProblems(problems);

	// The page has settled: its section is there and nothing says it is loading.
	const settle = async (section) => {
		await page.locator(`section#${section}`).waitFor();
		await page.waitForFunction(() => !/Loading…/.test(document.querySelector('main').innerText));
		await page.waitForTimeout(300);
		await page.waitForFunction(() => !/Loading…/.test(document.querySelector('main').innerText));
	};

	// What on the page changes something: marked controls, and visible buttons and links
	// whose label says they create, save, delete, start, stop, revoke, retire...
	const changingControls = () => page.evaluate((pattern) => {
		const re = new RegExp(pattern, 'i');
		const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
		const found = [...document.querySelectorAll('[data-needs]')].map((el) =>
			`${el.tagName.toLowerCase()}[data-needs=${el.dataset.needs}] "${el.innerText.trim().slice(0, 40)}"`);
		const controls = document.querySelectorAll('main button, main a, main [role="button"], main input[type="submit"]');
		for (const el of controls) {
			const label = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
			if (visible(el) && re.test(label)) found.push(`${el.tagName.toLowerCase()} "${label.slice(0, 40)}"`);
		}
		return found;
	}, CHANGING.source);

	const pages = [
		['dashboard', '#/dashboard'],
		['channels', '#/channels'],
		['channels', `#/channels/${encodeURIComponent(opts.channel)}`],
		['ladders', '#/ladders'],
		['ladders', `#/ladders/${encodeURIComponent(opts.ladder)}`],
		['access', '#/access'],
		['events', '#/events'],
		['system', '#/system'],
		['system', '#/system/settings'],
	];

	try {
		step = 'the viewer logs in (and chooses a password when the box asks)';
		await page.goto(`${opts.base}/`);
		await page.getByLabel('User name').fill(opts.user);
		await page.getByLabel('Password', { exact: true }).fill(opts.password);
		await page.getByRole('button', { name: 'Log in' }).click();
		await page.locator('form#change, section#dashboard').first().waitFor();
		if (await page.locator('form#change').count()) {
			await snap('change-password');
			await page.getByLabel('Current password').fill(opts.password);
			await page.getByLabel(/^New password \(/).fill(opts.fresh);
			await page.getByLabel('New password again').fill(opts.fresh);
			await page.getByRole('button', { name: 'Save password' }).click();
		}
		await page.locator('section#dashboard').waitFor();
		check(/\(viewer\)/.test(await page.locator('#who').innerText()), 'the header does not say viewer');

		for (const [section, hash] of pages) {
			step = `${hash} shows no control that changes something`;
			await page.goto(`${opts.base}/${hash}`);
			await settle(section);
			const found = await changingControls();
			check(!found.length, `controls a viewer may not use: ${found.join('; ')}`);
			noProblems();
			await snap(hash.replace(/^#\//, '').replace(/[^A-Za-z0-9]+/g, '-'));
		}

		step = 'the system page offers no admin views to a viewer';
		await page.goto(`${opts.base}/#/system`);
		await settle('system');
		const views = await page.getByRole('navigation', { name: 'System views' }).getByRole('link').allInnerTexts();
		check(views.join(',') === 'Overview,Settings', `the system views offered: ${views.join(', ')}`);
		await page.goto(`${opts.base}/#/system/users`);
		await settle('system');
		check(await page.locator('#users-table').count() === 0, 'the users table shows');
		noProblems();

		step = 'the viewer at phone width';
		await page.setViewportSize({ width: 390, height: 844 });
		await page.goto(`${opts.base}/#/system/settings`);
		await settle('system');
		await snap('system-settings-phone');
		await page.setViewportSize({ width: 1366, height: 768 });

		step = 'a start forced from the viewer\'s session is refused';
		allowed = /status of 403|^403 /;
		const forced = await page.evaluate(async (id) => {
			const session = await (await fetch('/api/v1/session', { credentials: 'same-origin' })).json();
			const call = async (method, path, body) => {
				const res = await fetch(path, { method, credentials: 'same-origin', body,
					headers: { 'X-CSRF-Token': session.csrf_token, 'Content-Type': 'application/json' } });
				return { status: res.status, body: await res.json().catch(() => null) };
			};
			const start = await call('POST', `/api/v1/channels/${encodeURIComponent(id)}/start`, '{}');
			const settings = await call('PATCH', '/api/v1/settings', JSON.stringify({ box_name: 'taken-over' }));
			const channel = await (await fetch(`/api/v1/channels/${encodeURIComponent(id)}`)).json();
			const after = await (await fetch('/api/v1/settings')).json();
			return { role: session.role, start, settings, state: channel.status && channel.status.state, boxName: after.box_name };
		}, opts.channel);
		allowed = null;
		check(forced.role === 'viewer', `the session's role is ${forced.role}`);
		check(forced.start.status === 403 && forced.start.body?.error?.code === 'forbidden',
			`starting the channel answered ${forced.start.status} ${JSON.stringify(forced.start.body)}`);
		check(forced.state !== 'starting' && forced.state !== 'live',
			`the channel is ${forced.state} after the refused start`);
		step = 'a settings change forced from the viewer\'s session is refused';
		check(forced.settings.status === 403 && forced.settings.body?.error?.code === 'forbidden',
			`PATCH /api/v1/settings answered ${forced.settings.status} ${JSON.stringify(forced.settings.body)}`);
		check(forced.boxName !== 'taken-over', 'the box name was changed');
		noProblems();

		return passed(ARGS.name, opts, shots, started, `${pages.length} pages, `);
	} catch (e) {
		// Awaited here: the browser closes in finally, which runs once this returns.
		return await failed(ARGS.name, opts, step, page, problems, e);
	} finally {
		await browser.close().catch(() => {});
	}
}

exitWith(ARGS.name, main);
