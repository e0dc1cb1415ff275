// What every console test in Chromium shares: its command line, starting Debian's Chromium
// through playwright-core, numbered screenshots, and how a run ends (OK with its figures, or
// FAIL with the step, the page, failed.png and the errors the page logged).
//
// Exit status of a test: 0 passed, 1 failed, 2 a bad command line or a missing tool.

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const CHROMIUM = process.env.OTTBOX_CHROMIUM || '/usr/bin/chromium';

// Reads `BASE_URL --flag VALUE ...` as spec says:
//   { name, usage: 'the options after BASE_URL', screenshots: 'dir under output/tests/screenshots',
//     options: { '--flag': ['key', required, default] } }
// Every test also takes --screenshots DIR and --timeout S (10 by default). Prints the usage
// and exits with 2 when the line is wrong.
export function parseArgs(spec, argv) {
	const usage = (message) => {
		if (message) console.error(`${spec.name}: ${message}`);
		console.error(`usage: node tests/e2e/${spec.name}.mjs BASE_URL ${spec.usage} ` +
			'[--screenshots DIR] [--timeout S]');
		process.exit(2);
	};
	const options = { ...spec.options, '--screenshots': ['screenshots', false,
		join('output', 'tests', 'screenshots', spec.screenshots)], '--timeout': ['timeout', false, 10] };
	const opts = { base: '' };
	for (const [key, , fallback] of Object.values(options)) opts[key] = fallback ?? '';
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === '-h' || arg === '--help') usage();
		if (options[arg]) {
			const value = argv[++i];
			if (value === undefined) usage(`${arg} needs a value`);
			opts[options[arg][0]] = value;
		} else if (arg.startsWith('-')) {
			usage(`unknown option ${arg}`);
		} else {
			opts.base = arg.replace(/\/+$/, '');
		}
	}
	if (!/^https?:\/\/./.test(opts.base)) usage('no box URL (http://HOST:PORT)');
	for (const [flag, [key, required]] of Object.entries(options)) {
		if (required && !opts[key]) usage(`${flag} is needed`);
	}
	opts.timeout = Number(opts.timeout);
	if (!Number.isFinite(opts.timeout) || opts.timeout <= 0) usage('--timeout needs a number');
	return opts;
}

// Loads playwright-core and checks Chromium is there, then empties the screenshot folder.
// Returns playwright's chromium, or null after saying what is missing.
export async function prepare(name, opts) {
	let chromium;
	try {
		({ chromium } = await import('playwright-core'));
	} catch (e) {
		console.error(`${name}: ${e.message}\n${name}: run \`npm ci\` in the repository`);
		return null;
	}
	if (!existsSync(CHROMIUM)) {
		console.error(`${name}: no Chromium at ${CHROMIUM}; install Debian's chromium package`);
		return null;
	}
	rmSync(opts.screenshots, { recursive: true, force: true });
	mkdirSync(opts.screenshots, { recursive: true });
	return chromium;
}

// Starts headless Chromium with extra command-line switches; null after saying why not.
export async function launch(name, chromium, args = []) {
	try {
		return await chromium.launch({ executablePath: CHROMIUM, headless: true,
			args: ['--no-sandbox', ...args], timeout: 30000 });
	} catch (e) {
		console.error(`${name}: Chromium (${CHROMIUM}) did not start: ${e.message}`);
		return null;
	}
}

// Screenshots numbered in the order taken: NN-NAME.png, full page.
export function screenshots(dir) {
	let count = 0;
	return {
		get count() { return count; },
		async snap(page, name) {
			count++;
			await page.screenshot({ path: join(dir, `${String(count).padStart(2, '0')}-${name}.png`),
				fullPage: true });
		},
	};
}

export function check(ok, what) {
	if (!ok) throw new Error(what);
}

// Fails the step when the page logged errors no step provoked on purpose.
export function checkNoProblems(problems) {
	check(!problems.length, `the page logged errors:\n    ${problems.join('\n    ')}`);
}

// Whether a failed request is the live feed's stream, which the console cuts on purpose
// when the last view using it goes away or the session ends (console/live.js).
export function isLiveFeedAbort(request) {
	return new URL(request.url()).pathname === '/api/v1/events/stream' &&
		request.failure()?.errorText === 'net::ERR_ABORTED';
}

// The end of a passing run: one line with what it did. Returns the exit status.
export function passed(name, opts, shots, started, what = '') {
	console.log(`${name}: OK ${opts.base}: ${what}${shots.count} screenshots in ${opts.screenshots}, ` +
		`${((Date.now() - started) / 1000).toFixed(1)} s`);
	return 0;
}

// The end of a failing run: failed.png, the step, the page and its errors. Returns the exit
// status.
export async function failed(name, opts, step, page, problems, e) {
	const shot = join(opts.screenshots, 'failed.png');
	await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
	const lines = [`${name}: FAIL at "${step}": ${e.message.split('\n')[0]}`,
		`  page: ${page.url()}`, `  screenshot: ${shot}`];
	if (problems.length) lines.push(`  page errors:\n    ${problems.join('\n    ')}`);
	console.error(lines.join('\n'));
	return 1;
}

// Runs main() and sets the process's exit status from it.
export function exitWith(name, main) {
	main().then((code) => { process.exitCode = code; }, (e) => {
		console.error(`${name}: FAIL: ${e.stack || e}`);
		process.exitCode = 1;
	});
}
