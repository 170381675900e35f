// Drives attachd's web console in a real Chromium: sign-in, a public asset created through the
// console, an upload with progress attached by an event, a verified download compared byte for
// byte, "verify a file", the public evidence page without a token, hostile attribute values,
// first-load size and the render time of a 50-event asset page, and a receipt checked in the
// browser. Every step asserts what it saw; a failing step leaves ATTACHD_OUT/failure-<step>.png.
//
//   ATTACHD_BASE=http://127.0.0.1:8080 ATTACHD_CLIENT_ID=… ATTACHD_CLIENT_SECRET=… \
//   ATTACHD_OUT=/tmp/console-out node tests/console/console.mjs
//
// Optional: ATTACHD_CHROMIUM (default /usr/bin/chromium); ATTACHD_NODE_MODULES, a node_modules
// directory holding playwright-core when it is not installed beside this script (ES modules
// do not read NODE_PATH).

import { createRequire } from 'node:module';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BASE = (process.env.ATTACHD_BASE || '').replace(/\/+$/, '');
const CLIENT_ID = process.env.ATTACHD_CLIENT_ID || '';
const CLIENT_SECRET = process.env.ATTACHD_CLIENT_SECRET || '';
const OUT = process.env.ATTACHD_OUT || '';
const CHROMIUM = process.env.ATTACHD_CHROMIUM || '/usr/bin/chromium';
const FIRST_LOAD_LIMIT = 150 * 1024;
const RENDER_LIMIT_MS = 300;
const DESKTOP = { width: 1280, height: 900 };

if (!BASE || !CLIENT_ID || !CLIENT_SECRET || !OUT) {
  console.error('set ATTACHD_BASE, ATTACHD_CLIENT_ID, ATTACHD_CLIENT_SECRET and ATTACHD_OUT');
  process.exit(2);
}

const { chromium } = process.env.ATTACHD_NODE_MODULES
  ? createRequire(join(process.env.ATTACHD_NODE_MODULES, 'resolve-from-here.js'))('playwright-core')
  : await import('playwright-core');

const results = { ok: false, metrics: {}, steps: [] };
let current = null; // the page a failing step screenshots

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function metric(name, value, unit) {
  results.metrics[name] = value;
  console.log(JSON.stringify({ metric: name, value, unit }));
}

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    results.steps.push({ step: name, ok: true, ms: Date.now() - started });
    console.error(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.steps.push({ step: name, ok: false, error: String(err && err.stack || err) });
    console.error(`FAIL ${name}: ${err && err.stack || err}`);
    if (current && !current.isClosed()) {
      await current.screenshot({ path: join(OUT, `failure-${name}.png`), fullPage: true }).catch(() => {});
    }
    throw err;
  }
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// ---- the API from Node (for fixtures the console is then shown) ----------------------------

async function token() {
  const response = await fetch(`${BASE}/archivist/iam/v1/appidp/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  });
  assert(response.ok, `token endpoint answered ${response.status}`);
  return (await response.json()).access_token;
}

async function call(bearer, path, { method = 'GET', json, form } = {}) {
  const headers = { Authorization: `Bearer ${bearer}` };
  let body;
  if (json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  if (form) body = form;
  const response = await fetch(`${BASE}${path}`, { method, headers, body });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}
const callJson = async (...args) => (await call(...args)).json();

async function uploadFromNode(bearer, name, bytes) {
  const form = new FormData();
  form.append('file', new Blob([bytes]), name);
  return callJson(bearer, '/archivist/v1/blobs', { method: 'POST', form });
}

const attachment = (blob, name) => ({
  arc_attribute_type: 'arc_attachment', arc_blob_identity: blob.identity, arc_blob_hash_alg: 'SHA256',
  arc_blob_hash_value: blob.hash.value, arc_file_name: name, arc_display_name: name,
});

// ---- browser helpers ------------------------------------------------------------------------

// Fails the run on any uncaught page error or Content-Security-Policy violation.
const problems = [];
function watch(page, label) {
  page.on('pageerror', (err) => problems.push(`${label}: page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`${label}: ${msg.text()}`);
  });
  return page;
}

