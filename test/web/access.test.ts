// Who may see the page and use the API. On loopback: anyone on the machine, but no other web site through their
// browser. On any other address: only with CHRONOPS_TOKEN (Bearer for scripts; basic auth or the sign-in form's
// cookie for a browser) — and chronops refuses to start there without one.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/kernel/errors.ts';
import { chromiumMissing, openBrowser } from '../support/browser.ts';
import { backends, isoIn, type Running, runChronops, testConfig } from '../support/harness.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;
const TOKEN = 'tok-3f9a8c1e5d7b4a2c9e0f';
const exposed = () => testConfig({ server: { host: '0.0.0.0', port: 0 } });
/** The server listens on every address; tests reach it on loopback. */
const local = (run: Running) => run.url.replace('0.0.0.0', '127.0.0.1');
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function createWindow(run: Running, headers: Record<string, string> = {}) {
  const response = await fetch(`${local(run)}/api/windows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      name: 'w',
      ecs: [{ amount: 4 }],
      timing: { mode: 'explicit', at: isoIn(3_600_000), until: isoIn(7_200_000) },
    }),
  });
  return { status: response.status, id: ((await response.json()) as { window?: { id: string } }).window?.id };
}

describe('bound to a non-loopback address', () => {
  let run: Running | undefined;
  const saved = process.env.CHRONOPS_TOKEN;
  afterEach(async () => {
    await run?.stopAll();
    run = undefined;
    if (saved === undefined) delete process.env.CHRONOPS_TOKEN;
    else process.env.CHRONOPS_TOKEN = saved;
  });

  it('refuses to start without CHRONOPS_TOKEN', async () => {
    delete process.env.CHRONOPS_TOKEN;
    await assert.rejects(
      runChronops(pglite, { config: exposed() }),
      (error: unknown) => error instanceof ConfigError && /CHRONOPS_TOKEN/.test(error.message),
    );
  });

  it('refuses to start with a token short enough to guess, naming it and not showing it', async () => {
    process.env.CHRONOPS_TOKEN = 'hunter2-pass';
    await assert.rejects(
      runChronops(pglite, { config: exposed() }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /CHRONOPS_TOKEN \(environment\): is 12 characters long; use at least 16/.test(error.message) &&
        !error.message.includes('hunter2'),
    );
  });

  it('the page, its data and its live stream answer 401 without the token', async () => {
    // Prepare
    process.env.CHRONOPS_TOKEN = TOKEN;
    run = await runChronops(pglite, { config: exposed() });
    const url = local(run);
    // Act
    const page = await fetch(`${url}/`);
    const pageWrong = await fetch(`${url}/`, { headers: { authorization: basic('me', 'nope') } });
    const unauthorized = await Promise.all(
      ['/api/board', '/api/live', '/api/windows', '/api/audit'].map((p) => fetch(`${url}${p}`)),
    );
    const wrongBearer = await fetch(`${url}/api/board`, { headers: { authorization: 'Bearer nope' } });
    const create = await createWindow(run);
    // Assess
    assert.equal(page.status, 401);
    assert.match(page.headers.get('www-authenticate') ?? '', /^Basic realm="chronops"/);
    assert.match(await page.text(), /<form method="post" action="\/login"/);
    assert.equal(pageWrong.status, 401);
    for (const response of unauthorized) assert.equal(response.status, 401, response.url);
    assert.equal(wrongBearer.status, 401);
    assert.equal(create.status, 401);
    assert.equal((await run.store.listWindows()).length, 0);
    // The page's code and style hold no data and are served to the sign-in page.
    assert.equal((await fetch(`${url}/assets/style.css`)).status, 200);
  });

  it('with the token: Bearer, basic auth (any user name) or the sign-in cookie', async () => {
    // Prepare
    process.env.CHRONOPS_TOKEN = TOKEN;
    run = await runChronops(pglite, { config: exposed() });
    const url = local(run);
    // Act
    const bearer = await fetch(`${url}/api/board`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const page = await fetch(`${url}/`, { headers: { authorization: basic('anyone', TOKEN) } });
    const wrongLogin = await fetch(`${url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: 'nope' }),
      redirect: 'manual',
    });
    const login = await fetch(`${url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: TOKEN }),
      redirect: 'manual',
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const withCookie = await fetch(`${url}/api/board`, { headers: { cookie } });
    const created = await createWindow(run, { authorization: `Bearer ${TOKEN}` });
    // Assess
    assert.equal(bearer.status, 200);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(wrongLogin.status, 401);
    assert.equal(login.status, 303);
    assert.match(login.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    assert.ok(!cookie.includes(TOKEN), 'the cookie is not the token itself');
    assert.equal(withCookie.status, 200);
    assert.equal(created.status, 201);
  });

  it('a request another site makes a signed-in browser send is refused', async () => {
    // Prepare
    process.env.CHRONOPS_TOKEN = TOKEN;
    run = await runChronops(pglite, { config: exposed() });
    const { id } = await createWindow(run, { authorization: `Bearer ${TOKEN}` });
    // Act: basic credentials the browser attaches by itself, from a form on another origin
    const forged = await fetch(`${local(run)}/api/windows/${id}/cancel`, {
      method: 'POST',
      headers: { authorization: basic('x', TOKEN), origin: 'https://evil.example' },
    });
    // Assess
    assert.equal(forged.status, 403);
    assert.equal((await run.store.getWindow(id!)).status, 'scheduled');
  });
});

describe('bound to loopback (the default)', () => {
  let run: Running | undefined;
  afterEach(async () => {
    await run?.stopAll();
    run = undefined;
  });

  it('is open to this machine, but not to a form or script of another site', async () => {
    // Prepare
    run = await runChronops(pglite);
    const { id } = await createWindow(run);
    // Act
    const page = await fetch(`${run.url}/`);
    const forged = await fetch(`${run.url}/api/windows/${id}/cancel`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    const cli = await fetch(`${run.url}/api/windows/${id}/cancel`, { method: 'POST' });
    // The page itself behind a proxy that rewrites Host: the browser's Sec-Fetch-Site still says same-origin
    const { id: other } = await createWindow(run);
    const proxied = await fetch(`${run.url}/api/windows/${other}/cancel`, {
      method: 'POST',
      headers: { origin: 'https://chronops.example', 'sec-fetch-site': 'same-origin' },
    });
    // Assess
    assert.equal(page.status, 200);
    assert.equal(forged.status, 403);
    assert.equal(cli.status, 200);
    assert.equal(proxied.status, 200);
  });
});

describe('in a browser, with the token', { skip: chromiumMissing() }, () => {
  let run: Running;
  const saved = process.env.CHRONOPS_TOKEN;
  before(async () => {
    process.env.CHRONOPS_TOKEN = TOKEN;
    run = await runChronops(pglite, { config: exposed() });
  });
  after(async () => {
    await run?.stopAll();
    if (saved === undefined) delete process.env.CHRONOPS_TOKEN;
    else process.env.CHRONOPS_TOKEN = saved;
  });

  it('the sign-in form gives the live page', async () => {
    const browser = await openBrowser();
    try {
      // Act: the form (at / a browser first shows its own basic-auth dialog, then this form if cancelled)
      const first = await browser.page.goto(`${local(run)}/login`);
      // Assess
      assert.equal(first?.status(), 200);
      await browser.page.getByLabel('Token').fill('wrong');
      await browser.page.getByRole('button', { name: 'Sign in' }).click();
      await browser.page.getByLabel('Token').waitFor();
      assert.equal(await browser.page.locator('#live').count(), 0, 'still signed out');
      browser.errors.length = 0; // the browser logs the 401 of the wrong attempt
      await browser.page.getByLabel('Token').fill(TOKEN);
      await browser.page.getByRole('button', { name: 'Sign in' }).click();
      await browser.page.locator('#live[data-state="open"]').waitFor();
      await browser.page.locator('.chart[data-resource="web"] svg').waitFor();
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
    }
  });

  it('basic auth works for the page and its live stream', async () => {
    const browser = await openBrowser({ httpCredentials: { username: 'ops', password: TOKEN } });
    try {
      const response = await browser.page.goto(`${local(run)}/`);
      assert.equal(response?.status(), 200);
      await browser.page.locator('#live[data-state="open"]').waitFor();
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
    }
  });
});
