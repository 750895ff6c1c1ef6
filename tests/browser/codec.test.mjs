// Browser test of reading encrypted payloads in the Temporal UI
// (docs/codec.md): the history holds ciphertext; a person signed in to the
// web app, with the UI's Codec Server settings pointing at the web app and
// "Include cross-origin credentials" on, sees the workflow's input and
// result decoded; without the web app's session the same UI cannot decode.
// It drives the system Chromium through playwright-core (which never
// downloads a browser) against a running stack with the UI.
//
//   UI_URL=http://127.0.0.1:8233 WEB_URL=http://127.0.0.1:8080 \
//     WORKFLOW_ID=vendor-payment-INV-1042 PERSON=maria node --test codec.test.mjs
//
// INPUT_TEXT and RESULT_TEXT are what the decoded input and result show
// (defaults: "payables-bot", "paid"). Optional: CHROMIUM, NAMESPACE (default
// "default"), ARTIFACTS_DIR (screenshots).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, open } from './chromium.mjs';
import { useCodecServer } from './codec-ui.mjs';

const uiURL = env('UI_URL').replace(/\/+$/, '');
const webURL = env('WEB_URL').replace(/\/+$/, '');
const workflowID = env('WORKFLOW_ID');
const person = env('PERSON');
const namespace = process.env.NAMESPACE || 'default';
const inputText = process.env.INPUT_TEXT || 'payables-bot';
const resultText = process.env.RESULT_TEXT || 'paid';
const workflowURL = `${uiURL}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowID)}`;
const codecURL = `${webURL}/codec/`;

// openWorkflow opens the workflow in the UI and records the codec server's
// answers; it returns them and a function that reads the Input and Result
// as the page shows them.
async function openWorkflow(page) {
  const answers = [];
  page.on('response', (r) => {
    if (r.url().startsWith(codecURL) && r.request().method() === 'POST') answers.push(r.status());
  });
  await page.goto(workflowURL);
  await page.getByRole('heading', { level: 1, name: workflowID }).waitFor();
  const body = async () => (await page.locator('main').innerText().catch(() => '')).replace(/\s+/g, ' ');
  return { answers, body };
}

const resultRE = new RegExp(`"outcome":\\s*"${resultText}"`);

test('a person signed in to the web app reads the payloads decoded in the Temporal UI', { timeout: 120_000 }, async (t) => {
  const { page, shot } = await open(t, { viewport: { width: 1400, height: 1000 }, timeout: 20_000, prefix: 'codec-' });
  try {
    await useCodecServer(page, { uiURL, webURL, person });
    const { answers, body } = await openWorkflow(page);
    let text = '';
    for (let i = 0; i < 40; i++) {
      text = await body();
      if (text.includes(inputText) && resultRE.test(text)) break;
      await page.waitForTimeout(250);
    }
    await shot('1-decoded');
    assert.ok(answers.length > 0, 'the UI never called the codec server');
    assert.ok(answers.every((s) => s === 200), `codec server answers: ${answers}`);
    assert.ok(text.includes(inputText), `the decoded input (${inputText}) is not shown:\n${text.slice(0, 3000)}`);
    assert.match(text, resultRE, `the decoded result is not shown:\n${text.slice(0, 3000)}`);
    assert.ok(!text.includes('binary/encrypted'), 'the page still shows encrypted payloads');
  } catch (err) {
    await shot('1-failure');
    err.message += `\n(page: ${page.url()})`;
    throw err;
  }
});

test('without the web app session the Temporal UI cannot decode', { timeout: 120_000 }, async (t) => {
  const { page, shot } = await open(t, { viewport: { width: 1400, height: 1000 }, timeout: 20_000, prefix: 'codec-' });
  try {
    // The same UI settings, but nobody signed in to the web app.
    await useCodecServer(page, { uiURL, webURL, person, signIn: false });
    const { answers, body } = await openWorkflow(page);
    for (let i = 0; i < 40 && answers.length === 0; i++) await page.waitForTimeout(250);
    await page.waitForTimeout(1000); // let the page render what it got
    const text = await body();
    await shot('2-refused');
    assert.ok(answers.length > 0, 'the UI never called the codec server');
    assert.ok(answers.every((s) => s === 401), `codec server answers without a session: ${answers}, want 401`);
    assert.ok(!text.includes(inputText), `the input (${inputText}) is shown without a session:\n${text.slice(0, 3000)}`);
    assert.doesNotMatch(text, resultRE, 'the result is shown without a session');
    // What it shows instead is the ciphertext, naming its key.
    assert.ok(text.includes('encryption-key-id'), `the encrypted payloads are not shown:\n${text.slice(0, 3000)}`);
  } catch (err) {
    await shot('2-failure');
    err.message += `\n(page: ${page.url()})`;
    throw err;
  }
});
