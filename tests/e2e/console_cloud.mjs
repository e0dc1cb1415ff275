#!/usr/bin/env node
// The console's cloud page in Debian's headless Chromium, against a real ottboxd next to the
// reference control plane (tests/controlplane/cp.py), as the admin: the status before
// enrollment; an enrollment with a token another device used, refused with the control
// plane's words next to the token; the enrollment through the form (two signing keys pasted
// as one text, a token from the control plane) turning the status to enrolled with the
// device id; a desired state set on the control plane reaching the page's applied
// generation after "Sync now"; the same bundle uploaded again (already applied) and a
// tampered one read from a .jws file (refused, bad_signature, nothing changed); a webhook
// created (its secret shown once), disabled and enabled, tested (a delivery in its
// history), tested while the receiver fails (the delivery fails) and retried from the
// history once it answers again, and deleted after a confirmation. Then a viewer sees the status with no control
// that changes something, is offered none of the fleet views, and a sync or a webhook forced
// from the viewer's session is refused with 403. Last, the admin leaves the control plane
// after a confirmation, enrolls with one that does not answer (stored, 202: the box keeps
// trying), then air-gapped (the keys pinned, no URL, no token), and uploads a newer bundle,
// which is applied.
//
//   node tests/e2e/console_cloud.mjs BASE_URL --initial-password P --new-password P
//        --cp-url URL --cp-admin-token T --used-token T --webhook-url URL
//        --receiver-control URL --viewer NAME --viewer-password P --closed-port PORT [--screenshots DIR] [--timeout S]
//
// BASE_URL is a box started with a fresh data directory, not enrolled; URL and T the control
// plane's base URL and admin token (the test makes tokens, adds a signing key and sets the
// desired state with them); --used-token a token of that control plane that another device
// enrolled with; --webhook-url a receiver that answers 2xx, or 500 after a POST of
// {"fail": true} to --receiver-control (until {"fail": false}); the box gives up a delivery
// within a few seconds (OTTBOX_TEST_WEBHOOK_TIMING); NAME a viewer of the box whose
// password need not change; PORT a port on 127.0.0.1 nothing listens on. Each step leaves a PNG in --screenshots (default
// output/tests/screenshots/console-cloud); a failure leaves failed.png there. The page must
// log no error but the refusals a step provokes.
//
// Exit status: 0 passed, 1 failed (the step and the reason are printed), 2 a bad command line
// or a missing tool (Chromium, playwright-core).

import { check, checkNoProblems, exitWith, failed, isLiveFeedAbort, launch, parseArgs,
	passed, prepare, screenshots } from './harness.mjs';

// Words that start the label of a control that changes something.
const CHANGING = /^(new|create|add|save|edit|change|update|delete|remove|start|stop|restart|revoke|retire|rotate|import|issue|disable|enable|reset|sync now|enroll|leave|upload|send|retry|pin)\b/i;
const BOX_NAME = 'cloud-console-test';
const SYNC_TIMEOUT_MS = 15000;

const ARGS = {
	name: 'console_cloud',
	usage: '--initial-password P --new-password P --cp-url URL --cp-admin-token T --used-token T ' +
		'--webhook-url URL --receiver-control URL --viewer NAME --viewer-password P --closed-port PORT',
	screenshots: 'console-cloud',
	options: {
		'--initial-password': ['initial', true],
		'--new-password': ['fresh', true],
		'--cp-url': ['cp', true],
		'--cp-admin-token': ['cpToken', true],
		'--used-token': ['usedToken', true],
		'--webhook-url': ['webhookUrl', true],
		'--viewer': ['viewer', true],
		'--viewer-password': ['viewerPassword', true],
		'--closed-port': ['closedPort', true],
		'--receiver-control': ['receiverControl', true],
	},
};

