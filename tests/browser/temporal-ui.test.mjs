// Browser test of deciding in the Temporal Web UI (docs/approvals.md,
// section 2): a person opens the workflow, reads the awaited action digest on
// the Queries tab, then uses More Actions → Send a Signal to send the
// "approval" Signal (json/plain) with the one-time code their authenticator
// app shows in "proof". It drives the system Chromium through playwright-core
// (which never downloads a browser) against a running dev server with its UI.
//
//   UI_URL=http://127.0.0.1:8233 WORKFLOW_ID=vendor-payment-INV-1044 APPROVER=maria \
//     CODE_URL=http://127.0.0.1:PORT node --test temporal-ui.test.mjs
//
// CODE_URL answers the current six-digit code as plain text; it is fetched
// only right before the code is typed. Payloads are encrypted (docs/codec.md):
// with WEB_URL the approver first signs in to the web app there, whose codec
// server the UI then decodes and encodes through (codec-ui.mjs). Optional: CHROMIUM (default
// /usr/bin/chromium), NAMESPACE (default "default"), ACTION_DIGEST (the digest
// the UI must show), ARTIFACTS_DIR (screenshots of each step, and of the
// failure), EXPECT_OUTCOME (e.g. "paid": reload until the workflow completed
// with that outcome).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, open } from './chromium.mjs';
import { useCodecServer } from './codec-ui.mjs';

const uiURL = env('UI_URL').replace(/\/+$/, '');
const workflowID = env('WORKFLOW_ID');
const approver = env('APPROVER');
const codeURL = env('CODE_URL');
const namespace = process.env.NAMESPACE || 'default';
const comment = `Checked in the Temporal UI (browser test ${process.pid})`;

test('approver sends the approval Signal with a one-time code from the Temporal UI', { timeout: 120_000 }, async (t) => {
  const { page, shot } = await open(t, { viewport: { width: 1400, height: 1000 }, timeout: 20_000, prefix: 'temporal-ui-' });
  const workflowURL = `${uiURL}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowID)}`;

  // Runs the "approvals" query on the Queries tab and returns its answer.
  const queryApprovals = async () => {
    await page.getByRole('tab', { name: /^Queries/ }).click();
    const queryType = page.getByRole('button').filter({ has: page.getByRole('textbox', { name: 'Query Type' }) });
    await queryType.click();
    await page.getByRole('option', { name: 'approvals', exact: true }).click();
    await page.getByRole('button', { name: 'Run Query' }).click();
    // The answer is shown in a read-only code view.
    const answer = page.locator('[role="textbox"][contenteditable="false"]');
    await assert.doesNotReject(answer.filter({ hasText: '"workflowId"' }).waitFor(), 'the approvals query shows no answer');
    return JSON.parse(await answer.filter({ hasText: '"workflowId"' }).innerText());
  };

  try {
    // 0. Signed in to the web app, so the UI can decode the query answer
    // and encode the signal through its codec server.
    if (process.env.WEB_URL) await useCodecServer(page, { uiURL, webURL: process.env.WEB_URL, person: approver });

    // 1. The workflow, as the UI shows it.
    await page.goto(workflowURL);
    await assert.doesNotReject(page.getByRole('heading', { level: 1, name: workflowID }).waitFor());
    await shot('1-workflow');

    // 2. Read what is awaited (docs: "First read the current digest").
    const st = await queryApprovals();
    await shot('2-query');
    assert.equal(st.workflowId, workflowID);
    assert.ok(st.awaitingSlot, `the workflow awaits no decision: ${JSON.stringify(st)}`);
    assert.ok(st.pendingApprovers?.includes(approver), `${approver} is not a pending approver: ${st.pendingApprovers}`);
    assert.match(st.actionDigest, /^sha256:[0-9a-f]{64}$/);
    if (process.env.ACTION_DIGEST) assert.equal(st.actionDigest, process.env.ACTION_DIGEST);

    // 3. More Actions → Send a Signal.
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
    await dialog.waitFor();
    // The workflow registers "approval" when it starts, so the UI offers it.
    await dialog.getByRole('button', { name: 'Select a signal' }).click();
    await dialog.getByRole('option', { name: 'approval', exact: true }).click();
    await dialog.getByRole('radio', { name: 'json/plain' }).check();

    // 4. Data: the code the authenticator app shows right now.
    const res = await fetch(codeURL, { cache: 'no-store' });
    assert.equal(res.status, 200, `code source: ${res.status}`);
    const code = (await res.text()).trim();
    assert.match(code, /^[0-9]{6}$/);
    const data = {
      decision: 'approve',
      approver,
      comment,
      actionDigest: st.actionDigest,
      proof: code,
    };
    // Data is a code editor (contenteditable); insertText pastes the JSON
    // as one edit, so the editor's bracket auto-closing does not interfere.
    const editor = dialog.locator('[role="textbox"][contenteditable="true"]');
    await editor.click();
    await page.keyboard.insertText(JSON.stringify(data));
    // The editor reformats its JSON when it loses focus, which moves the
    // Submit button; let that happen before clicking it.
    await editor.evaluate((e) => e.blur());
    await page.waitForTimeout(300);
    assert.deepEqual(JSON.parse(await editor.innerText()), data);
    assert.ok(await dialog.getByRole('radio', { name: 'json/plain' }).isChecked());
    await shot('3-signal');
    const submit = dialog.getByRole('button', { name: 'Submit' });
    assert.ok(await submit.isEnabled(), 'Submit is disabled');
    await submit.click();
    await dialog.waitFor({ state: 'hidden' });
    await assert.doesNotReject(page.getByText('Workflow signaled.').waitFor(), 'the UI did not report "Workflow signaled."');
    await shot('4-signaled');

    // 5. Against a real stack: the workflow completes with the outcome.
    const want = process.env.EXPECT_OUTCOME;
    if (want) {
      const outcome = new RegExp(`"outcome":\\s*"${want}"`);
      let body = '';
      for (let i = 0; i < 60; i++) {
        await page.goto(workflowURL);
        await page.getByRole('heading', { level: 1, name: workflowID }).waitFor();
        body = await page.locator('main').innerText().catch(() => '');
        if (/\bCompleted\b/.test(body) && outcome.test(body)) break;
        await page.waitForTimeout(500);
      }
      await shot('5-outcome');
      if (!outcome.test(body)) {
        // Say why: a refused signal is listed by the approvals query.
        const after = await queryApprovals().catch((e) => ({ error: String(e) }));
        assert.fail(`workflow did not complete with outcome ${want}; approvals query: ${JSON.stringify(after)}`);
      }
      assert.match(body, /\bCompleted\b/);
    }
  } catch (err) {
    await shot('failure');
    err.message += `\n(page: ${page.url()})`;
    throw err;
  }
});
