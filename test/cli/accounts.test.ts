/**
 * Several accounts per provider for local runs: `BFL_API_KEYS=acctA:<key>,acctB:<key>` spreads
 * the calls over the accounts (each with its own cap: `--concurrency bfl=N` is per account), polls
 * each task with the key that created it, and the ledger records account names, never keys.
 * The real CLI as a child process, the emulator over HTTP (it counts active tasks per key).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { Ledger } from '../../engine/store/ledger';
import { cli, withoutProviderLines } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { drafts } from '../helpers/drafts';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 400 });
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(() => emulator.reset());

const KEY_A = 'key-of-account-a-7f3e9';
const KEY_B = 'key-of-account-b-21c4d';

describe('several accounts per provider, local runs', () => {
  it('spreads calls over the accounts, each within its own cap, and the ledger records account names, never keys', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(drafts(8)));
    const env = { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEYS: `acctA:${KEY_A}, acctB:${KEY_B}` };
    const run = await cli(['run', 'p.json', '--json', '--concurrency', 'bfl=2'], { cwd, env });
    expect(withoutProviderLines(run.stderr)).toBe('');
    expect(run.code).toBe(0);
    const stats = emulator.stats();
    expect(stats.submissions.bfl).toBe(8);
    expect(stats.capRejections.bfl).toBe(0);
    // Both accounts worked at their own cap at once: 4 active in all, 2 per key.
    expect(stats.peakActive.bfl).toEqual({ [KEY_A]: 2, [KEY_B]: 2 });
    // Each task was created and collected with one key (the emulator answers "not found" to another).
    const byKey = emulator.tasks().reduce<Record<string, number>>((n, t) => ({ ...n, [t.key]: (n[t.key] ?? 0) + 1 }), {});
    expect(byKey).toEqual({ [KEY_A]: 4, [KEY_B]: 4 });

    const ledger = Ledger.open(join(cwd, '.fluxgraph', 'ledger.sqlite'));
    const tasks = ledger.tasksOf(ledger.listRuns(1)[0].runId);
    ledger.close();
    expect(tasks.map((t) => t.state)).toEqual(Array(8).fill('done'));
    expect(tasks.filter((t) => t.account === 'acctA')).toHaveLength(4);
    expect(tasks.filter((t) => t.account === 'acctB')).toHaveLength(4);
    const file = readFileSync(join(cwd, '.fluxgraph', 'ledger.sqlite')).toString('latin1');
    const wal = (() => {
      try {
        return readFileSync(join(cwd, '.fluxgraph', 'ledger.sqlite-wal')).toString('latin1');
      } catch {
        return '';
      }
    })();
    for (const key of [KEY_A, KEY_B]) {
      expect(file + wal).not.toContain(key);
      expect(run.stdout + run.stderr).not.toContain(key);
    }
  });

  it('the single-key variable is the account "default"; an empty list variable counts as unset', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(drafts(2)));
    const run = await cli(['run', 'p.json', '--json'], { cwd, env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: KEY_A, BFL_API_KEYS: '' } });
    expect(run.code).toBe(0);
    expect(emulator.tasks().map((t) => t.key)).toEqual([KEY_A, KEY_A]);
    const ledger = Ledger.open(join(cwd, '.fluxgraph', 'ledger.sqlite'));
    expect(ledger.tasksOf(ledger.listRuns(1)[0].runId).map((t) => t.account)).toEqual(['default', 'default']);
    ledger.close();
  });

  it('a malformed account list is one clear line naming the variable, exit 2, nothing sent', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(drafts(1)));
    const run = await cli(['run', 'p.json'], { cwd, env: { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEYS: `acctA:${KEY_A},acctA:${KEY_B}` } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/BFL_API_KEYS: the account name "acctA" is used twice/);
    expect(run.stderr).not.toContain(KEY_A);
    expect(emulator.stats().submitRequests.bfl).toBe(0);
  });

  it('a resumed run collects a task in flight through the account that sent it', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'p.json'), JSON.stringify(drafts(4)));
    const env = { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEYS: `acctA:${KEY_A},acctB:${KEY_B}` };
    emulator.setLatency(6_000);
    let runId = '';
    let child: ChildProcess | undefined;
    const first = cli(['run', 'p.json', '--json', '--concurrency', 'bfl=2'], {
      cwd,
      env,
      onLine: (line, c) => {
        const e = JSON.parse(line) as { type: string; runId: string };
        if (e.type === 'runStart') [runId, child] = [e.runId, c];
      },
    });
    // Killed once all four tasks are recorded as submitted (none cut off on the wire).
    const path = join(cwd, '.fluxgraph', 'ledger.sqlite');
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      if (!runId) continue;
      const watch = Ledger.open(path);
      const n = watch.tasksOf(runId).filter((t) => t.state === 'submitted').length;
      watch.close();
      if (n === 4) break;
    }
    child!.kill('SIGKILL');
    await first;
    expect(emulator.tasks()).toHaveLength(4);
    emulator.setLatency(100);
    const resumed = await cli(['run', '--resume', runId, '--json'], { cwd, env });
    expect(resumed.code).toBe(0);
    // No new task: all four were collected, each through its own key.
    expect(emulator.stats().submissions.bfl).toBe(4);
    const ledger = Ledger.open(join(cwd, '.fluxgraph', 'ledger.sqlite'));
    const tasks = ledger.tasksOf(runId);
    ledger.close();
    expect(tasks.map((t) => t.state)).toEqual(Array(4).fill('done'));
    expect(new Set(tasks.map((t) => t.account))).toEqual(new Set(['acctA', 'acctB']));
  });
});
