#!/usr/bin/env node
// The console's ladders and access pages in Debian's headless Chromium, against a real
// ottboxd (issue 6). Ladders: a two-rung ladder made through the form shows in the list; a
// 60 % step is flagged on that step as it is typed, and on save the box's own message shows
// next to the rung's bitrate field; edit; delete confirmed in the page (and refused, with the
// box's message, for a ladder a channel uses). Access: a generated key's secret is shown once
// (the box holds that very secret: its fingerprint matches) and not after a reload; a key
// imported in hex; made the signing key; the signing key cannot be retired while another
// remains (the box's message); the old key retired after confirmation; a refused token
// lifetime shows the box's message next to the field, a valid one is saved; a revocation is
// added and removed; the test URL tool issues a URL the origin accepts and links the preview;
// the counters refresh. A viewer sees no control marked data-needs on these pages.
//
//   node tests/e2e/console_admin.mjs BASE_URL --initial-password P --new-password P
//        --api-key K --premium-channel ID --busy-ladder ID --viewer NAME --viewer-password P
//        [--screenshots DIR] [--timeout S]
//
// --api-key: an admin API key, for the direct API calls that read what the box says and
// stores. --premium-channel: a premium channel (it need not run). --busy-ladder: an operator
// ladder a channel uses. --viewer: a user with the viewer role. Each step of note leaves a
// PNG in --screenshots (default output/tests/screenshots/console-admin); a failure leaves
// failed.png there. The page must log no error other than the answers the steps provoke on
// purpose (401 before login, 400 and 409 for the refusals).
//
// Exit status: 0 passed, 1 failed (the step and the reason are printed), 2 a bad command line
// or a missing tool (Chromium, playwright-core).

import { createHash, randomBytes } from 'node:crypto';
import { check, checkNoProblems, exitWith, failed, launch, parseArgs, passed, prepare,
	screenshots } from './harness.mjs';

const DESKTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

const ARGS = {
	name: 'console_admin',
	usage: '--initial-password P --new-password P --api-key K --premium-channel ID' +
		' --busy-ladder ID --viewer NAME --viewer-password P',
	screenshots: 'console-admin',
	options: {
		'--initial-password': ['initial', true],
		'--new-password': ['fresh', true],
		'--api-key': ['key', true],
		'--premium-channel': ['premium', true],
		'--busy-ladder': ['busy', true],
		'--viewer': ['viewer', true],
		'--viewer-password': ['viewerPassword', true],
	},
};

const fingerprint = (hex) => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex').slice(0, 16);

