// Browser test of the operations view: a person with an operations role
// signs in on the picker, opens /ops, finds the payment waiting for an
// approval in the exceptions queue and sees every KPI chart drawn by the
// vendored Chart.js — under the page's CSP (scripts from 'self' only), with
// no console error, no CSP violation and no request to another host. A
// person without an operations role gets the 403 page. It drives the
// system Chromium through playwright-core against a running stack whose
// ledger holds at least one completed, autonomous payment.
//
//   WEB_URL=http://127.0.0.1:8080 WAITING_ID=vendor-payment-INV-1002 OPS_PERSON=ana \
//     OTHER_PERSON=maria node --test ops.test.mjs
//
// Optional: CHROMIUM (default /usr/bin/chromium), ARTIFACTS_DIR
// (screenshots of each step, and of the failure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, open } from './chromium.mjs';

const webURL = env('WEB_URL').replace(/\/+$/, '');
const origin = new URL(webURL).origin;
const waitingID = env('WAITING_ID');
const opsPerson = env('OPS_PERSON');
const otherPerson = env('OTHER_PERSON');

// The charts ops.html holds and ops.js draws.
const charts = ['chart-autonomy', 'chart-approval', 'chart-exceptions', 'chart-denials', 'chart-sla', 'chart-verification', 'chart-payments'];
// Charts with one series per exception reason or gate policy.
const seriesCharts = ['chart-exceptions', 'chart-denials'];
const chartJS = '/static/vendor/chartjs/chart.umd.min.js';

// signIn picks person on the development person picker.
async function signIn(page, person) {
  await page.goto(`${webURL}/`);
  assert.match(await page.locator('h1').innerText(), /Who are you/);
  await Promise.all([
    page.waitForURL(/\/inbox$/),
    page.locator(`button[data-person="${person}"]`).click(),
  ]);
}

