/**
 * Spending caps per person and team, checked in the claim's transaction: many claims racing at
 * once (many Postgres clients; SQLite connections) pass a cap exactly never; the work in flight
 * counts at the pricing table's price, and a task settles at the provider's figure. Real Postgres
 * started by the test helpers, real SQLite files.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pipeline } from '../../engine/core/pipeline-schema';
import type { TaskHooks, TaskKey } from '../../engine/core/run-options';
import type { AccessStore } from '../../engine/store/access';
import { Ledger, type HookOptions } from '../../engine/store/ledger';
import { PgLedger } from '../../engine/store/pg-ledger';
import { startPostgres, type Service } from '../helpers/services';
import { tempDir } from '../helpers/tmp';

let pg: Service;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});

const doc = { version: 1, name: 'caps', nodes: [], edges: [] } as unknown as Pipeline;

const key = (runId: string, i: number, expectedUsd = 0.01): TaskKey => ({
  runId,
  nodeId: 'gen',
  item: i,
  provider: 'bfl',
  nodeType: 'flux-flex-generate',
  nodeVersion: 1,
  cacheable: false,
  requestHash: `${runId}-request-${i}`,
  request: { model: 'flex', prompt: `p${i}`, referenceHashes: [] },
  expectedUsd,
});

interface Side {
  access: AccessStore;
  /** A fresh connection (another client) of the same ledger. */
  connect(): Promise<{ hooks(runId: string, o: HookOptions): TaskHooks; startRun(runId: string, owner: { person: string; team?: string }): Promise<void>; close(): Promise<void> }>;
  close(): Promise<void>;
}

const sides: { name: string; open(): Promise<Side> }[] = [
  {
    name: 'Postgres, many clients',
    async open() {
      const admin = await PgLedger.open(pg.url);
      await admin.startRun({ runId: 'setup', pipeline: doc, options: {} });
      // A fresh database per test: earlier tests' spending is in other people's names.
      return {
        access: admin.access,
        async connect() {
          const l = await PgLedger.open(pg.url, { max: 4 });
          return { hooks: (r, o) => l.hooks(r, o), startRun: (r, owner) => l.startRun({ runId: r, pipeline: doc, options: {}, owner }), close: () => l.close() };
        },
        close: () => admin.close(),
      };
    },
  },
  {
    name: 'SQLite, several connections',
    async open() {
      const path = join(tempDir(), 'ledger.sqlite');
      const admin = Ledger.open(path);
      return {
        access: admin.access,
        async connect() {
          const l = Ledger.open(path);
          return { hooks: (r, o) => l.hooks(r, o), startRun: async (r, owner) => l.startRun({ runId: r, pipeline: doc, options: {}, owner }), close: async () => l.close() };
        },
        close: async () => admin.close(),
      };
    },
  },
];

let people = 0;

describe.each(sides)('spending caps ($name)', (side) => {
  it('a cap holds exactly when many claims race: only what fits is claimed, the rest refused naming the cap', async () => {
    const s = await side.open();
    const person = `racer${++people}`;
    await s.access.setCap({ scope: 'person', name: person, dayMicros: 100_000 }); // $0.10: ten calls of $0.01
    const clients = await Promise.all(Array.from({ length: 8 }, () => s.connect()));
    const runs = clients.map((_, i) => `${person}-run-${i}`);
    await Promise.all(clients.map((c, i) => c.startRun(runs[i], { person })));
    // 8 clients × 6 claims each, all at once: 48 claims for 10 places.
    const outcomes = await Promise.allSettled(
      clients.flatMap((c, i) => {
        const hooks = c.hooks(runs[i], { owner: { person } });
        return Array.from({ length: 6 }, (_, j) => hooks.submitting!(key(runs[i], j)));
      }),
    );
    const claimed = outcomes.filter((o) => o.status === 'fulfilled' && o.value === 'claimed').length;
    const refused = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(claimed).toBe(10);
    expect(refused).toHaveLength(38);
    expect(refused[0].reason).toMatchObject({ code: 'budget_exceeded' });
    expect(String(refused[0].reason.message)).toMatch(new RegExp(`${person}'s daily spending cap of \\$0\\.10 would be passed`));
    const [standing] = await s.access.standing({ person });
    expect(standing).toMatchObject({ scope: 'person', name: person, dayMicros: 100_000, spentDayMicros: 100_000 });
    for (const c of clients) await c.close();
    await s.close();
  }, 60_000);

  it('counts work in flight at the pricing table, settles at the provider figure, and a team cap binds its members together', async () => {
    const s = await side.open();
    const team = `team${++people}`;
    const [ann, ben] = [`ann${people}`, `ben${people}`];
    await s.access.setCap({ scope: 'team', name: team, monthMicros: 50_000 }); // $0.05 for the whole team
    const c = await s.connect();
    await c.startRun(`${ann}-run`, { person: ann, team });
    await c.startRun(`${ben}-run`, { person: ben, team });
    const annHooks = c.hooks(`${ann}-run`, { owner: { person: ann, team } });
    const benHooks = c.hooks(`${ben}-run`, { owner: { person: ben, team } });
    for (let i = 0; i < 3; i++) expect(await annHooks.submitting!(key(`${ann}-run`, i))).toBe('claimed');
    for (let i = 0; i < 2; i++) expect(await benHooks.submitting!(key(`${ben}-run`, i))).toBe('claimed');
    // Five in flight at $0.01: the team's $0.05 is taken, by two people together.
    await expect(benHooks.submitting!(key(`${ben}-run`, 2))).rejects.toMatchObject({ code: 'budget_exceeded' });
    // The provider reports less than the pricing table: what is left grows by the difference.
    for (let i = 0; i < 3; i++) {
      const k = key(`${ann}-run`, i);
      const task = { provider: 'bfl', model: 'flex' as const, taskId: `t-${ann}-${i}`, submittedAt: Date.now(), costUsd: 0.005 };
      await annHooks.submitted(k, task);
      await annHooks.completed(k, task, { hash: `h${i}`, width: 8, height: 8, mime: 'image/png', costUsd: 0.005 });
    }
    // A task the provider refused (failed before it was accepted) costs nothing.
    await benHooks.failed(key(`${ben}-run`, 1), undefined, { code: 'rate_limited', message: '429' });
    const [standing] = await s.access.standing({ person: 'nobody', team });
    expect(standing).toMatchObject({ scope: 'team', spentMonthMicros: 3 * 5_000 + 10_000 });
    // $0.025 left: two more calls fit, the third does not.
    expect(await benHooks.submitting!(key(`${ben}-run`, 3))).toBe('claimed');
    expect(await benHooks.submitting!(key(`${ben}-run`, 4))).toBe('claimed');
    await expect(benHooks.submitting!(key(`${ben}-run`, 6))).rejects.toMatchObject({ code: 'budget_exceeded' });
    // Clearing the cap lifts it.
    expect(await s.access.clearCap('team', team)).toBe(true);
    expect(await benHooks.submitting!(key(`${ben}-run`, 6))).toBe('claimed');
    await c.close();
    await s.close();
  }, 60_000);
});
