// Browser test of a field worker's task on a phone: the worker signs in on
// the picker, finds the offered task in their list, accepts it, checks in
// by the phone's position, photographs the ID document, draws a signature,
// types their name, answers the questions, sends the evidence and sees it
// accepted. It drives the system Chromium through playwright-core at phone
// size (390x844) with geolocation granted and emulated at the task's place.
//
//   WEB_URL=http://127.0.0.1:8080 WORKFLOW_ID=human-task-idv-1 WORKER=ana-field \
//   WORKER_NAME='Ana Ferreira' PHOTO=/tmp/id.jpg LAT=38.7223 LON=-9.1393 \
//   ANSWERS='{"document-number":"CC-12345678"}' node --test task.test.mjs
//
// Optional: CHROMIUM (default /usr/bin/chromium), ARTIFACTS_DIR
// (screenshots of each step, and of the failure), EXPECT_VERDICT (default
// "accepted": the verdict the page must show).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, open } from './chromium.mjs';

const webURL = env('WEB_URL').replace(/\/+$/, '');
const workflowID = env('WORKFLOW_ID');
const worker = env('WORKER');
const workerName = env('WORKER_NAME');
const photo = env('PHOTO');
const lat = Number(env('LAT'));
const lon = Number(env('LON'));
const answers = JSON.parse(process.env.ANSWERS || '{}');
const wantVerdict = process.env.EXPECT_VERDICT || 'accepted';

test('field worker accepts the task and sends the evidence from a phone', { timeout: 150_000 }, async (t) => {
  const { page, shot } = await open(t, {
    viewport: { width: 390, height: 844 },
    prefix: 'task-',
    contextOptions: {
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
      geolocation: { latitude: lat, longitude: lon, accuracy: 12 },
      permissions: ['geolocation'],
    },
  });
  // send clicks a form's button and waits for the page it leads to; a
  // refusal shown instead fails the test with the workflow's reason.
  const send = async (button, want, timeout = 60_000) => {
    const refused = page.locator('#refused');
    await button.click();
    const ok = await Promise.race([
      page.waitForURL(want, { timeout }).then(() => true, () => false),
      refused.waitFor({ timeout }).then(() => false, () => false),
    ]);
    if (!ok) {
      assert.fail((await refused.count()) ? `refused: ${await refused.innerText()}` : `no page matching ${want}`);
    }
  };
  // Nothing on these pages may overflow a phone's width.
  const fitsPhone = async (what) => {
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(scroll <= client + 1, `${what} is ${scroll}px wide on a ${client}px phone screen`);
  };

  try {
    // 1. Sign in as the field worker on the picker.
    await page.goto(`${webURL}/`);
    assert.match(await page.locator('h1').innerText(), /Who are you/);
    const pick = page.locator(`button[data-worker="${worker}"]`);
    assert.match(await pick.innerText(), /field worker/);
    await shot('1-picker');
    await Promise.all([page.waitForURL(/\/tasks$/), pick.click()]);

    // 2. The task list. Visibility is eventually consistent, and routing
    // takes a moment: reload until the offer is listed.
    const link = page.locator(`a[href="/tasks/${workflowID}"]`);
    for (let i = 0; i < 60 && (await link.count()) === 0; i++) {
      await page.waitForTimeout(500);
      await page.reload();
    }
    assert.equal(await link.count(), 1, `the tasks of ${worker} do not list ${workflowID}`);
    const item = page.locator('li', { has: link });
    assert.match(await item.innerText(), /offered to you/);
    assert.match(await item.innerText(), /answer by/);
    await fitsPhone('the task list');
    await shot('2-tasks');

    // 3. The offer: accept it.
    await Promise.all([page.waitForURL(new RegExp(`/tasks/${workflowID}$`)), link.click()]);
    await page.locator('#offer').waitFor();
    await fitsPhone('the offer');
    await shot('3-offer');
    await send(page.locator('button[name="action"][value="accept"]'), /sent=accept$/);
    assert.match(await page.locator('#sent').innerText(), /You accepted the task/);

    // 4. The evidence form appears once the workflow has handed the task
    // over (the page reloads itself until then).
    const form = page.locator('#evidence-form');
    await form.waitFor({ timeout: 60_000 });
    assert.match(await page.locator('#handover').innerText(), /What to do/);
    assert.equal(await page.locator('#map-link').count(), 1);

    // 5. Check in: the page asks the phone for its position.
    const checkin = page.locator('#checkin-status[data-state="ok"]');
    await checkin.waitFor({ timeout: 30_000 });
    assert.match(await checkin.innerText(), new RegExp(`Checked in at ${lat.toFixed(5)}, ${lon.toFixed(5)}`));

    // 6. The photo, taken with the camera (a file input with capture).
    const input = page.locator('input[type="file"][name="photo:id-document"]');
    assert.equal(await input.getAttribute('capture'), 'environment');
    assert.equal(await input.getAttribute('accept'), 'image/*');
    await input.setInputFiles(photo);

    // 7. The signature, drawn with a finger, and the typed name.
    const pad = page.locator('#signature-pad');
    await pad.scrollIntoViewIfNeeded();
    const box = await pad.boundingBox();
    assert.ok(box && box.width > 200 && box.width <= 390, `signature pad is ${box && box.width}px wide`);
    await page.mouse.move(box.x + 20, box.y + box.height * 0.7);
    await page.mouse.down();
    for (let i = 1; i <= 24; i++) {
      await page.mouse.move(box.x + 20 + i * ((box.width - 40) / 24), box.y + box.height * (0.5 + 0.25 * Math.sin(i / 2)));
    }
    await page.mouse.up();
    assert.match(await page.locator('#signature-status').innerText(), /Signed/);
    await page.locator('#signatureName').fill(workerName);

    // 8. The questions.
    for (const [id, value] of Object.entries(answers)) {
      const q = page.locator(`[name="answer:${id}"]`);
      if ((await q.getAttribute('type')) === 'checkbox') {
        if (value) await q.check();
      } else {
        await q.fill(String(value));
      }
    }
    await fitsPhone('the evidence form');
    await shot('4-form');

    // 9. Send, and watch the verdict come in (the page reloads itself
    // while the checks run).
    await send(page.locator('#submit-evidence'), /sent=submission-1$/);
    await shot('5-sent');
    const verdict = page.locator('#verdict-submission-1');
    await verdict.waitFor({ timeout: 60_000 });
    if (wantVerdict === 'accepted') {
      // The task then completes, and the page stops reloading.
      await page.locator('#completed').waitFor({ timeout: 30_000 });
      assert.match(await page.locator('#completed').innerText(), /Task completed/);
    }
    await shot('6-verdict');
    const submissions = await page.locator('#submissions').innerText();
    assert.equal((await verdict.innerText()).trim(), wantVerdict, `verdict:\n${submissions}`);
    if (wantVerdict === 'accepted') {
      for (const itemName of ['check-in', 'photo:id-document', 'signature']) {
        assert.match(await page.locator(`li[data-item="${itemName}"]`).innerText(), /accepted/, `${itemName}:\n${submissions}`);
      }
    }
    await fitsPhone('the verdict');
    await shot('7-done');
  } catch (err) {
    await shot('failure');
    err.message += `\n(page: ${page.url()})`;
    throw err;
  }
});
