#!/usr/bin/env node
// The admin console in Debian's headless Chromium, against a real ottboxd: first login with
// the one-time password, the forced change, the overview, logout, login again; a session that
// ends under the console (its cookie dropped, or DELETE /api/v1/session from elsewhere) sends
// the next action to the login form, and logging in again returns to the same view.
//
//   node tests/e2e/console.mjs BASE_URL --initial-password P --new-password P
//        [--channel NAME] [--screenshots DIR] [--timeout S]
//
// BASE_URL is the box (http://127.0.0.1:PORT). --channel: a channel the overview must list.
// Each step leaves a PNG in --screenshots (default output/tests/screenshots/console); a
// failure leaves failed.png there. The page must log no error (a CSP refusal, a module that
// does not load, an exception) other than the 401 answers the expiry steps provoke.
//
// Exit status: 0 passed, 1 failed (the step and the reason are printed), 2 a bad command line
// or a missing tool (Chromium, playwright-core).

import { check, checkNoProblems, exitWith, failed, isLiveFeedAbort, launch, parseArgs,
	passed, prepare, screenshots } from './harness.mjs';


const ARGS = {
	name: 'console',
	usage: '--initial-password P --new-password P [--channel NAME]',
	screenshots: 'console',
	options: {
		'--initial-password': ['initial', true],
		'--new-password': ['fresh', true],
		'--channel': ['channel', false],
	},
};

async function main() {
	const opts = parseArgs(ARGS, process.argv.slice(2));
	const chromium = await prepare(ARGS.name, opts);
	if (!chromium) return 2;

	const started = Date.now();
	const problems = []; // errors the page logged that no step provoked on purpose
	let step = 'starting Chromium';
	const shots = screenshots(opts.screenshots);
	const browser = await launch(ARGS.name, chromium);
	if (!browser) return 2;
	const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
	context.setDefaultTimeout(opts.timeout * 1000);
	const page = await context.newPage();
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		const text = m.text();
		// The expiry steps make the API answer 401 on purpose; Chromium logs each one.
		if (/status of 401/.test(text)) return;
		problems.push(text.slice(0, 400));
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`.slice(0, 400)));
	page.on('requestfailed', (r) => {
		// The live feed's stream is cut on purpose when the last view using it goes away or
		// the session ends (console/live.js); that is no failure.
		if (isLiveFeedAbort(r)) return;
		problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
	});
	page.on('response', (r) => {
		if (r.status() >= 400 && r.status() !== 401 && !r.url().includes('/api/')) {
			problems.push(`HTTP ${r.status()} for ${r.url()}`);
		}
	});

	const snap = (name) => shots.snap(page, name);
	const noProblems = () => checkNoProblems(problems);
	const login = async (password) => {
		await page.getByLabel('User name').fill('admin');
		await page.getByLabel('Password', { exact: true }).fill(password);
		await page.getByRole('button', { name: 'Log in' }).click();
	};
	const loginForm = () => page.locator('form#login');

	try {
		step = 'the console loads and shows the login form';
		await page.goto(`${opts.base}/`);
		await loginForm().waitFor();
		check(await page.getByLabel('User name').evaluate((el) => el === document.activeElement),
			'the user name field does not have the focus');
		noProblems();
		await snap('login');

		step = 'a wrong password is refused with a message';
		await login('not the password');
		await page.getByRole('alert').filter({ hasText: 'Wrong user name or password' }).waitFor();
		await snap('login-refused');

		step = 'the one-time password leads to the forced password change';
		await login(opts.initial);
		await page.locator('form#change').waitFor();
		await snap('change-password');

		step = 'the new password is saved and the dashboard shows';
		await page.getByLabel('Current password').fill(opts.initial);
		await page.getByLabel(/^New password \(/).fill(opts.fresh);
		await page.getByLabel('New password again').fill(opts.fresh);
		// Keyboard: Enter in the last field submits the form.
		await page.getByLabel('New password again').press('Enter');
		await page.locator('section#dashboard').waitFor();
		await page.getByRole('heading', { name: 'Channels' }).waitFor();
		check((await page.locator('#who').innerText()).includes('admin'), 'the header does not name the user');
		if (opts.channel) {
			const row = page.locator('table.channels tbody tr').filter({ hasText: opts.channel });
			await row.waitFor();
			check((await row.innerText()).includes('stopped'), `the channel row has no state: ${await row.innerText()}`);
		}
		noProblems();
		await snap('overview');
		await page.setViewportSize({ width: 390, height: 844 });
		await snap('overview-phone');
		await page.setViewportSize({ width: 1366, height: 768 });

		step = 'logout returns to the login form';
		await page.getByRole('button', { name: 'Log out' }).click();
		await loginForm().waitFor();
		await page.getByText('You are logged out.').waitFor();
		await snap('logged-out');

		step = 'login again with the new password';
		await login(opts.fresh);
		await page.locator('section#dashboard').waitFor();
		await snap('overview-again');

		step = 'the system view';
		await page.getByRole('link', { name: 'System' }).click();
		await page.locator('section#system').waitFor();
		await page.locator('#hardware li').first().waitFor();
		check(page.url().endsWith('#/system'), `the URL is ${page.url()}, not …#/system`);
		// A plain login (no password change after it) knows the role's permissions too.
		await page.getByRole('link', { name: 'Users' }).waitFor();
		noProblems();
		await snap('system');

		step = 'a dropped session cookie: the next action shows the login form';
		await context.clearCookies();
		await page.getByRole('button', { name: 'Refresh' }).click();
		await loginForm().waitFor();
		await page.getByText('Your session has ended').waitFor();
		check(page.url().endsWith('#/system'), `the URL lost the view: ${page.url()}`);
		await snap('expired-login');

		step = 'logging in again returns to the system view';
		await login(opts.fresh);
		await page.locator('section#system').waitFor();
		await snap('system-after-expiry');

		step = 'a session ended by DELETE /api/v1/session elsewhere: back to login, then the same view';
		// context.request shares the page's cookies: this ends the page's own session.
		const info = await (await context.request.get(`${opts.base}/api/v1/session`)).json();
		const del = await context.request.delete(`${opts.base}/api/v1/session`,
			{ headers: { 'X-CSRF-Token': info.csrf_token } });
		check(del.status() === 204, `DELETE /api/v1/session answered ${del.status()}`);
		await page.getByRole('link', { name: 'Dashboard' }).click();
		await loginForm().waitFor();
		check(page.url().endsWith('#/dashboard'), `the URL lost the view: ${page.url()}`);
		await login(opts.fresh);
		await page.locator('section#dashboard').waitFor();
		await page.getByRole('heading', { name: 'Channels' }).waitFor();
		noProblems();
		await snap('overview-after-delete');

		return passed(ARGS.name, opts, shots, started);
	} catch (e) {
		// Awaited here: the browser closes in finally, which runs once this returns.
		return await failed(ARGS.name, opts, step, page, problems, e);
	} finally {
		await browser.close().catch(() => {});
	}
}

exitWith(ARGS.name, main);
