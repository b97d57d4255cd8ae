/**
 * When a run stops sending to a provider (issue 8, section 3), through the real CLI and the
 * emulator over HTTP: a host that is not there fails its items after 3 quick attempts, naming
 * the host and the variables; an auth or credit refusal stops submitting to that provider for
 * the rest of the run and says what to do once.
 */
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import { FIRST_CONTACT_ATTEMPTS, ProviderStops } from '../../engine/core/provider-stops';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { tempDir } from '../helpers/tmp';
import { emulatorEnv, runPipelineCli, type Ran } from '../refs/helpers';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 20, validKeys: ['k'] });
});
afterAll(() => emulator.close());
afterEach(() => {
  emulator.setFaults({});
  emulator.reset();
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function drafts(provider: string, count: number) {
  return {
    version: 1,
    name: `drafts-${provider}`,
    nodes: [
      { id: 'idea', type: 'prompt', params: { text: 'a paper boat on a pond' } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 512, height: 512, count, seed: 3, provider } },
    ],
    edges: [{ source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' }],
  };
}

const statuses = (r: Ran) => r.events.flatMap((e) => (e.type === 'nodeProgress' && e.status ? [e.status] : []));
const failures = (r: Ran) => r.summary?.failures ?? [];

describe('a provider host that is not there', () => {
  it('fails its items after 3 attempts, naming the host, CRUN_BASE_URL and CRUN_API_KEY; each retry says why and which attempt', async () => {
    const port = await closedPort();
    const started = Date.now();
    const r = await runPipelineCli(tempDir(), drafts('crun', 2), [], emulatorEnv(emulator, { CRUN_BASE_URL: `http://127.0.0.1:${port}` }));
    const tookMs = Date.now() - started;
    expect(r.code).toBe(1);
    expect(failures(r)).toHaveLength(2);
    for (const f of failures(r)) expect(f.code).toBe('network');
    const all = failures(r).map((f) => f.message).join('\n');
    expect(all).toMatch(new RegExp(`crun\\.ai cannot be reached: 127\\.0\\.0\\.1:${port} refused or dropped the connection \\(ECONNREFUSED\\), 3 attempts; nothing was sent.*CRUN_BASE_URL.*CRUN_API_KEY`));
    const retries = statuses(r).filter((s) => s.includes('retrying'));
    expect(retries).toContain(`draft 1/2: retrying in 1 s (attempt 2 of ${FIRST_CONTACT_ATTEMPTS}): crun.ai unreachable (ECONNREFUSED at 127.0.0.1:${port})`);
    expect(retries.some((s) => s.includes('attempt 3 of 3'))).toBe(true);
    expect(retries.some((s) => /attempt [4-9]/.test(s))).toBe(false);
    expect(retries.every((s) => /\(attempt \d+ of \d+\): \S/.test(s))).toBe(true);
    // Not a timing assertion (the machine may be loaded): printed for the report.
    console.log(`unreachable crun host: run ended after ${tookMs} ms`);
  });

  it('a DNS failure names the host name that does not resolve, after the same 3 attempts (in process, no DNS query)', () => {
    const stops = new ProviderStops();
    const err = new EngineError('network', 'could not connect to crun.ai (api.crun.example:443): ENOTFOUND; nothing was sent', {
      provider: 'crun',
      errno: 'ENOTFOUND',
      host: 'api.crun.example:443',
      keyEnv: 'CRUN_API_KEY',
      baseUrlEnv: 'CRUN_BASE_URL',
      retryable: true,
    });
    expect(stops.afterSubmitError('crun', 'crun.ai', err, 0)).toEqual({ retryInMs: 1000, reason: 'crun.ai unreachable (ENOTFOUND at api.crun.example:443)' });
    expect(stops.afterSubmitError('crun', 'crun.ai', err, 1)).toEqual({ retryInMs: 2000, reason: expect.any(String) });
    const last = stops.afterSubmitError('crun', 'crun.ai', err, 2);
    expect(last && 'fail' in last && last.fail.message).toMatch(/the name api\.crun\.example does not resolve \(ENOTFOUND\), 3 attempts.*CRUN_BASE_URL.*CRUN_API_KEY/);
    // Every later item of that account fails without being sent.
    expect(stops.check('crun', 'crun.ai')?.message).toMatch(/not sent: crun\.ai cannot be reached/);
  });

  it('a host that answered once and then refuses is a passing outage: the usual retries, not a stop', () => {
    const stops = new ProviderStops();
    stops.reached('crun');
    const err = new EngineError('network', 'could not connect', { errno: 'ECONNREFUSED', retryable: true });
    expect(stops.afterSubmitError('crun', 'crun.ai', err, 5)).toBeUndefined();
    expect(stops.check('crun', 'crun.ai')).toBeUndefined();
  });
});

describe('an auth or credit refusal', () => {
  it('a refused key stops submitting to that provider for the rest of the run; the first failure says what to do, the others were not sent', async () => {
    const r = await runPipelineCli(tempDir(), drafts('crun', 4), ['--concurrency', 'crun=1'], emulatorEnv(emulator, { CRUN_API_KEY: 'wrong' }));
    expect(r.code).toBe(1);
    expect(emulator.stats().submitRequests.crun).toBe(1);
    const list = failures(r);
    expect(list).toHaveLength(4);
    expect(list.every((f) => f.code === 'auth')).toBe(true);
    const told = list.filter((f) => /No more requests go to crun\.ai in this run; fix the key, then resume the run/.test(f.message));
    expect(told).toHaveLength(1);
    expect(told[0].message).toMatch(/CRUN_API_KEY/);
    expect(list.filter((f) => /not sent: crun\.ai refused the API key earlier in this run/.test(f.message))).toHaveLength(3);
    expect(JSON.stringify(r.events)).not.toContain('wrong');
  });

  it('a credit refusal on kie stops kie, and the other providers of the run go on', async () => {
    emulator.setFaults({ submit: { insufficientCredits: 1 }, providers: ['kie'] });
    const doc = drafts('kie', 3);
    doc.nodes.push({ id: 'other', type: 'flux-flex-generate', params: { width: 512, height: 512, count: 1, seed: 4, provider: 'novita' } });
    doc.edges.push({ source: 'idea', sourceHandle: 'text', target: 'other', targetHandle: 'prompt' });
    const r = await runPipelineCli(tempDir(), doc, ['--concurrency', 'kie=1'], emulatorEnv(emulator));
    expect(r.code).toBe(1);
    expect(emulator.stats().submitRequests.kie).toBe(1);
    expect(emulator.stats().submissions.novita).toBe(1);
    const list = failures(r);
    expect(list.map((f) => f.code)).toEqual(['insufficient_credits', 'insufficient_credits', 'insufficient_credits']);
    expect(list.filter((f) => /top up the account, then resume the run/.test(f.message))).toHaveLength(1);
  });
});
