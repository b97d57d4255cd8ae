/**
 * Processes that share a `.fluxgraph` folder share each account's cap through the SQLite ledger
 * (a lease row per active task, held by a pid with a heartbeat): two CLI runs in two processes
 * together never pass the cap. A dead holder's rows lapse. Real CLI processes, the emulator over
 * HTTP counting the peak of active tasks per key.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { Ledger } from '../../engine/store/ledger';
import { cli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';
import { drafts } from '../helpers/drafts';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startEmulator({ latencyMs: 700 });
});
afterAll(async () => {
  await emulator.close();
});
beforeEach(() => emulator.reset());

const KEY = 'shared-cap-key-5b1';

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
}

async function twoRuns(cacheDirs: [string, string]) {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'a.json'), JSON.stringify(drafts(9, 'first')));
  writeFileSync(join(cwd, 'b.json'), JSON.stringify(drafts(9, 'second')));
  const env = { BFL_BASE_URL: emulator.baseUrl, BFL_API_KEY: KEY };
  const [a, b] = await Promise.all([
    cli(['run', 'a.json', '--json', '--concurrency', 'bfl=3', '--cache-dir', cacheDirs[0]], { cwd, env }),
    cli(['run', 'b.json', '--json', '--concurrency', 'bfl=3', '--cache-dir', cacheDirs[1]], { cwd, env }),
  ]);
  return { a, b };
}

describe('one account cap shared by the processes of one ledger', () => {
  it('two CLI processes together never pass the cap; with separate ledgers they would', async () => {
    const dir = tempDir();
    const { a, b } = await twoRuns([join(dir, 'shared'), join(dir, 'shared')]);
    expect([a.code, b.code]).toEqual([0, 0]);
    // stderr holds only the start line naming the provider's endpoint and key source.
    for (const r of [a, b]) expect(r.stderr).toMatch(/^Provider bfl: http:\/\/127\.0\.0\.1:\d+, key from BFL_API_KEY \(environment\)\n$/);
    expect(emulator.stats().submissions.bfl).toBe(18);
    // Both ran at once, three active tasks in all, never more.
    expect(emulator.stats().peakActive.bfl[KEY]).toBe(3);
    const ledger = Ledger.open(join(dir, 'shared', 'ledger.sqlite'));
    // Every slot was given back.
    expect(ledger.db.prepare(`SELECT COUNT(*) AS n FROM slot_leases`).get()).toEqual({ n: 0 });
    ledger.close();

    // Negative control: two ledgers, two caps of 3 each, so six at once.
    emulator.reset();
    const apart = await twoRuns([join(dir, 'one'), join(dir, 'two')]);
    expect([apart.a.code, apart.b.code]).toEqual([0, 0]);
    expect(emulator.stats().peakActive.bfl[KEY]).toBeGreaterThan(3);
  });

  it('slots held by a process that died are free at once; a silent holder on another machine lapses with its heartbeat', async () => {
    const path = join(tempDir(), 'ledger.sqlite');
    const ledger = Ledger.open(path, { leaseMs: 400 });
    const insert = ledger.db.prepare(`INSERT INTO slot_leases (lane, holder_pid, holder_host, beat_at, acquired_at) VALUES ('bfl:default', ?, ?, ?, ?)`);
    const dead = deadPid();
    const now = Date.now();
    insert.run(dead, hostname(), now, now);
    insert.run(dead, hostname(), now, now);
    const got = await ledger.slots.acquire('bfl:default', 2, AbortSignal.timeout(2_000));
    got();

    // Another machine's process holds both slots and then goes silent.
    const beat = Date.now();
    insert.run(4242, 'other-machine', beat, beat);
    insert.run(4242, 'other-machine', beat, beat);
    const started = Date.now();
    const late = await ledger.slots.acquire('bfl:default', 2, AbortSignal.timeout(5_000));
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    late();
    ledger.close();
  });

  it('a waiting process gets the next free slot before the process that freed it takes it back', async () => {
    const path = join(tempDir(), 'ledger.sqlite');
    const holder = Ledger.open(path);
    const a1 = await holder.slots.acquire('bfl:default', 1);
    // Another process (its waits recorded under another pid) waits for the slot.
    const waiting = Ledger.open(path);
    waiting.db.prepare(`INSERT INTO slot_waits (lane, holder_pid, holder_host, since, beat_at) VALUES ('bfl:default', ?, 'other-machine', ?, ?)`).run(4243, Date.now() - 1000, Date.now());
    let again = false;
    const next = holder.slots.acquire('bfl:default', 1).then((r) => ((again = true), r));
    a1();
    await new Promise((r) => setTimeout(r, 300));
    // The slot is free, but the other process waited longer: it is kept for it.
    expect(again).toBe(false);
    expect(holder.db.prepare(`SELECT COUNT(*) AS n FROM slot_leases`).get()).toEqual({ n: 0 });
    waiting.db.prepare(`DELETE FROM slot_waits WHERE holder_pid = 4243`).run();
    (await next)();
    waiting.close();
    holder.close();
  });
});
