// The page served by `tessera serve`, driven in a real browser (Debian's chromium through
// playwright-core). Run by e2e/run.sh, which starts the server with a 2-second access-token
// lifetime and no leeway, and sets TESSERA_URL to http://localhost:PORT: Chromium treats
// localhost as a secure context, so the Secure `__Host-` refresh cookie works over http.
//
// Two "devices", each a fresh browser profile (its own --user-data-dir, cookie jar and
// BroadcastChannel scope): a desktop with two tabs, and a phone.
//
// No fixed sleeps: every step waits for a condition with a timeout. Waiting for a token to
// expire waits for the page's own countdown, which runs out no earlier than the server's
// `exp` (it counts from when the token arrived).

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const BASE = process.env.TESSERA_URL;
assert.ok(BASE, 'TESSERA_URL is not set: run e2e/run.sh');
/** Node's own calls go to the address the server binds. */
const API = BASE.replace('//localhost', '//127.0.0.1');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'artifacts');
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];
const COOKIE = '__Host-tessera_refresh';
const PASSWORD = 'correct horse battery staple';
const PHONE_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 '
  + '(KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36';
/** Per step; the whole test is bounded by TOTAL (it takes about 10 s). */
const STEP = 15_000;
const TOTAL = 75_000;

/** A browser profile of its own in `root`. */
async function device(root, name, options) {
  const dir = await mkdtemp(path.join(root, `${name}-`));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    timeout: 30_000,
    ...options,
  });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  return context;
}

/** Records script errors and CSP violations of `page` into `problems`. */
function watch(page, problems) {
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    // The page's 401s (expected: that is how it learns a token expired) are logged by
    // Chromium as "Failed to load resource"; anything else at error level is a problem.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`${page.url()}: ${m.text()}`);
    }
  });
}

const button = (page, name) => page.getByRole('button', { name, exact: true });

/**
 * Clicks a button. The tab comes to the front first: Playwright's pointer actions on a tab
 * that is not the front one of its window wait a second or more for it to settle.
 */
async function click(page, name) {
  await page.bringToFront();
  await button(page, name).click();
}
const loggedIn = (page) => button(page, 'Call /v1/me').waitFor({ state: 'visible' });
const loggedOut = (page) => button(page, 'Log in').waitFor({ state: 'visible' });
const expired = (page) => page.locator('#ttl[data-expired="true"]').waitFor({ timeout: 8_000 });

async function payload(page) {
  return JSON.parse(await page.locator('#jwt-payload').textContent());
}

async function fillForm(page, username) {
  await page.bringToFront();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
}

/** Clicks "Call /v1/me" and waits for its answer. */
async function callMe(page) {
  await click(page, 'Call /v1/me');
  const done = page.locator('#me-result[data-state="ok"], #me-result[data-state="error"]');
  await done.waitFor();
  return {
    state: await done.getAttribute('data-state'),
    refreshed: (await done.getAttribute('data-refreshed')) === 'true',
    body: JSON.parse(await page.locator('#me-body').textContent()),
  };
}

/** Reloads the session list and waits until it has `n` sessions. */
async function sessions(page, n) {
  await click(page, 'Reload');
  await page.waitForFunction(
    (n) => document.querySelectorAll('#sessions li.session').length === n,
    n,
  );
}

async function refreshCookie(context) {
  return (await context.cookies(BASE)).find((c) => c.name === COOKIE);
}

