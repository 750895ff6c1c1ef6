// Shared set-up of the browser tests: the system Chromium through
// playwright-core (which never downloads a browser), in a throw-away
// profile, with everything that could reach the network switched off.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// env returns a required environment variable or throws naming it.
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

// open starts Chromium for test t (closed and removed when it ends) and
// returns its page and shot(name), which saves a screenshot to
// ARTIFACTS_DIR as <prefix><name>.png when that is set. contextOptions are
// further Playwright context options (geolocation, permissions, isMobile…).
export async function open(t, { viewport, timeout = 15_000, prefix = '', contextOptions = {} } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'eo-chromium-'));
  // Chromium may still be writing its profile as it exits: retry the removal.
  t.after(() => rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }));
  // A persistent context is how Playwright takes an explicit user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    ...(viewport ? { viewport } : {}),
    ...contextOptions,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-default-apps',
      '--disable-extensions',
    ],
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  const shot = async (name) => {
    if (process.env.ARTIFACTS_DIR) {
      await page.screenshot({ path: join(process.env.ARTIFACTS_DIR, `${prefix}${name}.png`), fullPage: true }).catch(() => {});
    }
  };
  return { page, shot };
}
