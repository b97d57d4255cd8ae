/**
 * Before a run spends anything it says where the money goes: one line per provider in use, with
 * its endpoint and the source of its key (the variable, and whether it came from the environment
 * or .env; never the key), or the embedded emulator. A key set for one provider turns the
 * emulator off for all of them, and never silently: a pipeline that needs another provider is
 * refused naming that provider and its variable; and nodes that name no provider go to the only
 * provider with a key only with a note that says so. The CLI as a child process, an emulator
 * over HTTP standing in for the providers' endpoints.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 100 });
});
afterAll(() => emulator.close());

const BFL_KEY = 'bfl-key-never-printed-1234';
const KIE_KEY = 'kie-key-never-printed-5678';

/** Drafts saved; `provider` in settings (or none), and optionally a second node on another provider. */
function project(settingsProvider: string | undefined, second?: string): string {
  const cwd = tempDir();
  const doc = {
    version: 1,
    name: 'where-money-goes',
    ...(settingsProvider ? { settings: { provider: settingsProvider } } : {}),
    nodes: [
      { id: 'idea', type: 'prompt', params: { text: 'a paper boat on a pond' } },
      { id: 'drafts', type: 'flux-flex-generate', params: { width: 1024, height: 1024, count: 1, seed: 3 } },
      ...(second ? [{ id: 'other', type: 'flux-flex-generate', params: { width: 1024, height: 1024, count: 1, seed: 4, provider: second } }] : []),
    ],
    edges: [
      { source: 'idea', sourceHandle: 'text', target: 'drafts', targetHandle: 'prompt' },
      ...(second ? [{ source: 'idea', sourceHandle: 'text', target: 'other', targetHandle: 'prompt' }] : []),
    ],
  };
  writeFileSync(join(cwd, 'p.json'), JSON.stringify(doc));
  return cwd;
}

describe('the start of a run says where the money goes', () => {
  it('one line per provider in use: endpoint and key source (environment or .env), never the key', async () => {
    const cwd = project('bfl', 'kie');
    // The kie key comes from .env, the BFL key from the environment.
    writeFileSync(join(cwd, '.env'), `KIE_API_KEY=${KIE_KEY}\nKIE_BASE_URL=${emulator.baseUrl}\n`);
    const r = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env: { BFL_API_KEY: BFL_KEY, BFL_BASE_URL: emulator.baseUrl } });
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('Provider '));
    expect(lines).toEqual([`Provider bfl: ${emulator.baseUrl}, key from BFL_API_KEY (environment)`, `Provider kie: ${emulator.baseUrl}, key from KIE_API_KEY (.env)`]);
    expect(r.stderr + r.stdout).not.toContain(BFL_KEY);
    expect(r.stderr + r.stdout).not.toContain(KIE_KEY);
  });

  it('says so when the run uses the embedded emulator, per provider', async () => {
    const r = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd: project(undefined, 'kie') });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Provider bfl: the embedded emulator at http:\/\/127\.0\.0\.1:\d+ \(no key; stand-in images, nothing paid\)$/m);
    expect(r.stderr).toMatch(/^Provider kie: the embedded emulator at /m);
  });
});

describe('a key set for one provider', () => {
  it('turns the emulator off for the others out loud: a pipeline on another provider is refused, naming it and its variable, before anything is spent', async () => {
    const cwd = project('bfl');
    const before = emulator.stats().submissions.kie + emulator.stats().submissions.bfl;
    for (const command of ['validate', 'run']) {
      const r = await cli([command, 'p.json', '--out', 'out'], { cwd, env: { KIE_API_KEY: KIE_KEY, KIE_BASE_URL: emulator.baseUrl } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/node "drafts" uses provider "bfl", which has no API key: set BFL_API_KEY .*A key is set for kie, so the embedded emulator is off for every provider/);
    }
    expect(emulator.stats().submissions.kie + emulator.stats().submissions.bfl).toBe(before);
  });

  it('is where nodes that name no provider go, and validate, estimate and run all say so', async () => {
    const cwd = project(undefined);
    const env = { KIE_API_KEY: KIE_KEY, KIE_BASE_URL: emulator.baseUrl };
    const note = 'note: nodes that name no provider run on kie, the only provider with a key, not on bfl (the default); choose with --provider or settings.provider';
    const validate = await cli(['validate', 'p.json'], { cwd, env });
    expect(validate.code).toBe(0);
    expect(validate.stderr).toContain(note);
    const estimate = await cli(['estimate', 'p.json'], { cwd, env });
    expect(estimate.stdout).toMatch(/drafts\s+1 call .*\[kie\]/);
    expect(estimate.stderr).toContain(note);
    const run = await cli(['run', 'p.json', '--json', '--out', 'out'], { cwd, env });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`Provider kie: ${emulator.baseUrl}, key from KIE_API_KEY (environment); nodes that name no provider run on kie`);
    // Chosen explicitly, nothing to say.
    const chosen = await cli(['validate', 'p.json', '--provider', 'kie'], { cwd, env });
    expect(chosen.stderr).not.toContain('note:');
  });
});