test('an operator sees the waiting approval and every KPI chart drawn, under the CSP, from this origin only', { timeout: 90_000 }, async (t) => {
  const { page, shot } = await open(t, { viewport: { width: 1400, height: 1000 }, prefix: 'ops-' });
  const consoleErrors = [];
  const pageErrors = [];
  const requests = [];
  // Chromium asks every origin for /favicon.ico by itself and the app has
  // none: that 404 is the browser's, not the page's, and is not counted.
  const favicon = `${origin}/favicon.ico`;
  page.on('console', (m) => {
    if (m.type() !== 'error' || (m.location().url === favicon && /status of 404/.test(m.text()))) return;
    consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  // Each document records its CSP violations from the very start.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });

  try {
    // 1. Sign in on the picker.
    await signIn(page, opsPerson);

    // 2. The operations view lists the waiting approval. Visibility is
    // eventually consistent: give the queue a few reloads to catch up.
    let resp = await page.goto(`${webURL}/ops`);
    assert.equal(resp.status(), 200, `/ops as ${opsPerson}`);
    const row = page.locator(`tr.waiting-item[data-workflow-id="${waitingID}"]`);
    for (let i = 0; i < 20 && (await row.count()) === 0; i++) {
      await page.waitForTimeout(500);
      resp = await page.reload();
    }
    assert.equal(await row.count(), 1, `/ops does not list ${waitingID} as waiting`);
    await shot('1-ops');
    const csp = resp.headers()['content-security-policy'] || '';
    assert.match(csp, /script-src 'self'(;|$)/, `CSP of /ops: ${csp}`);
    const rowText = await row.innerText();
    assert.match(rowText, /\bapproval\b/, `row kind:\n${rowText}`);
    assert.match(rowText, /finance-manager/, `row does not say whom it waits for:\n${rowText}`);
    assert.equal(await row.locator(`a[href="/approvals/${waitingID}"]`).count(), 1, 'row lacks its approval link');

    // 3. Every chart was drawn: a Chart.js instance with data, a sized
    // canvas, and painted (non-transparent) pixels.
    await page.waitForFunction((ids) => window.Chart && ids.every((id) => {
      const c = document.getElementById(id);
      return c && window.Chart.getChart(c);
    }), charts, { timeout: 10_000 }).catch(() => {});
    const drawn = await page.evaluate((ids) => ids.map((id) => {
      const c = document.getElementById(id);
      if (!c) return { id, missing: true };
      const chart = window.Chart ? window.Chart.getChart(c) : undefined;
      let painted = 0;
      if (c.width > 0 && c.height > 0) {
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
      }
      return {
        id,
        chart: !!chart,
        visible: !c.parentNode.hidden && c.getBoundingClientRect().height > 0,
        width: c.width,
        height: c.height,
        painted,
        labels: chart ? chart.data.labels.length : 0,
        datasets: chart ? chart.data.datasets.map((ds) => ds.data) : [],
      };
    }), charts);
    for (const c of drawn) {
      const what = JSON.stringify({ ...c, datasets: undefined });
      assert.ok(!c.missing, `no <canvas id="${c.id}"> on /ops`);
      assert.ok(c.chart, `Chart.getChart(#${c.id}) is no chart: ${what}`);
      assert.ok(c.visible, `#${c.id} is hidden: ${what}`);
      assert.ok(c.width > 0 && c.height > 0, `#${c.id} was not sized: ${what}`);
      assert.ok(c.painted > 0, `#${c.id} has no painted pixel: ${what}`);
      assert.ok(c.labels > 0, `#${c.id} has no labels: ${what}`);
      // The by-reason and by-policy charts have one series per reason or
      // policy in the window (none: an empty chart); the others always one.
      if (!seriesCharts.includes(c.id)) assert.ok(c.datasets.length > 0, `#${c.id} has no dataset: ${what}`);
      assert.ok(c.datasets.every((d) => d.length === c.labels), `#${c.id} datasets do not cover the labels: ${what}`);
    }
    // The waiting invoice was denied by the gate (it needs an approval).
    const denials = drawn.find((c) => c.id === 'chart-denials').datasets;
    assert.ok(denials.some((d) => d.some((v) => v > 0)), `the gate-denials chart has no point: ${JSON.stringify(denials)}`);
    const autonomy = drawn.find((c) => c.id === 'chart-autonomy').datasets[0];
    assert.ok(autonomy.some((v) => v !== null && v !== undefined), `the autonomy-rate chart has no point: ${JSON.stringify(autonomy)}`);
    assert.ok(autonomy.some((v) => v > 0), `an autonomous payment was completed, yet the autonomy rate is never above 0: ${JSON.stringify(autonomy)}`);
    await shot('2-charts');

    // 4. Nothing went wrong on the way.
    const violations = await page.evaluate(() => window.__cspViolations);
    assert.deepEqual(violations, [], 'CSP violations on /ops');
    assert.deepEqual(pageErrors, [], 'uncaught errors on the pages');
    assert.deepEqual(consoleErrors, [], 'console errors on the pages');

    // 5. Chart.js came from this origin, and nothing from anywhere else.
    const lib = requests.filter((u) => new URL(u).pathname === chartJS);
    assert.ok(lib.length > 0, `${chartJS} was never requested: ${requests.join('\n')}`);
    for (const u of lib) assert.equal(new URL(u).origin, origin, `Chart.js from ${u}`);
    const elsewhere = requests.filter((u) => /^https?:/.test(u) && new URL(u).origin !== origin);
    assert.deepEqual(elsewhere, [], `requests off ${origin}`);
  } catch (err) {
    await shot('failure');
    err.message += `\n(page: ${page.url()})`;
    throw err;
  }
});

test('a person without an operations role gets the 403 page at /ops', { timeout: 60_000 }, async (t) => {
  const { page, shot } = await open(t, { prefix: 'ops-refused-' });
  try {
    await signIn(page, otherPerson);
    const resp = await page.goto(`${webURL}/ops`);
    await shot('1-refused');
    assert.equal(resp.status(), 403, `/ops as ${otherPerson}`);
    assert.match(await page.locator('h1').innerText(), /Not allowed/);
    assert.match(await page.locator('main').innerText(), /HTTP 403/);
    assert.equal(await page.locator('canvas').count(), 0, 'the refusal shows charts');
    assert.equal(await page.locator('tr.waiting-item').count(), 0, 'the refusal shows the queue');
  } catch (err) {
    await shot('failure');
    err.message += `\n(page: ${page.url()})`;
    throw err;
  }
});