async function downloadAndCompare(page, scope, expected, label) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 15_000 }),
    scope.getByTestId('download').first().click(),
  ]);
  const saved = await readFile(await download.path());
  assert(saved.equals(expected), `${label}: downloaded ${saved.length} bytes differ from the ${expected.length} uploaded`);
  assert(!download.url().includes('Bearer') && download.url().startsWith('blob:'), `${label}: download address ${download.url()}`);
  await scope.getByText('SHA-256 matches the record').first().waitFor();
  return download.suggestedFilename();
}

async function checkFile(page, file, expect) {
  await page.getByTestId('verify-file').setInputFiles(file);
  const verdict = page.getByTestId('verdict');
  await verdict.waitFor({ timeout: 15_000 });
  const got = await verdict.getAttribute('data-verdict');
  assert(got === expect, `verify a file: verdict ${got}, expected ${expect} (${await verdict.innerText()})`);
  return verdict;
}

// Hostile strings stay text: nothing ran, no handler attribute, no javascript: link.
async function assertInert(page, strings, label) {
  const state = await page.evaluate(() => ({
    xss: window.__xss,
    onerror: document.querySelectorAll('[onerror]').length,
    jsLinks: [...document.querySelectorAll('[href],[src],[action],[formaction]')]
      .filter((el) => /^\s*javascript:/i.test(el.getAttribute('href') || el.getAttribute('src') || el.getAttribute('action') || el.getAttribute('formaction') || '')).length,
    images: document.querySelectorAll('img').length,
    scripts: [...document.scripts].map((s) => s.src),
  }));
  assert(state.xss === undefined, `${label}: window.__xss is ${state.xss}`);
  assert(state.onerror === 0, `${label}: ${state.onerror} elements carry onerror`);
  assert(state.jsLinks === 0, `${label}: ${state.jsLinks} javascript: links`);
  assert(state.images === 0, `${label}: ${state.images} <img> elements`);
  assert(state.scripts.every((s) => s.startsWith(`${BASE}/console/`)), `${label}: scripts ${state.scripts}`);
  for (const s of strings) {
    const shown = page.getByText(s, { exact: true });
    assert(await shown.count() > 0, `${label}: "${s}" is not shown as text`);
    assert(await shown.first().isVisible(), `${label}: "${s}" is not visible`);
  }
}

// Every control has a label (or an accessible name, for buttons).
async function assertLabelled(page, label) {
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
    .map((el) => el.outerHTML.slice(0, 80)));
  assert(unlabelled.length === 0, `${label}: controls without a label: ${unlabelled}`);
}

async function renderTime(page, uuid) {
  await page.evaluate(() => { location.hash = '#/verify'; });
  await page.getByRole('heading', { name: 'Verify a file', level: 1 }).waitFor();
  await page.evaluate((u) => { location.hash = `#/assets/${u}`; }, uuid);
  await page.waitForSelector(`body[data-rendered-asset="${uuid}"][data-render-ms]`, { timeout: 15_000 });
  return Number(await page.evaluate(() => document.body.dataset.renderMs));
}

// ---- the run --------------------------------------------------------------------------------

