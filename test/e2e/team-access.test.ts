/**
 * The editor on a team server, in a real browser: the sign-in page keeps the token in an
 * HttpOnly cookie, the signed-in person and what their spending cap leaves show beside Run, each
 * provider account's active and waiting calls show while the run goes, and History shows the owner.
 * https with a self-signed certificate made by openssl, two BFL accounts on the emulator.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { startServer, type RunningServer } from '../../engine/server/server';
import { Ledger } from '../../engine/store/ledger';
import { drafts } from '../helpers/drafts';
import { tempDir } from '../helpers/tmp';
import { CHROMIUM, CHROMIUM_ARGS } from './helpers';

let emulator: Emulator;
let server: RunningServer;
let browser: BrowserContext;
let token = '';

beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 2_500 });
  const cwd = tempDir('fluxgraph-e2e-');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(cwd, 'key.pem'), '-out', join(cwd, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  const ledger = Ledger.open(join(cwd, '.fluxgraph', 'ledger.sqlite'));
  token = (await ledger.access.addToken('alice', { team: 'design' })).token;
  await ledger.access.setCap({ scope: 'person', name: 'alice', dayMicros: 2_000_000 });
  ledger.close();
  writeFileSync(join(cwd, 'team.json'), JSON.stringify(drafts(8, 'team-run')));
  server = await startServer({
    cwd,
    host: '0.0.0.0',
    port: 0,
    tls: { cert: readFileSync(join(cwd, 'cert.pem')), key: readFileSync(join(cwd, 'key.pem')) },
    editor: 'build',
    open: 'team.json',
    env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEYS: 'acctA:key-a-e2e,acctB:key-b-e2e' },
  });
  browser = await chromium.launchPersistentContext(tempDir('fluxgraph-chromium-'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 900 }, ignoreHTTPSErrors: true });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await emulator?.close();
});

describe('the editor on a team server', () => {
  it('signs in to an HttpOnly cookie, shows the cap left before Run, the accounts while the run goes, and the owner in History', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    expect(new URL(page.url()).pathname).toBe('/signin');
    await page.fill('#token', 'fgt_00000000_wrong');
    await page.click('button[type=submit]');
    await page.getByText('That token is unknown or was revoked.').waitFor();
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.locator('.react-flow').waitFor({ timeout: 60_000 });
    const cookie = (await browser.cookies()).find((c) => c.name === 'fluxgraph_token');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: true });
    // The page's scripts cannot read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain('fgt_');

    const caps = page.getByTestId('session-caps');
    await caps.waitFor();
    expect(await caps.textContent()).toMatch(/alice · \$2\.00 of \$2\.00 left today \(you\)/);

    await page.locator('.react-flow__node[data-id="drafts"]').waitFor();
    await page.click('.fg-run');
    const loads = page.getByTestId('account-load');
    await loads.first().waitFor({ timeout: 30_000 });
    const accounts = await loads.evaluateAll((els) => els.map((e) => ({ account: e.getAttribute('data-account'), active: Number(e.getAttribute('data-active')) })));
    expect(accounts.map((a) => a.account)).toEqual(['bfl:acctA', 'bfl:acctB']);
    expect(accounts.some((a) => a.active > 0)).toBe(true);

    await page.locator('.fg-run-status[data-run-status="done"]').waitFor({ timeout: 90_000 });
    expect(emulator.stats().submissions.bfl).toBe(8);
    // Both accounts took calls.
    expect(new Set(emulator.tasks().map((t) => t.key))).toEqual(new Set(['key-a-e2e', 'key-b-e2e']));
    await page.getByRole('tab', { name: 'History' }).click();
    await page.getByTestId('run-owner').first().waitFor();
    expect(await page.getByTestId('run-owner').first().textContent()).toBe('alice');
    // After the run the cap shows what is left (8 calls at the pricing table's price).
    await page.waitForFunction(() => !/\$2\.00 of/.test(document.querySelector('[data-testid="session-caps"]')?.textContent ?? ''));
    expect(await caps.textContent()).toMatch(/alice · ≈ \$1\.\d+ of \$2\.00 left today \(you\)/);
    expect(errors).toEqual([]);
  }, 180_000);
});