// A bundle with its payload changed after signing: the signature no longer verifies.
function tamper(jws) {
	const [header, payload, signature] = jws.split('.');
	const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
	claims.tampered = true;
	return [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
}

async function main() {
	const opts = parseArgs(ARGS, process.argv.slice(2));
	const chromium = await prepare(ARGS.name, opts);
	if (!chromium) return 2;
	const cpBase = opts.cp.replace(/\/+$/, '');

	// The control plane's admin API, outside the browser.
	const cpAdmin = async (method, path, body) => {
		const res = await fetch(`${cpBase}/admin/v1${path}`, { method,
			headers: { Authorization: `Bearer ${opts.cpToken}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
			body: body ? JSON.stringify(body) : undefined });
		const text = await res.text();
		const type = res.headers.get('content-type') || '';
		return { status: res.status, json: type.startsWith('application/json') && text ? JSON.parse(text) : null, text };
	};

	const started = Date.now();
	const problems = []; // errors the page logged that no step provoked on purpose
	let allowed = null;  // a pattern of errors the current step provokes on purpose
	let step = 'starting Chromium';
	const shots = screenshots(opts.screenshots);
	const browser = await launch(ARGS.name, chromium);
	if (!browser) return 2;
	const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
	context.setDefaultTimeout(opts.timeout * 1000);
	let page = null;
	const watch = (p) => {
		p.on('console', (m) => {
			if (m.type() !== 'error') return;
			const text = `${m.text()} (${m.location().url || 'no url'})`;
			// The session check at start answers 401 before the login.
			if (/status of 401/.test(text) && /\/api\/v1\/session/.test(text)) return;
			if (allowed && allowed.test(text)) return;
			problems.push(text.slice(0, 400));
		});
		p.on('pageerror', (e) => problems.push(`page error: ${e.message}`.slice(0, 400)));
		p.on('requestfailed', (r) => {
			if (isLiveFeedAbort(r)) return;
			problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`);
		});
		// No request the page makes on its own is refused (a viewer's page does not even ask
		// for what the role may not read), but those a step provokes.
		p.on('response', (r) => {
			if (r.status() < 400 || (allowed && allowed.test(`${r.status()} ${r.url()}`))) return;
			if (r.status() === 401 && r.url().endsWith('/api/v1/session')) return;
			problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
		});
		return p;
	};
	page = watch(await context.newPage());

	const snap = (name) => shots.snap(page, name);
	const noProblems = () => checkNoProblems(problems);
	const cloud = () => page.locator('section#cloud');
	const subView = async (title) => {
		const link = cloud().getByRole('navigation', { name: 'Cloud views' }).getByRole('link', { name: title, exact: true });
		await link.click();
		await cloud().locator('nav a[aria-current="page"]').filter({ hasText: title }).waitFor();
	};
	const boxStatus = () => page.evaluate(() => fetch('/api/v1/cloud').then((r) => r.json()));
	const login = async (user, password) => {
		await page.goto(`${opts.base}/`);
		await page.getByLabel('User name').fill(user);
		await page.getByLabel('Password', { exact: true }).fill(password);
		await page.getByRole('button', { name: 'Log in' }).click();
	};
	let deviceId = '';
	let generation = 0;
	let bundle = '';

	try {
		step = 'first login: the one-time password, then the forced change';
		await login('admin', opts.initial);
		await page.locator('form#change').waitFor();
		await page.getByLabel('Current password').fill(opts.initial);
		await page.getByLabel(/^New password \(/).fill(opts.fresh);
		await page.getByLabel('New password again').fill(opts.fresh);
		await page.getByRole('button', { name: 'Save password' }).click();
		await page.locator('section#dashboard').waitFor();

		step = 'the cloud page: not enrolled, with the box\'s device id';
		await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Cloud' }).click();
		await cloud().waitFor();
		await page.locator('#cloud-state[data-state="not_enrolled"]').waitFor();
		deviceId = (await page.locator('#cloud-device-id').innerText()).trim();
		check(/^obx-[0-9a-f]{32}$/.test(deviceId), `the device id reads "${deviceId}"`);
		check(await page.locator('#cloud-sync-now').count() === 0, 'a box with no control plane offers "Sync now"');
		const views = await cloud().getByRole('navigation', { name: 'Cloud views' }).getByRole('link').allInnerTexts();
		check(views.join(',') === 'Sync status,Enrollment,Upload a bundle,Webhooks', `the cloud views: ${views.join(', ')}`);
		noProblems();
		await snap('status-not-enrolled');

		step = 'the control plane signs with a second key from now on (both are pasted at enrollment)';
		check((await cpAdmin('POST', '/signing-keys')).status === 201, 'the control plane did not add a key');
		const pems = await cpAdmin('GET', '/bundle-keys.pem');
		const pemCount = (pems.text.match(/-----BEGIN PUBLIC KEY-----/g) || []).length;
		check(pems.status === 200 && pemCount === 2, `the control plane has ${pemCount} keys`);

		step = 'an enrollment with a token another device used: the control plane\'s refusal next to the token';
		await subView('Enrollment');
		await page.getByLabel('Control-plane URL').fill(cpBase);
		await page.getByLabel('Bundle signing public key(s) (PEM)').fill(pems.text);
		const tokenField = page.getByLabel('Enrollment token', { exact: true });
		await tokenField.fill(opts.usedToken);
		allowed = /status of 409|^409 /;
		await page.getByRole('button', { name: 'Enroll', exact: true }).click();
		const tokenError = page.locator('#err-enrollment-token');
		await tokenError.waitFor();
		const refusal = await tokenError.innerText();
		check(/refused the enrollment/.test(refusal) && /enrollment_token_used/.test(refusal),
			`the message next to the token reads "${refusal}"`);
		check(await tokenField.getAttribute('aria-invalid') === 'true', 'the token field is not marked invalid');
		check((await tokenField.getAttribute('aria-describedby') || '').split(' ').includes('err-enrollment-token'),
			'the token field is not described by the refusal');
		check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'cloud-token',
			'the focus is not on the refused field');
		check((await boxStatus()).state === 'not_enrolled', 'the refused enrollment enrolled the box');
		allowed = null;
		noProblems();
		await snap('enroll-refused');

		step = 'the enrollment with a fresh token: enrolled, with the device id';
		const fresh = await cpAdmin('POST', '/enrollment-tokens', { expires_in_s: 600, note: 'console test' });
		check(fresh.status === 201, `the control plane made no token: ${fresh.status}`);
		await tokenField.fill(fresh.json.token);
		await page.getByRole('button', { name: 'Enroll', exact: true }).click();
		const enrolled = page.locator('#cloud-enroll-result');
		await enrolled.waitFor();
		const said = await enrolled.innerText();
		check(said.includes('Enrolled') && said.includes(deviceId), `the enrollment's answer reads "${said}"`);
		check(await tokenError.count() === 0, 'the old refusal is still shown');
		check(await tokenField.inputValue() === '', 'the used token stays in the form');
		await page.locator('#cloud-enrollment #cloud-state[data-state="enrolled"]').waitFor();
		const devices = await cpAdmin('GET', '/devices');
		check(JSON.stringify(devices.json).includes(deviceId), 'the control plane does not know the device');
		await snap('enrolled');

		step = 'the status shows the box enrolled, with its device id, URL and both keys';
		await subView('Sync status');
		await page.locator('#cloud-status #cloud-state[data-state="enrolled"]').waitFor();
		check((await page.locator('#cloud-device-id').innerText()).trim() === deviceId, 'another device id');
		check((await page.locator('#cloud-url-value').innerText()).trim() === cpBase, 'the control plane URL is not shown');
		check(/2 bundle signing keys/.test(await page.locator('#cloud-status').innerText()), 'the status does not say 2 keys');
		await page.locator('#cloud-last-contact time').waitFor();
		noProblems();

		step = 'a desired state on the control plane reaches the page after "Sync now"';
		const desired = await cpAdmin('PUT', '/devices/*/desired',
			{ payload: { settings: { box_name: BOX_NAME } }, poll_interval_s: 600 });
		check(desired.status === 201, `setting the desired state answered ${desired.status}`);
		generation = desired.json.generation;
		bundle = desired.json.jws;
		await page.getByRole('button', { name: 'Sync now' }).click();
		await page.locator('#cloud-sync-said').filter({ hasText: 'polls its control plane now' }).waitFor();
		await page.waitForFunction((g) => document.querySelector('#cloud-generation')?.innerText.trim() === String(g),
			generation, { timeout: SYNC_TIMEOUT_MS });
		const row = page.locator(`#cloud-bundles tr[data-generation="${generation}"]`);
		await row.waitFor();
		check(await row.getAttribute('data-status') === 'applied', `bundle ${generation} is ${await row.getAttribute('data-status')}`);
		check(/poll/.test(await row.innerText()), 'the bundle row does not say it came by poll');
		check(/applied/.test(await page.locator('#cloud-last-bundle').innerText()), 'the last bundle is not applied');
		const settings = await page.evaluate(() => fetch('/api/v1/settings').then((r) => r.json()));
		check(settings.box_name === BOX_NAME, `the box's name is ${settings.box_name}`);
		noProblems();
		await snap('synced');
		await page.setViewportSize({ width: 390, height: 844 });
		await snap('synced-phone');
		await page.setViewportSize({ width: 1366, height: 768 });

		step = 'the same bundle uploaded by hand: already applied';
		await subView('Upload a bundle');
		await page.getByLabel('Signed bundle (compact JWS)').fill(`\n${bundle}\n`);
		await page.getByRole('button', { name: 'Upload bundle' }).click();
		const result = page.locator('#upload-result');
		await result.waitFor();
		check(await result.getAttribute('data-outcome') === 'already_applied',
			`the upload's outcome is ${await result.getAttribute('data-outcome')}: ${await result.innerText()}`);
		check(new RegExp(`generation ${generation}`).test(await result.innerText()), 'the answer does not name the generation');
		noProblems();

		step = 'a tampered bundle read from a .jws file: refused with bad_signature, nothing changed';
		await page.locator('#bundle-file').setInputFiles({ name: 'tampered.jws', mimeType: 'application/jose',
			buffer: Buffer.from(`${tamper(bundle)}\n`) });
		await page.locator('#bundle-file-note').filter({ hasText: 'Read tampered.jws' }).waitFor();
		check(await page.getByLabel('Signed bundle (compact JWS)').inputValue() === tamper(bundle),
			'the file\'s bundle is not in the text field');
		allowed = /status of 422|^422 /;
		await page.getByRole('button', { name: 'Upload bundle' }).click();
		await page.locator('#upload-result[data-outcome="refused"]').waitFor();
		check(await result.getAttribute('data-code') === 'bad_signature', `refused with ${await result.getAttribute('data-code')}`);
		const refusedText = await result.innerText();
		check(/Refused: bad_signature/.test(refusedText) && /signature does not verify/.test(refusedText),
			`the refusal reads "${refusedText}"`);
		check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'upload-result',
			'the focus is not on the answer');
		const after = await boxStatus();
		check(after.applied_generation === generation, `the applied generation is ${after.applied_generation} after the refusal`);
		allowed = null;
		noProblems();
		await snap('upload-refused');

		step = 'a webhook is created for two event types; its secret is shown once';
		await subView('Webhooks');
		await page.locator('#webhooks-none').waitFor();
		await page.getByRole('button', { name: 'New webhook' }).click();
		await page.getByLabel('Receiver URL').fill(opts.webhookUrl);
		await page.getByLabel('All types, those added later too').uncheck();
		await page.getByRole('checkbox', { name: /^channel\.failed\b/ }).check();
		await page.getByRole('checkbox', { name: /^policy\.applied\b/ }).check();
		await page.getByLabel('Description (optional)').fill('console test receiver');
		await page.getByRole('button', { name: 'Create webhook' }).click();
		await page.locator('#webhook-secret').waitFor();
		check(/it will not be\s+shown again/.test(await page.locator('#webhook-secret').innerText()), 'no "it will not be shown again"');
		const secret = await page.locator('#webhook-secret-value').inputValue();
		check(/^whsec_[A-Za-z0-9_-]{43}$/.test(secret), `the secret reads "${secret}"`);
		const hookRow = page.locator('#webhooks-table tbody tr[data-webhook]');
		await hookRow.waitFor();
		const hookId = await hookRow.getAttribute('data-webhook');
		check(/channel\.failed, policy\.applied/.test(await hookRow.innerText()), `the row: ${await hookRow.innerText()}`);
		await snap('webhook-secret');
		await page.getByRole('button', { name: 'I have copied it' }).click();
		await page.locator('#webhook-secret').waitFor({ state: 'detached' });
		await page.locator('#webhooks').getByRole('button', { name: 'Refresh' }).click();
		await hookRow.waitFor();
		check(!(await page.content()).includes(secret.slice(6)), 'the secret is still in the page');

		step = 'the webhook is disabled, then enabled again';
		await hookRow.getByRole('button', { name: /^Disable/ }).click();
		await page.locator('#webhooks-notice').filter({ hasText: 'is disabled' }).waitFor();
		await hookRow.locator('td[data-label="State"]').filter({ hasText: 'disabled' }).waitFor();
		check(await hookRow.getByRole('button', { name: /^Send a test/ }).isDisabled(), 'a disabled webhook can be tested');
		await hookRow.getByRole('button', { name: /^Enable/ }).click();
		await page.locator('#webhooks-notice').filter({ hasText: 'is enabled' }).waitFor();
		await hookRow.locator('td[data-label="State"]').filter({ hasText: /^enabled$/ }).waitFor();

		step = 'a test delivery shows in the webhook\'s history, delivered';
		await hookRow.getByRole('button', { name: /^Send a test/ }).click();
		await page.locator('#webhooks-notice').filter({ hasText: 'test delivery' }).waitFor();
		const history = page.locator(`#webhook-history-${hookId}`);
		await history.waitFor();
		const ping = history.locator('tr[data-type="ping"]');
		await ping.first().waitFor({ timeout: SYNC_TIMEOUT_MS });
		await history.locator('tr[data-type="ping"][data-status="delivered"]').waitFor({ timeout: SYNC_TIMEOUT_MS });
		const pingText = await ping.first().innerText();
		check(/HTTP 2\d\d/.test(pingText), `the delivery's last answer: ${pingText}`);
		noProblems();
		await snap('webhook-history');
		await page.setViewportSize({ width: 390, height: 844 });
		await snap('webhook-history-phone');
		await page.setViewportSize({ width: 1366, height: 768 });

		step = 'a test while the receiver fails: the delivery fails, and "Retry" sends it again';
		const receiverFails = async (fail) => {
			const res = await fetch(opts.receiverControl, { method: 'POST', body: JSON.stringify({ fail }) });
			check(res.status === 204, `the receiver's control answered ${res.status}`);
		};
		await receiverFails(true);
		await hookRow.getByRole('button', { name: /^Send a test/ }).click();
		const failedPing = history.locator('tr[data-type="ping"][data-status="failed"]');
		await failedPing.waitFor({ timeout: SYNC_TIMEOUT_MS });
		const failedId = await failedPing.getAttribute('data-delivery');
		check(/\b500\b/.test(await failedPing.locator('td[data-label="Last answer"]').innerText()),
			`the failed delivery: ${await failedPing.innerText()}`);
		await hookRow.locator('td[data-label="Deliveries"]').filter({ hasText: '1 failed' }).waitFor();
		await snap('webhook-failed');
		await receiverFails(false);
		await failedPing.getByRole('button', { name: /^Retry/ }).click();
		await history.getByRole('status').filter({ hasText: `Delivery ${failedId} goes again` }).waitFor();
		await history.locator(`tr[data-delivery="${failedId}"][data-status="delivered"]`).waitFor({ timeout: SYNC_TIMEOUT_MS });
		check(await history.locator(`tr[data-delivery="${failedId}"]`).getByRole('button', { name: /^Retry/ }).count() === 0,
			'a delivered delivery offers "Retry"');
		noProblems();

		step = 'the viewer sees the status and no control that changes something';
		const viewerContext = await browser.newContext({ viewport: { width: 1366, height: 768 } });
		viewerContext.setDefaultTimeout(opts.timeout * 1000);
		const adminPage = page;
		page = watch(await viewerContext.newPage());
		await login(opts.viewer, opts.viewerPassword);
		await page.locator('section#dashboard').waitFor();
		check(/\(viewer\)/.test(await page.locator('#who').innerText()), 'the header does not say viewer');
		await page.goto(`${opts.base}/#/cloud`);
		await page.locator('#cloud-status #cloud-state[data-state="enrolled"]').waitFor();
		check((await page.locator('#cloud-device-id').innerText()).trim() === deviceId, 'the viewer sees another device id');
		check((await page.locator('#cloud-generation').innerText()).trim() === String(generation),
			'the viewer does not see the applied generation');
		await page.locator(`#cloud-bundles tr[data-generation="${generation}"]`).waitFor();
		const changing = await page.evaluate((pattern) => {
			const re = new RegExp(pattern, 'i');
			const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
			const found = [...document.querySelectorAll('[data-needs]')].map((el) =>
				`${el.tagName.toLowerCase()}[data-needs=${el.dataset.needs}] "${el.innerText.trim().slice(0, 40)}"`);
			for (const el of document.querySelectorAll('main button, main a, main input[type="submit"], main textarea, main input')) {
				const label = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
				if (visible(el) && (re.test(label) || el.matches('textarea, input'))) found.push(`${el.tagName.toLowerCase()} "${label.slice(0, 40)}"`);
			}
			return found;
		}, CHANGING.source);
		check(!changing.length, `controls a viewer may not use: ${changing.join('; ')}`);
		const viewerViews = await page.getByRole('navigation', { name: 'Cloud views' }).getByRole('link').allInnerTexts();
		check(viewerViews.join(',') === 'Sync status', `the viewer is offered: ${viewerViews.join(', ')}`);
		await page.goto(`${opts.base}/#/cloud/webhooks`);
		await page.locator('#cloud-needs').waitFor();
		check(await page.locator('#webhooks').count() === 0, 'the viewer sees the webhooks');
		noProblems();
		await page.goto(`${opts.base}/#/cloud`);
		await page.locator('#cloud-status').waitFor();
		await snap('viewer-status');

		step = 'a sync and a webhook forced from the viewer\'s session are refused with 403';
		allowed = /status of 403|^403 /;
		const forced = await page.evaluate(async (url) => {
			const session = await (await fetch('/api/v1/session')).json();
			const call = async (method, path, body) => {
				const res = await fetch(path, { method, body,
					headers: { 'X-CSRF-Token': session.csrf_token, 'Content-Type': 'application/json' } });
				return { status: res.status, body: await res.json().catch(() => null) };
			};
			return { role: session.role, sync: await call('POST', '/api/v1/cloud/sync', '{}'),
				hook: await call('POST', '/api/v1/webhooks', JSON.stringify({ url, events: ['*'] })),
				leave: await call('DELETE', '/api/v1/cloud/enrollment') };
		}, opts.webhookUrl);
		allowed = null;
		check(forced.role === 'viewer', `the session's role is ${forced.role}`);
		for (const what of ['sync', 'hook', 'leave']) {
			check(forced[what].status === 403 && forced[what].body?.error?.code === 'forbidden',
				`the forced ${what} answered ${forced[what].status} ${JSON.stringify(forced[what].body)}`);
		}
		check((await boxStatus()).state === 'enrolled', 'the forced leave changed the enrollment');
		noProblems();
		await viewerContext.close();
		page = adminPage;

		step = 'the admin deletes the webhook after a confirmation';
		await hookRow.getByRole('button', { name: /^Delete…/ }).click();
		const confirm = page.locator('#webhooks .confirm');
		await confirm.waitFor();
		check(await page.evaluate(() => fetch('/api/v1/webhooks').then((r) => r.json()).then((d) => d.webhooks.length)) === 1,
			'the webhook went before the confirmation');
		await snap('webhook-delete-confirm');
		await confirm.getByRole('button', { name: 'Delete webhook' }).click();
		await page.locator('#webhooks-notice').filter({ hasText: 'is deleted' }).waitFor();
		await page.locator('#webhooks-none').waitFor();

		step = 'the admin leaves the control plane after a confirmation; what it applied stays';
		await subView('Enrollment');
		await page.getByRole('button', { name: 'Leave the control plane…' }).click();
		const leave = page.locator('#cloud-enrollment .confirm');
		await leave.waitFor();
		check((await boxStatus()).state === 'enrolled', 'the box left before the confirmation');
		await leave.getByRole('button', { name: 'Leave the control plane', exact: true }).click();
		await page.locator('#cloud-leave-result').waitFor();
		await page.locator('#cloud-enrollment #cloud-state[data-state="not_enrolled"]').waitFor();
		const left = await boxStatus();
		check(left.state === 'not_enrolled' && left.applied_generation === generation,
			`after leaving: ${left.state}, generation ${left.applied_generation}`);
		noProblems();
		await snap('left');

		step = 'an enrollment with a control plane that does not answer is stored: 202, the box keeps trying';
		const nowhere = `http://127.0.0.1:${opts.closedPort}`;
		await page.getByLabel('Control-plane URL').fill(nowhere);
		await page.getByLabel('Bundle signing public key(s) (PEM)').fill(pems.text);
		await tokenField.fill('et-nobody-answers');
		await page.getByRole('button', { name: 'Enroll', exact: true }).click();
		await page.locator('#cloud-enroll-result.warn').filter({ hasText: 'keeps trying' }).waitFor();
		await page.locator('#cloud-enrollment #cloud-state[data-state="enrolling"]').waitFor();
		noProblems();
		await snap('enroll-stored');

		step = 'air-gapped: the keys pinned with no URL and no token';
		await page.getByLabel('Air-gapped: signed bundles uploaded by hand, no control plane').check();
		check(await page.getByLabel('Control-plane URL').count() === 0, 'air-gapped still asks for a URL');
		check(await page.getByLabel('Enrollment token', { exact: true }).count() === 0, 'air-gapped still asks for a token');
		await page.getByRole('button', { name: 'Pin the keys (air-gapped)' }).click();
		await page.locator('#cloud-enroll-result.good').filter({ hasText: 'pins 2 keys' }).waitFor();
		await page.locator('#cloud-enrollment #cloud-state[data-state="airgapped"]').waitFor();
		const airgapped = await boxStatus();
		check(airgapped.state === 'airgapped' && airgapped.url === null, `air-gapped: ${JSON.stringify(airgapped).slice(0, 200)}`);

		step = 'air-gapped: a newer bundle uploaded by hand is applied';
		const next = await cpAdmin('PUT', '/devices/*/desired',
			{ payload: { settings: { box_name: `${BOX_NAME}-2` } }, poll_interval_s: 600 });
		check(next.status === 201 && next.json.generation > generation, `the next desired state: ${next.status}`);
		await subView('Upload a bundle');
		await page.getByLabel('Signed bundle (compact JWS)').fill(next.json.jws);
		await page.getByRole('button', { name: 'Upload bundle' }).click();
		await page.locator('#upload-result[data-outcome="applied"]').filter({ hasText: `generation ${next.json.generation}` }).waitFor();
		await page.locator('#upload-generation').filter({ hasText: String(next.json.generation) }).waitFor();
		generation = next.json.generation;
		noProblems();
		await snap('upload-applied');

		step = 'the status of an air-gapped box: no control plane, no poll, the uploaded bundle applied';
		await subView('Sync status');
		await page.locator('#cloud-status #cloud-state[data-state="airgapped"]').waitFor();
		await page.locator(`#cloud-bundles tr[data-generation="${generation}"][data-status="applied"]`).waitFor();
		check(/upload/.test(await page.locator(`#cloud-bundles tr[data-generation="${generation}"]`).innerText()),
			'the bundle row does not say it came by upload');
		check(await page.locator('#cloud-next-poll, #cloud-outbox, #cloud-sync-now').count() === 0,
			'an air-gapped box shows a next poll, an outbox or "Sync now"');
		check((await page.locator('#cloud-generation').innerText()).trim() === String(generation),
			'the status does not show the uploaded generation');
		noProblems();
		await snap('status-airgapped');

		return passed(ARGS.name, opts, shots, started, `${deviceId} generation ${generation}, `);
	} catch (e) {
		// Awaited here: the browser closes in finally, which runs once this returns.
		return await failed(ARGS.name, opts, step, page, problems, e);
	} finally {
		await browser.close().catch(() => {});
	}
}

exitWith(ARGS.name, main);
