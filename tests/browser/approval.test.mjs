// Browser test of the approval web app: a person signs in on the picker,
// finds the payment in their inbox, opens it, approves it with a comment and
// sees the approval recorded. It drives the system Chromium through
// playwright-core (which never downloads a browser) against a running stack.
//
//   WEB_URL=http://127.0.0.1:8080 WORKFLOW_ID=vendor-payment-INV-1001 APPROVER=maria \
//     node --test approval.test.mjs
//
// Optional: CHROMIUM (default /usr/bin/chromium), INVOICE_ID (default: the
// workflow id without "vendor-payment-"), ARTIFACTS_DIR (screenshots of each
// step, and of the failure), EXPECT_OUTCOME (e.g. "paid": reload the page
// until the workflow reports that outcome — against a real stack).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, open } from './chromium.mjs';

const webURL = env('WEB_URL').replace(/\/+$/, '');
const workflowID = env('WORKFLOW_ID');
const approver = env('APPROVER');
const invoiceID = process.env.INVOICE_ID || workflowID.replace(/^vendor-payment-/, '');
const comment = `Checked vendor bank details (browser test ${process.pid})`;

test('approver signs in, finds the payment in the inbox and approves it', { timeout: 90_000 }, async (t) => {
  const { page, shot } = await open(t);

  try {
    // 1. Person picker.
    await page.goto(`${webURL}/`);
    assert.match(await page.locator('h1').innerText(), /Who are you/);
    await shot('1-picker');
    await Promise.all([
      page.waitForURL(/\/inbox$/),
      page.locator(`button[data-person="${approver}"]`).click(),
    ]);

    // 2. Inbox. Visibility is eventually consistent, so give the listing a
    // few reloads to catch up with a workflow that just started waiting.
    const link = page.locator(`a[href="/approvals/${workflowID}"]`);
    for (let i = 0; i < 20 && (await link.count()) === 0; i++) {
      await page.waitForTimeout(500);
      await page.reload();
    }
    assert.equal(await link.count(), 1, `inbox of ${approver} does not list ${workflowID}`);
    await shot('2-inbox');
    const row = page.locator('tr', { has: link });
    assert.match(await row.innerText(), new RegExp(invoiceID.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

    // 3. Detail page: exactly what will execute, and the decision form.
    await Promise.all([page.waitForURL(new RegExp(`/approvals/${workflowID}$`)), link.click()]);
    assert.match(await page.locator('h1').innerText(), new RegExp(invoiceID));
    const digest = (await page.locator('#digest').innerText()).trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await page.locator('input[name="actionDigest"]').getAttribute('value'), digest);

    // 4. Approve with a comment.
    await page.locator('#comment').fill(comment);
    await shot('3-detail');
    await Promise.all([
      page.waitForURL(/recorded=approve/),
      page.locator('button[name="decision"][value="approve"]').click(),
    ]);

    // 5. The page reports the approval.
    await shot('4-recorded');
    assert.match(await page.locator('#recorded').innerText(), /Your approval was recorded/);
    const decisions = await page.locator('#approvals').innerText();
    assert.match(decisions, new RegExp(`\\(${approver}\\)`));
    assert.match(decisions, /approved/);
    assert.ok(decisions.includes(comment), `decisions table lacks the comment:\n${decisions}`);

    // 6. Against a real stack: the person sees the payment through to its outcome.
    const want = process.env.EXPECT_OUTCOME;
    if (want) {
      const stage = page.locator('#stage');
      for (let i = 0; i < 60 && !(await stage.locator('..').innerText()).includes(`outcome ${want}`); i++) {
        await page.waitForTimeout(500);
        await page.reload();
      }
      await shot('5-outcome');
      assert.match(await stage.locator('..').innerText(), new RegExp(`outcome ${want}`));
    }
  } catch (err) {
    await shot('failure');
    err.message += `\n(page: ${page.url()})`;
    throw err;
  }
});