async function main() {
	const opts = parseArgs(ARGS, process.argv.slice(2));
	const chromium = await prepare(ARGS.name, opts);
	if (!chromium) return 2;

	// The box's API, with the admin key: what it says and what it stores.
	const call = async (method, path, body) => {
		const headers = { Authorization: `Bearer ${opts.key}` };
		if (body !== undefined) headers['Content-Type'] = 'application/json';
		const res = await fetch(`${opts.base}${path}`, { method, headers,
			body: body === undefined ? undefined : JSON.stringify(body) });
		const text = await res.text();
		return { status: res.status, json: text ? JSON.parse(text) : null };
	};

	const started = Date.now();
	const problems = []; // errors the page logged that no step provoked on purpose
	let step = 'starting Chromium';
	const shots = screenshots(opts.screenshots);
	const browser = await launch(ARGS.name, chromium);
	if (!browser) return 2;
	const watch = (page) => {
		page.on('console', (m) => {
			if (m.type() !== 'error') return;
			const text = m.text();
			// 401 before login; 400 and 409: the refusals the steps provoke on purpose.
			if (/status of (400|401|409)/.test(text)) return;
			problems.push(text.slice(0, 400));
		});
		page.on('pageerror', (e) => problems.push(`page error: ${e.message}`.slice(0, 400)));
		page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
		page.on('response', (r) => {
			if (r.status() >= 400 && !r.url().includes('/api/')) problems.push(`HTTP ${r.status()} for ${r.url()}`);
		});
	};
	const context = await browser.newContext({ viewport: DESKTOP });
	context.setDefaultTimeout(opts.timeout * 1000);
	let page = await context.newPage();
	watch(page);

	const snap = (name) => shots.snap(page, name);
	const noProblems = () => checkNoProblems(problems);
	const login = async (name, password) => {
		await page.getByLabel('User name').fill(name);
		await page.getByLabel('Password', { exact: true }).fill(password);
		await page.getByRole('button', { name: 'Log in' }).click();
	};
	const text = async (selector) => (await page.locator(selector).innerText()).trim();
	const go = async (hash, selector) => {
		await page.evaluate((h) => { location.hash = h; }, hash);
		await page.locator(selector).waitFor();
	};
	const rungInput = (index, field) => page.locator(`#ladder-rungs-${index}--${field.replace(/_/g, '-')}`);

	try {
		step = 'first login with the one-time password and the forced change';
		await page.goto(`${opts.base}/#/ladders`);
		await login('admin', opts.initial);
		await page.locator('form#change').waitFor();
		await page.getByLabel('Current password').fill(opts.initial);
		await page.getByLabel(/^New password \(/).fill(opts.fresh);
		await page.getByLabel('New password again').fill(opts.fresh);
		await page.getByLabel('New password again').press('Enter');

		// ---- ladders ----
		step = 'the ladders list shows the built-in presets and the operator ladder';
		await page.locator('#ladder-list').waitFor();
		check(page.url().endsWith('#/ladders'), `the URL is ${page.url()}, not …#/ladders`);
		for (const id of ['1080p-5', '720p-3', opts.busy]) await page.locator(`#ladder-row-${id}`).waitFor();
		check((await text('#ladder-row-720p-3')).includes('built-in'), 'the 720p-3 preset is not marked built-in');
		check(await page.locator('#ladder-row-720p-3').getByRole('link', { name: 'Start from this preset' }).count() === 1,
			'a preset has no "Start from this preset" link');
		noProblems();
		await snap('ladders-list');

		step = 'start from a preset: a new form with its rungs';
		await page.locator('#ladder-row-720p-3').getByRole('link', { name: 'Start from this preset' }).click();
		await page.locator('form#ladder-form').waitFor();
		check(page.url().endsWith('#/ladders/new/720p-3'), `the URL is ${page.url()}`);
		check(await page.locator('fieldset.rung').count() === 3, 'the copy does not have the preset\'s 3 rungs');
		check(await rungInput(2, 'video_bitrate_kbps').inputValue() === '1100', 'the copy lacks the preset\'s bitrates');
		check(await page.getByLabel('Id', { exact: true }).inputValue() === '', 'the copy keeps the preset\'s id');
		await page.getByRole('link', { name: 'Cancel' }).click();
		await page.locator('#ladder-list').waitFor();

		step = 'a two-rung ladder through the form, the step shown as it is typed';
		await page.locator('#ladder-new').click();
		await page.locator('form#ladder-form').waitFor();
		await page.getByLabel('Id', { exact: true }).fill('e2e-two');
		await page.getByLabel('Name', { exact: true }).fill('E2E two rungs');
		await rungInput(0, 'width').fill('1280');
		await rungInput(0, 'height').fill('720');
		await rungInput(0, 'video_bitrate_kbps').fill('3000');
		await page.locator('#rung-add').click();
		await rungInput(1, 'width').fill('960');
		await rungInput(1, 'height').fill('540');
		await rungInput(1, 'video_bitrate_kbps').fill('1800');
		check((await text('#step-1')).includes('40.0 %'), `the step reads "${await text('#step-1')}", not 40.0 %`);
		check(!(await page.locator('#step-1').getAttribute('class')).includes('bad'), 'a 40 % step is flagged');
		check((await rungInput(1, 'max_bitrate_kbps').getAttribute('placeholder')) === 'auto (1980)',
			'the max bitrate does not say it follows the bitrate (auto (1980))');
		await snap('ladder-form');
		await page.setViewportSize(PHONE);
		await snap('ladder-form-phone');
		const wide = await page.evaluate(() => document.documentElement.scrollWidth);
		check(wide <= PHONE.width, `the ladder form is ${wide} px wide on a ${PHONE.width} px phone`);
		await page.setViewportSize(DESKTOP);
		await page.locator('#ladder-save').click();
		await page.locator('#ladder-row-e2e-two').waitFor();
		check((await text('#ladders-notice')).includes('"e2e-two" saved'), 'no "saved" notice');
		check((await text('#ladder-row-e2e-two')).includes('E2E two rungs'), 'the new ladder row lacks its name');
		const two = await call('GET', '/api/v1/ladders/e2e-two');
		check(two.status === 200 && two.json.rungs.length === 2 && two.json.rungs[1].video_bitrate_kbps === 1800,
			`the box stored ${JSON.stringify(two.json)}`);

		step = 'a 60 % step: flagged as typed, then the box\'s message beside the rung\'s bitrate';
		const steep = { id: 'e2e-steep', name: 'E2E steep', rungs: [
			{ width: 1280, height: 720, video_bitrate_kbps: 3000 },
			{ width: 640, height: 360, video_bitrate_kbps: 1200 }] };
		const refused = await call('POST', '/api/v1/ladders', steep);
		check(refused.status === 400 && refused.json.error.field === 'rungs[1].video_bitrate_kbps',
			`the box answered ${refused.status} ${JSON.stringify(refused.json)} to a 60 % step`);
		const stepMessage = refused.json.error.message;
		await page.locator('#ladder-new').click();
		await page.locator('form#ladder-form').waitFor();
		await page.getByLabel('Id', { exact: true }).fill(steep.id);
		await page.getByLabel('Name', { exact: true }).fill(steep.name);
		await page.locator('#rung-add').click();
		await rungInput(1, 'width').fill('640');
		await rungInput(1, 'height').fill('360');
		await rungInput(1, 'video_bitrate_kbps').fill('1200');
		const flag = page.locator('#step-1');
		check((await flag.getAttribute('class')).includes('bad'), 'a 60 % step is not flagged');
		check((await flag.innerText()).includes('60.0 %') && (await flag.innerText()).includes('outside 30–45 %'),
			`the flag reads "${await flag.innerText()}"`);
		check((await rungInput(1, 'video_bitrate_kbps').getAttribute('aria-describedby') || '').includes('step-1'),
			'the bitrate field is not described by its step');
		await page.locator('#ladder-save').click();
		const fieldError = page.locator('#err-rungs-1--video-bitrate-kbps');
		await fieldError.waitFor();
		check((await fieldError.innerText()).includes(stepMessage),
			`beside the field: "${await fieldError.innerText()}", the box says "${stepMessage}"`);
		const bitrate = rungInput(1, 'video_bitrate_kbps');
		check(await bitrate.getAttribute('aria-invalid') === 'true', 'the bitrate field is not aria-invalid');
		check((await bitrate.getAttribute('aria-describedby')).includes('err-rungs-1--video-bitrate-kbps'),
			'the bitrate field is not described by the message');
		check(await bitrate.evaluate((el) => el === document.activeElement), 'the refused field does not have the focus');
		check(await page.locator('#ladder-form').getByRole('alert').count() === 0,
			'a field message also shows at the top of the form');
		await snap('ladder-step-refused');
		await page.getByLabel(/^Check the bitrate steps/).uncheck();
		check(!(await flag.getAttribute('class')).includes('bad'), 'the step is still flagged with check_steps off');
		await page.getByRole('link', { name: 'Cancel' }).click();
		await page.locator('#ladder-list').waitFor();
		check(await page.locator('#ladder-row-e2e-steep').count() === 0, 'the refused ladder is listed');

		step = 'edit the ladder';
		await page.locator('#ladder-row-e2e-two').getByRole('link', { name: 'Edit' }).click();
		await page.locator('form#ladder-form').waitFor();
		check(page.url().endsWith('#/ladders/e2e-two'), `the URL is ${page.url()}`);
		check(await rungInput(1, 'video_bitrate_kbps').inputValue() === '1800', 'the form does not show the stored bitrate');
		await page.getByLabel('Name', { exact: true }).fill('E2E two rungs, edited');
		await rungInput(1, 'video_bitrate_kbps').fill('1900');
		check((await text('#step-1')).includes('36.7 %'), `the step reads "${await text('#step-1')}"`);
		await page.locator('#ladder-save').click();
		await page.locator('#ladder-row-e2e-two').filter({ hasText: 'E2E two rungs, edited' }).waitFor();
		const edited = (await call('GET', '/api/v1/ladders/e2e-two')).json;
		check(edited.name === 'E2E two rungs, edited' && edited.rungs[1].video_bitrate_kbps === 1900 &&
			edited.rungs[1].max_bitrate_kbps === 2090,
			`the box stored ${JSON.stringify(edited)} (the max bitrate should follow: 2090)`);

		step = 'delete, confirmed in the page';
		const row = page.locator('#ladder-row-e2e-two');
		await row.getByRole('button', { name: 'Delete', exact: true }).click();
		await row.getByRole('group', { name: 'Delete ladder "e2e-two"?' }).waitFor();
		await row.getByRole('button', { name: 'Cancel' }).click();
		check(await row.getByRole('button', { name: 'Yes, delete' }).count() === 0, 'Cancel did not close the question');
		check((await call('GET', '/api/v1/ladders/e2e-two')).status === 200, 'the ladder went without a yes');
		await row.getByRole('button', { name: 'Delete', exact: true }).click();
		await row.getByRole('button', { name: 'Yes, delete' }).click();
		await row.waitFor({ state: 'detached' });
		check((await text('#ladders-notice')).includes('"e2e-two" deleted'), 'no "deleted" notice');
		check((await call('GET', '/api/v1/ladders/e2e-two')).status === 404, 'the box still has the ladder');

		step = 'a ladder a channel uses is not deleted: the box\'s message';
		const busyRow = page.locator(`#ladder-row-${opts.busy}`);
		await busyRow.getByRole('button', { name: 'Delete', exact: true }).click();
		await busyRow.getByRole('button', { name: 'Yes, delete' }).click();
		await page.getByRole('alert').filter({ hasText: `ladder "${opts.busy}" is used by channels` }).waitFor();
		check(await busyRow.count() === 1, 'the ladder in use left the list');
		noProblems();

		// ---- access ----
		step = 'the access page';
		await go('#/access', 'form#policy-form');
		await page.locator('#key-list-empty').waitFor();
		await page.locator('#access-stats dl').waitFor();
		noProblems();
		await snap('access');

		step = 'generate a key: the secret is shown once';
		await page.locator('#key-id').fill('e2e-gen');
		await page.locator('#key-create-submit').click();
		const secretBox = page.locator('#new-secret');
		await secretBox.waitFor();
		check((await secretBox.innerText()).includes('it will not be shown again'), 'the secret box does not warn');
		const secret = await page.locator('#new-secret-hex').inputValue();
		check(/^[0-9a-f]{64}$/.test(secret), `the secret shown is "${secret}", not 64 hex digits`);
		await page.locator('#key-row-e2e-gen').waitFor();
		check(await page.locator('#key-row-e2e-gen .tag.good').count() === 1, 'the first key does not sign');
		const gen = (await call('GET', '/api/v1/access/keys')).json.keys.find((k) => k.id === 'e2e-gen');
		check(gen && gen.fingerprint === fingerprint(secret), 'the secret shown is not the key the box holds');
		check((await text('#key-row-e2e-gen')).includes(gen.fingerprint), 'the row lacks the fingerprint');
		await snap('access-key-secret');

		step = 'after a reload the secret is gone';
		await page.reload();
		await page.locator('#key-row-e2e-gen').waitFor();
		check(await page.locator('#new-secret').count() === 0, 'the secret box is back after a reload');
		const shown = await page.evaluate(() => document.body.innerText +
			[...document.querySelectorAll('input, textarea')].map((el) => el.value).join(' '));
		check(!shown.includes(secret), 'the secret is in the page after a reload');

		step = 'import a key in hex, make it the signing key';
		const imported = randomBytes(32).toString('hex');
		await page.getByLabel('Import one the CDN already has').check();
		await page.locator('#key-id').fill('e2e-imp');
		await page.locator('#key-secret-hex').fill(imported);
		await page.locator('#key-create-submit').click();
		await page.locator('#key-row-e2e-imp').waitFor();
		check(await page.locator('#new-secret').count() === 0, 'an imported key\'s secret is shown');
		check((await text('#key-row-e2e-imp')).includes(fingerprint(imported)), 'the imported key has another fingerprint');
		check(await page.locator('#key-row-e2e-imp .tag.good').count() === 0, 'the imported key signs without being asked');
		await page.locator('#key-sign-e2e-imp').click();
		await page.locator('#key-row-e2e-imp .tag.good').waitFor();
		check(await page.locator('#key-row-e2e-gen .tag.good').count() === 0, 'two keys sign');

		step = 'the signing key is not retired while another remains: the box\'s message';
		await page.locator('#key-retire-e2e-imp').click();
		await page.locator('#key-row-e2e-imp').getByRole('button', { name: 'Yes, retire' }).click();
		await page.locator('#keys').getByRole('alert').filter({ hasText: '"e2e-imp" signs new tokens' }).waitFor();

		step = 'retire the old key, confirmed in the page';
		await page.locator('#key-retire-e2e-gen').click();
		const ask = page.locator('#key-row-e2e-gen').getByRole('group', { name: /^Retire key "e2e-gen"\?/ });
		await ask.waitFor();
		check((await call('GET', '/api/v1/access/keys')).json.keys.length === 2, 'a key went without a yes');
		await ask.getByRole('button', { name: 'Yes, retire' }).click();
		await page.locator('#key-row-e2e-gen').waitFor({ state: 'detached' });
		const keys = (await call('GET', '/api/v1/access/keys')).json.keys;
		check(keys.length === 1 && keys[0].id === 'e2e-imp' && keys[0].signing, `the box holds ${JSON.stringify(keys)}`);

		step = 'a token lifetime the box refuses: its message beside the field';
		const policy = (await call('GET', '/api/v1/access/policy')).json;
		const bad = structuredClone(policy);
		bad.risk_classes.standard.ttl_seconds = 5;
		const badPut = await call('PUT', '/api/v1/access/policy', bad);
		check(badPut.status === 400 && badPut.json.error.field === 'risk_classes.standard.ttl_seconds',
			`the box answered ${badPut.status} ${JSON.stringify(badPut.json)} to a 5 s lifetime`);
		const ttlInput = page.getByLabel('Default token lifetime of standard (seconds)');
		await ttlInput.fill('5');
		await page.locator('#policy-save').click();
		const ttlError = page.locator('#err-risk-classes-standard-ttl-seconds');
		await ttlError.waitFor();
		check((await ttlError.innerText()).includes(badPut.json.error.message),
			`beside the field: "${await ttlError.innerText()}", the box says "${badPut.json.error.message}"`);
		check(await ttlInput.getAttribute('aria-invalid') === 'true', 'the lifetime field is not aria-invalid');
		await page.locator('#policy').scrollIntoViewIfNeeded();
		await snap('access-policy-refused');
		await ttlInput.fill('1800');
		check(await page.locator('#err-risk-classes-standard-ttl-seconds').count() === 0, 'the message stays after a change');
		await page.locator('#policy-save').click();
		await page.locator('#policy-saved').waitFor();
		const savedPolicy = (await call('GET', '/api/v1/access/policy')).json;
		check(savedPolicy.risk_classes.standard.ttl_seconds === 1800, `the box holds ${JSON.stringify(savedPolicy)}`);

		step = 'add a revocation and remove it';
		await page.locator('#revoke-kind').selectOption('viewer_id');
		await page.locator('#revoke-value').fill('e2e-viewer');
		await page.locator('#revoke-reason').fill('shared the URL');
		await page.locator('#revoke-submit').click();
		const revoked = page.locator('#revocation-list tr').filter({ hasText: 'e2e-viewer' });
		await revoked.waitFor();
		const revs = (await call('GET', '/api/v1/access/revocations')).json.revocations;
		check(revs.length === 1 && revs[0].viewer_id === 'e2e-viewer' && revs[0].reason === 'shared the URL',
			`the box holds ${JSON.stringify(revs)}`);
		await revoked.getByRole('button', { name: 'Remove', exact: true }).click();
		await revoked.getByRole('button', { name: 'Yes, remove' }).click();
		await page.locator('#revocation-list-empty').waitFor();
		check((await call('GET', '/api/v1/access/revocations')).json.revocations.length === 0, 'the box still revokes');

		step = 'the test URL tool issues a URL the origin accepts, and links the preview';
		await page.locator('#tok-channel').selectOption(opts.premium);
		await page.locator('#tok-viewer').fill('e2e-viewer');
		await page.locator('#token-issue').click();
		await page.locator('#token-result').waitFor();
		const url = await page.locator('#token-url').inputValue();
		check(url.includes(`/premium/live/${opts.premium}/`) && url.includes('__token__='), `the URL is ${url}`);
		const token = url.slice(url.indexOf('__token__=') + '__token__='.length);
		check(token.includes('data=viewer=e2e-viewer'), `the token does not name the viewer: ${token}`);
		const href = await page.locator('#token-preview').getAttribute('href');
		const prefix = `#/channels/${opts.premium}/token/`;
		check(href.startsWith(prefix) && decodeURIComponent(href.slice(prefix.length)) === token,
			`the preview link is ${href}`);
		check((await text('#token-result')).includes('e2e-imp'), 'the result does not name the signing key');
		// The channel is not running: the origin answers 404 for a token it accepts, 401 or
		// 403 for one it refuses.
		const origin = await fetch(url.startsWith('http') ? url : `${opts.base}${url}`);
		check(origin.status === 404, `the origin answered ${origin.status} to the test URL`);
		await snap('access-test-url');

		step = 'the counters refresh';
		await page.locator('#stats-refresh').click();
		await page.waitForFunction(() => Number(document.querySelector('#stats-allowed')?.textContent) > 0);
		noProblems();

		// ---- a viewer ----
		step = 'a viewer sees no control that changes something';
		await context.close();
		const viewerContext = await browser.newContext({ viewport: DESKTOP });
		viewerContext.setDefaultTimeout(opts.timeout * 1000);
		page = await viewerContext.newPage();
		watch(page);
		await page.goto(`${opts.base}/#/access`);
		await login(opts.viewer, opts.viewerPassword);
		await page.locator('#access-stats dl').waitFor();
		// The shell takes the session's permissions from GET /api/v1/session, which the login
		// answer lacks: load the page again (once its requests are done) to have them.
		await page.waitForLoadState('networkidle');
		await page.reload();
		await page.locator('#keys-admin-only').waitFor();
		await page.locator('#policy-classes').waitFor();
		await page.locator('#revocation-list-empty').waitFor();
		await page.locator('#access-stats dl').waitFor();
		const none = async (where) => {
			const n = await page.locator('[data-needs]').count();
			check(n === 0, `${where}: the viewer sees ${n} controls marked data-needs`);
		};
		await none('#/access');
		await snap('access-viewer');
		for (const [hash, selector] of [['#/ladders', `#ladder-row-${opts.busy}`],
			['#/ladders/720p-3', '#ladder-view'], [`#/ladders/${opts.busy}`, '#ladder-view'],
			['#/ladders/new', '#ladders .hint']]) {
			await go(hash, selector);
			await none(hash);
		}
		noProblems();

		return passed(ARGS.name, opts, shots, started);
	} catch (e) {
		// Awaited here: the browser closes in finally, which runs once this returns.
		return await failed(ARGS.name, opts, step, page, problems, e);
	} finally {
		await browser.close().catch(() => {});
	}
}

exitWith(ARGS.name, main);