async function main() {
  await mkdir(OUT, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'attachd-console-'));
  const stamp = Date.now().toString(36);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const bearer = await token();

    // The evidence file: 3 MB, so the upload reports progress on its way.
    const fileName = `inspection-${stamp}.bin`;
    const filePath = join(work, fileName);
    const fileBytes = randomBytes(3 * 1024 * 1024 + 123);
    await writeFile(filePath, fileBytes);
    const fileHash = sha256(fileBytes);
    const otherPath = join(work, `other-${stamp}.txt`);
    await writeFile(otherPath, `not recorded anywhere ${stamp} ${randomBytes(8).toString('hex')}\n`);

    // First load: a fresh browser, nothing cached, every byte the sign-in page pulls in.
    await step('first-load-size', async () => {
      const context = await browser.newContext({ viewport: DESKTOP });
      const page = current = watch(await context.newPage(), 'first load');
      const finished = [];
      page.on('requestfinished', (request) => finished.push(request));
      const response = await page.goto(`${BASE}/console/`, { waitUntil: 'networkidle' });
      const csp = response.headers()['content-security-policy'] || '';
      assert(csp.includes("script-src 'self'") && csp.includes("default-src 'none'"), `CSP header: ${csp}`);
      let bytes = 0;
      for (const request of finished) {
        const sizes = await request.sizes();
        bytes += sizes.responseBodySize + sizes.responseHeadersSize;
      }
      metric('first_load_bytes', bytes, 'bytes');
      metric('first_load_requests', finished.length, 'requests');
      assert(bytes < FIRST_LOAD_LIMIT, `first load is ${bytes} bytes, limit ${FIRST_LOAD_LIMIT}`);
      // Keyboard users see where they are.
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      const outline = await page.evaluate(() => {
        const style = getComputedStyle(document.activeElement);
        return { tag: document.activeElement.tagName, outline: style.outlineStyle, width: style.outlineWidth };
      });
      assert(outline.outline !== 'none' && outline.width !== '0px', `focused ${outline.tag} has no visible outline`);
      await context.close();
    });

    const context = await browser.newContext({ viewport: DESKTOP });
    const page = current = watch(await context.newPage(), 'console');
    const nav = (name) => page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true });
    let assetUuid, eventUuid;

    await step('sign-in', async () => {
      await page.goto(`${BASE}/console/`);
      await assertLabelled(page, 'sign-in');
      await page.getByLabel('Client id').fill(CLIENT_ID);
      await page.getByLabel('Client secret').fill(CLIENT_SECRET);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Assets', level: 1 }).waitFor();
      const stored = await page.evaluate(() => ({
        session: sessionStorage.getItem('attachd.token'), local: localStorage.length, cookies: document.cookie,
      }));
      assert(stored.session && stored.session.split('.').length === 3, 'no token in sessionStorage');
      assert(stored.local === 0 && stored.cookies === '', 'the token leaked to localStorage or cookies');
      assert(!page.url().includes(stored.session), 'the token is in the address');
    });

    await step('create-asset', async () => {
      await page.getByLabel('Name', { exact: true }).fill(`Console crate ${stamp}`);
      await page.getByLabel('Type (optional)').fill('Shipping crate');
      await page.getByLabel(/^Public/).check();
      await page.getByRole('button', { name: 'Create asset' }).click();
      await page.getByTestId('asset-name').filter({ hasText: `Console crate ${stamp}` }).waitFor();
      assetUuid = page.url().match(/#\/assets\/([0-9a-f-]{36})$/)[1];
      await page.getByTestId('public-link').waitFor();
    });

    await step('search-and-pages', async () => {
      await assertLabelled(page, 'asset page');
      for (let i = 0; i < 3; i++) {
        await callJson(bearer, '/archivist/v2/assets', {
          method: 'POST', json: { behaviours: ['RecordEvidence'], attributes: { arc_display_name: `Batch ${i} ${stamp}`, console_batch: stamp } },
        });
      }
      await nav('Assets').click();
      await page.getByRole('heading', { name: 'Assets', level: 1 }).waitFor();
      await assertLabelled(page, 'asset list');
      // By name, through the form.
      await page.getByLabel('Equals').fill(`Console crate ${stamp}`);
      await page.getByRole('button', { name: 'Search' }).click();
      // The unfiltered list shows that asset too: wait until the search's answer replaced it.
      const rowsAre = (n) => page.waitForFunction(
        (count) => document.querySelectorAll('[data-testid=asset-row]').length === count, n, { timeout: 10000 });
      await rowsAre(1).catch(() => {});
      await page.getByTestId('asset-row').filter({ hasText: `Console crate ${stamp}` }).waitFor();
      assert(await page.getByTestId('asset-row').count() === 1, 'search by name: one asset');
      // Three matches, two a page: next, then previous.
      await page.evaluate((v) => { location.hash = `#/assets?attr=console_batch&value=${v}&size=2`; }, stamp);
      const rows = page.getByTestId('asset-row');
      await page.getByText('Page 1').waitFor();
      await rowsAre(2).catch(() => {});
      assert(await rows.count() === 2, 'first page: two assets');
      const first = await rows.allInnerTexts();
      await page.getByRole('button', { name: 'Next page' }).click();
      await page.getByText('Page 2').waitFor();
      await rowsAre(1).catch(() => {});
      assert(await rows.count() === 1, 'second page: one asset');
      assert(await page.getByRole('button', { name: 'Next page' }).isDisabled(), 'no third page');
      assert(!first.includes((await rows.allInnerTexts())[0]), 'the second page repeats the first');
      await page.getByRole('button', { name: 'Previous page' }).click();
      await page.getByText('Page 1').waitFor();
      assert(JSON.stringify(await rows.allInnerTexts()) === JSON.stringify(first), 'previous page differs');
      await page.evaluate((u) => { location.hash = `#/assets/${u}`; }, assetUuid);
      await page.getByTestId('asset-name').filter({ hasText: `Console crate ${stamp}` }).waitFor();
    });

    await step('upload-and-attach', async () => {
      await page.evaluate(() => {
        window.__progress = [];
        const bar = document.querySelector('[data-testid=upload-progress]');
        new MutationObserver(() => window.__progress.push(bar.value)).observe(bar, { attributes: true });
        const out = document.querySelector('[data-testid=upload-percent]');
        new MutationObserver(() => window.__progress.push(out.textContent)).observe(out, { childList: true, characterData: true, subtree: true });
      });
      await page.getByLabel('File', { exact: true }).setInputFiles(filePath);
      await page.getByLabel('Event type (optional)').fill('Inspection');
      await page.getByRole('button', { name: 'Upload and attach' }).click();
      await page.getByTestId('attach-result').filter({ hasText: 'Attached' }).waitFor({ timeout: 30_000 });
      const progress = await page.evaluate(() => ({
        value: document.querySelector('[data-testid=upload-progress]').value,
        text: document.querySelector('[data-testid=upload-percent]').textContent,
        seen: window.__progress,
      }));
      assert(progress.value === 100 && progress.text === '100%', `progress ended at ${progress.value} / ${progress.text}`);
      metric('upload_progress_updates', progress.seen.length, 'updates');
      const event = page.getByTestId('event').filter({ has: page.getByTestId('att-name').filter({ hasText: fileName }) });
      await event.waitFor();
      eventUuid = await event.getAttribute('data-event');
      await event.getByTestId('att-size').filter({ hasText: 'MB' }).waitFor();
      assert(await event.getByTestId('att-size').getAttribute('data-bytes') === String(fileBytes.length), 'size');
      assert((await event.getByTestId('att-size').innerText()).includes(fileBytes.length.toLocaleString('en-US')), 'exact size shown');
      assert(await event.getByTestId('att-sha256').innerText() === fileHash, 'SHA-256 shown');
      await event.getByTestId('att-scan').filter({ hasText: /scan/i }).waitFor();
      await event.getByTestId('log-commit').waitFor();
      // The log seals about every second; the page re-reads the new event until it shows that.
      await event.getByTestId('log-confirm').filter({ hasText: /^Sealed in/ }).waitFor({ timeout: 20_000 });
    });

    await step('download', async () => {
      const event = page.locator(`[data-testid=event][data-event="${eventUuid}"]`);
      const name = await downloadAndCompare(page, event, fileBytes, 'console');
      assert(name === fileName, `saved as ${name}`);
      await page.screenshot({ path: join(OUT, 'console.png'), fullPage: true });
    });

    await step('verify-file', async () => {
      await nav('Verify a file').click();
      await assertLabelled(page, 'verify a file');
      const verdict = await checkFile(page, filePath, 'recorded');
      await verdict.getByText('Recorded in 1 event').waitFor();
      await verdict.locator(`[data-testid=verdict-event][data-event="${eventUuid}"]`).waitFor();
      await verdict.getByText(`Console crate ${stamp}`).waitFor(); // the asset, by name
      assert((await page.getByTestId('verify-hash').innerText()).includes(fileHash), 'local hash shown');
      const other = await checkFile(page, otherPath, 'not-recorded');
      await other.getByText('Not recorded in this tenant').waitFor();
    });

    await step('narrow-screen', async () => {
      await page.setViewportSize({ width: 375, height: 800 });
      await page.evaluate((u) => { location.hash = `#/assets/${u}`; }, assetUuid);
      await page.waitForSelector(`body[data-rendered-asset="${assetUuid}"]`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert(width <= 375, `the asset page is ${width}px wide at 375px`);
      await page.setViewportSize(DESKTOP);
    });

    await step('public-page', async () => {
      const anon = await browser.newContext({ viewport: DESKTOP });
      const pub = current = watch(await anon.newPage(), 'public');
      const authorized = [];
      pub.on('request', (r) => { if (r.headers().authorization) authorized.push(r.url()); });
      const response = await pub.goto(`${BASE}/archivist/v2/publicassets/${assetUuid}`, { waitUntil: 'load' });
      assert((response.headers()['content-security-policy'] || '').includes("default-src 'none'"), 'public page CSP');
      await pub.getByTestId('asset-name').filter({ hasText: `Console crate ${stamp}` }).waitFor();
      await pub.getByTestId('asset-attributes').getByText('Shipping crate', { exact: true }).waitFor();
      const event = pub.locator(`[data-testid=event][data-event="${eventUuid}"]`);
      await event.getByTestId('att-name').filter({ hasText: fileName }).waitFor();
      await event.getByTestId('att-size').filter({ hasText: 'MB' }).waitFor();
      assert(await event.getByTestId('att-sha256').innerText() === fileHash, 'public SHA-256');
      await downloadAndCompare(pub, event, fileBytes, 'public');
      await checkFile(pub, otherPath, 'not-recorded');
      const verdict = await checkFile(pub, filePath, 'recorded');
      await verdict.locator(`[data-testid=verdict-event][data-event="${eventUuid}"]`).waitFor();
      assert(authorized.length === 0, `the public page sent a token: ${authorized}`);
      await assertLabelled(pub, 'public page');
      assert(await pub.evaluate(() => sessionStorage.length) === 0, 'sessionStorage on the public page');
      await pub.screenshot({ path: join(OUT, 'public-page.png'), fullPage: true });
      // An event's own public address shows that event.
      await pub.goto(`${BASE}/archivist/v2/publicassets/${assetUuid}/events/${eventUuid}`);
      await pub.getByTestId('single-event').getByTestId('att-name').filter({ hasText: fileName }).waitFor();
      await anon.close();
      current = page;
    });

    await step('xss', async () => {
      const hostile = {
        arc_display_name: '<script>window.__xss=1</script>',
        arc_description: '<img src=x onerror="window.__xss=1">',
        arc_home: 'javascript:window.__xss=1',
      };
      const asset = await callJson(bearer, '/archivist/v2/assets', {
        method: 'POST', json: { behaviours: ['RecordEvidence'], attributes: hostile, public: true },
      });
      const uuid = asset.identity.split('/').pop();
      await callJson(bearer, `/archivist/v2/assets/${uuid}/events`, {
        method: 'POST',
        json: { operation: 'Record', behaviour: 'RecordEvidence', event_attributes: { ...hostile, arc_display_type: '<b onmouseover=alert(1)>x</b>' } },
      });
      const strings = Object.values(hostile);
      await page.evaluate((u) => { location.hash = `#/assets/${u}`; }, uuid);
      await page.waitForSelector(`body[data-rendered-asset="${uuid}"]`);
      await assertInert(page, strings, 'console');
      await page.getByRole('heading', { name: '<b onmouseover=alert(1)>x</b>' }).waitFor();
      const anon = await browser.newContext({ viewport: DESKTOP });
      const pub = current = watch(await anon.newPage(), 'public xss');
      const response = await pub.goto(`${BASE}/archivist/v2/publicassets/${uuid}`);
      assert((response.headers()['content-security-policy'] || '').includes("script-src 'self'"), 'CSP on the public page');
      await pub.waitForSelector(`body[data-rendered-asset="${uuid}"]`);
      await assertInert(pub, strings, 'public');
      await anon.close();
      current = page;
    });

    await step('render-50-events', async () => {
      const blob = await uploadFromNode(bearer, 'daily-log.txt', Buffer.from(`daily log ${stamp}\n`));
      const asset = await callJson(bearer, '/archivist/v2/assets', {
        method: 'POST', json: { behaviours: ['RecordEvidence'], attributes: { arc_display_name: `Fifty events ${stamp}` }, public: false },
      });
      const uuid = asset.identity.split('/').pop();
      for (let i = 0; i < 50; i++) {
        await callJson(bearer, `/archivist/v2/assets/${uuid}/events`, {
          method: 'POST',
          json: {
            operation: 'Record', behaviour: 'RecordEvidence',
            event_attributes: { arc_display_type: 'Daily check', arc_description: `check ${i}`, reading: String(i * 7), log: attachment(blob, `daily-${i}.txt`) },
          },
        });
      }
      const times = [];
      for (let i = 0; i < 3; i++) times.push(await renderTime(page, uuid));
      const count = await page.getByTestId('event').count();
      assert(count === 50, `${count} events on the page`);
      const median = [...times].sort((a, b) => a - b)[1];
      metric('asset_page_50_events_render_ms', median, 'ms');
      metric('asset_page_50_events_render_ms_runs', times, 'ms');
      assert(median < RENDER_LIMIT_MS, `the 50-event page took ${median} ms (runs ${times})`);
      // The 51st event (the asset's creation) is on the next page.
      await page.getByRole('button', { name: 'Load older events' }).click();
      await page.getByTestId('event').nth(50).waitFor();
      assert(await page.getByTestId('event').count() === 51, 'older events');
      assert(await page.getByRole('button', { name: 'Load older events' }).isHidden(), 'no page after the last');
    });

    await step('verify-receipt', async () => {
      const path = `/archivist/v1/publicscitt/entries/assets_${assetUuid}_events_${eventUuid}/receipt`;
      let receipt = null;
      for (let i = 0; i < 60 && !receipt; i++) {
        const response = await fetch(`${BASE}${path}`, { headers: { Authorization: `Bearer ${bearer}` } });
        if (response.status === 200) receipt = Buffer.from(await response.arrayBuffer());
        else await new Promise((r) => setTimeout(r, 500));
      }
      assert(receipt, 'no receipt within 30 s');
      const event = await callJson(bearer, `/archivist/v2/assets/${assetUuid}/events/${eventUuid}`);
      const receiptPath = join(work, 'receipt.cbor'), eventPath = join(work, 'event.json');
      await writeFile(receiptPath, receipt);
      await writeFile(eventPath, JSON.stringify(event, null, 2));
      await nav('Verify a receipt').click();
      const verify = async (document) => {
        await page.getByLabel('Receipt (.cbor)').setInputFiles(receiptPath);
        await page.getByLabel('Event (.json)').setInputFiles(eventPath);
        await page.getByLabel('File (optional)').setInputFiles(document);
        await page.getByRole('button', { name: 'Verify', exact: true }).click();
        const verdict = page.getByTestId('receipt-verdict');
        await verdict.waitFor({ timeout: 15_000 });
        return verdict;
      };
      await assertLabelled(page, 'verify a receipt');
      const good = await verify(filePath);
      assert(await good.getAttribute('data-ok') === 'true', `receipt verdict: ${await good.innerText()}`);
      // The three files dropped at once are sorted into their inputs by what they are.
      await page.reload();
      await page.getByRole('heading', { name: 'Verify what you were sent' }).waitFor();
      const dropped = [
        { name: 'event.json', type: 'application/json', base64: Buffer.from(JSON.stringify(event)).toString('base64') },
        { name: fileName, type: 'application/octet-stream', base64: fileBytes.toString('base64') },
        { name: 'receipt.cbor', type: 'application/cbor', base64: receipt.toString('base64') },
      ];
      const transfer = await page.evaluateHandle((files) => {
        const dt = new DataTransfer();
        for (const f of files) {
          const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
          dt.items.add(new File([bytes], f.name, { type: f.type }));
        }
        return dt;
      }, dropped);
      await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer: transfer });
      await page.waitForFunction(() => document.querySelector('[data-testid=receipt-file]').files.length === 1
        && document.querySelector('[data-testid=receipt-event]').files.length === 1
        && document.querySelector('[data-testid=receipt-document]').files.length === 1);
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      const droppedVerdict = page.getByTestId('receipt-verdict');
      await droppedVerdict.waitFor({ timeout: 15_000 });
      assert(await droppedVerdict.getAttribute('data-ok') === 'true', `dropped files: ${await droppedVerdict.innerText()}`);
      const bad = await verify(otherPath);
      assert(await bad.getAttribute('data-ok') === 'false', `a different file passed: ${await bad.innerText()}`);
      await bad.locator('[data-testid=receipt-check][data-ok=false]').filter({ hasText: 'file' }).waitFor();
    });

    await step('sharing-and-sign-out', async () => {
      await nav('Sharing').click();
      await page.getByRole('heading', { name: 'Access policies' }).waitFor();
      await page.getByTestId('policies').locator('p, ul').first().waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      assert(await page.evaluate(() => sessionStorage.getItem('attachd.token')) === null, 'token left after sign-out');
    });

    await step('pasted-token-not-admin', async () => {
      // A registration without the administrator role: sharing answers it 403, shown as such.
      const app = await callJson(bearer, '/archivist/iam/v1/applications', { method: 'POST', json: { display_name: `console reader ${stamp}` } });
      try {
        const response = await fetch(`${BASE}/archivist/iam/v1/appidp/token`, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: 'client_credentials', client_id: app.client_id, client_secret: app.credentials[0].secret }),
        });
        const reader = (await response.json()).access_token;
        const other = await browser.newContext({ viewport: DESKTOP });
        const tab = current = watch(await other.newPage(), 'reader');
        await tab.goto(`${BASE}/console/`);
        await tab.getByLabel('Bearer token', { exact: true }).fill(`Authorization: Bearer ${reader}`);
        await tab.getByRole('button', { name: 'Use token' }).click();
        await tab.getByRole('heading', { name: 'Assets', level: 1 }).waitFor();
        await tab.evaluate(() => { location.hash = '#/sharing'; });
        await tab.getByTestId('policies').getByTestId('not-admin').waitFor();
        await tab.getByTestId('subjects').getByTestId('not-admin').waitFor();
        await tab.getByText('Wallet key').first().waitFor(); // its own keys, which any token reads
        await other.close();
        current = page;
      } finally {
        await call(bearer, `/archivist/iam/v1/${app.identity}`, { method: 'DELETE' }).catch(() => {});
      }
    });

    assert(problems.length === 0, `page errors or CSP violations:\n${problems.join('\n')}`);
    results.ok = true;
  } finally {
    await browser.close();
    await writeFile(join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    await rm(work, { recursive: true, force: true });
  }
}

main().then(() => {
  console.error('all console checks passed');
  process.exit(0);
}, (err) => {
  console.error(`console checks failed: ${err && err.message || err}`);
  process.exit(1);
});