test('the page, in a real browser', { timeout: TOTAL }, async (t) => {
  await mkdir(ARTIFACTS, { recursive: true });
  const root = await mkdtemp(path.join(tmpdir(), 'tessera-e2e-'));
  const contexts = [];
  const problems = [];
  try {
    const desktop = await device(root, 'desktop', { viewport: { width: 1280, height: 900 } });
    contexts.push(desktop);
    const tabA = desktop.pages()[0] ?? (await desktop.newPage());
    watch(tabA, problems);
    let tabB;
    let phone;
    let tabC;
    let sid;
    // The steps build on each other: after a failure the rest are skipped, not timed out.
    let broken = false;
    const step = (name, fn) => t.test(
      name,
      { timeout: STEP, skip: broken && 'an earlier step failed' },
      async () => {
        try {
          await fn();
        } catch (e) {
          broken = true;
          throw e;
        }
      },
    );

    await step('the page loads under its CSP and shows the form', async () => {
      const res = await tabA.goto(`${BASE}/`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
      await loggedOut(tabA);
      // No session yet: the silent refresh failed quietly, without an error message.
      assert.equal(await tabA.locator('#notice').isVisible(), false);
    });

    await step('sign up through the form, which logs in', async () => {
      await fillForm(tabA, 'alice');
      await click(tabA, 'Sign up');
      await loggedIn(tabA);
      const claims = await payload(tabA);
      assert.ok(claims.sub && claims.sid && claims.jti, JSON.stringify(claims));
      assert.equal(claims.exp - claims.iat, 2, 'TESSERA_TOKENS__ACCESS_TTL=2s');
      assert.ok(!JSON.stringify(claims).includes('alice'), 'no personal data in the payload');
      await tabA.getByText('Anyone can read this.').waitFor();
      sid = claims.sid;
    });

    await step('the refresh token is only in the HttpOnly cookie', async () => {
      const readable = await tabA.evaluate(() => document.cookie);
      assert.ok(!readable.includes('tessera_refresh'), `document.cookie: ${readable}`);
      const cookie = await refreshCookie(desktop);
      assert.ok(cookie, 'the cookie jar holds the refresh cookie');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.secure, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(cookie.path, '/');
      assert.equal(cookie.domain, 'localhost', 'host-only');
      const stored = await tabA.evaluate(() => [localStorage.length, sessionStorage.length]);
      assert.deepEqual(stored, [0, 0], 'nothing in web storage');
    });

    await step('after the access token expires, Call /v1/me refreshes behind the scenes', async () => {
      const before = await payload(tabA);
      await expired(tabA);
      const r = await callMe(tabA);
      assert.equal(r.state, 'ok', JSON.stringify(r.body));
      assert.equal(r.refreshed, true, 'answered token_expired, refreshed, retried');
      assert.equal(r.body.sub, before.sub);
      const after = await payload(tabA);
      assert.notEqual(after.jti, before.jti, 'a new access token');
      assert.equal(after.sid, sid, 'the same session');
    });

    await step('two tabs both calling after expiry both stay logged in', async () => {
      tabB = await desktop.newPage();
      watch(tabB, problems);
      await tabB.goto(`${BASE}/`);
      await loggedIn(tabB); // restored from the cookie by the silent refresh
      assert.equal((await payload(tabB)).sid, sid);
      await Promise.all([expired(tabA), expired(tabB)]);
      const both = await Promise.all([callMe(tabA), callMe(tabB)]);
      for (const r of both) {
        assert.equal(r.state, 'ok', JSON.stringify(r.body));
        assert.equal(r.body.sid, sid);
      }
      // Still logged in, in the same live session: nothing was taken for token reuse.
      for (const tab of [tabA, tabB]) {
        assert.equal((await callMe(tab)).state, 'ok');
        await sessions(tab, 1);
      }
    });

    await step('log in through the form on a second device (a phone)', async () => {
      phone = await device(root, 'phone', {
        viewport: { width: 375, height: 812 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
        userAgent: PHONE_UA,
      });
      contexts.push(phone);
      tabC = phone.pages()[0] ?? (await phone.newPage());
      watch(tabC, problems);
      await tabC.goto(`${BASE}/`);
      await loggedOut(tabC);
      await fillForm(tabC, 'alice');
      await click(tabC, 'Log in');
      await loggedIn(tabC);
      assert.notEqual((await payload(tabC)).sid, sid, 'a session of its own');
      assert.equal((await callMe(tabC)).state, 'ok');
      await sessions(tabC, 2);
      await sessions(tabA, 2);
    });

    await step('screenshots at desktop and phone widths; no horizontal scroll', async () => {
      for (const [tab, name] of [[tabA, 'desktop'], [tabC, 'phone']]) {
        const overflow = await tab.evaluate(
          () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
        );
        assert.equal(overflow, 0, `${name}: the page scrolls sideways`);
        await tab.screenshot({ path: path.join(ARTIFACTS, `logged-in-${name}.png`), fullPage: true });
      }
    });

    await step('revoking the other session logs that device out on its next call', async () => {
      await tabA.bringToFront();
      const other = tabA.locator('#sessions li.session[data-current="false"]');
      await other.getByRole('button', { name: 'Revoke' }).click();
      await tabA.waitForFunction(() => document.querySelectorAll('#sessions li.session').length === 1);
      await click(tabC, 'Call /v1/me');
      await loggedOut(tabC);
      const notice = await tabC.locator('#notice').textContent();
      assert.match(notice, /Please log in again/);
      assert.equal(await refreshCookie(phone), undefined, 'the dead cookie was cleared');
      assert.equal((await callMe(tabA)).state, 'ok', 'the desktop session is untouched');
    });

    await step('Log out returns to the form and the old cookie no longer refreshes', async () => {
      const old = await refreshCookie(desktop);
      assert.ok(old);
      await click(tabA, 'Log out');
      await loggedOut(tabA);
      await loggedOut(tabB); // told by tab A on the BroadcastChannel
      assert.equal(await refreshCookie(desktop), undefined, 'the cookie was cleared');
      const res = await fetch(`${API}/v1/token/refresh`, {
        method: 'POST',
        headers: { cookie: `${COOKIE}=${old.value}` },
      });
      assert.equal(res.status, 401);
      const body = await res.json();
      assert.equal(body.error, 'refresh_token_revoked');
      assert.equal(body.login_required, true);
      // A reload finds no session and shows the form without an error.
      await tabA.reload();
      await loggedOut(tabA);
      assert.equal(await tabA.locator('#notice').isVisible(), false);
    });

    await step('Log out everywhere logs every tab out', async () => {
      await fillForm(tabA, 'alice');
      await click(tabA, 'Log in');
      await loggedIn(tabA);
      await loggedIn(tabB); // the new token was shared with the other tab
      await click(tabA, 'Log out everywhere');
      await Promise.all([loggedOut(tabA), loggedOut(tabB)]);
      assert.equal(await refreshCookie(desktop), undefined);
    });

    await t.test('no script errors, no CSP violations, no refresh token reuse', { timeout: STEP }, async () => {
      assert.deepEqual(problems, []);
      // Tabs refreshing at once never presented a spent token outside the grace window.
      const metrics = await (await fetch(`${API}/metrics`)).text();
      assert.match(metrics, /^tessera_refresh_reuse_detected_total 0$/m);
    });
  } finally {
    await Promise.allSettled(contexts.map((c) => c.close()));
    await rm(root, { recursive: true, force: true });
  }
});
