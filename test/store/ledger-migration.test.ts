/**
 * The ledger's schema version: a file written by the unversioned first releases (the fixture was
 * made by that code, with a crashed run and a float cost in it) is migrated in place; a file from
 * a newer fluxgraph is refused with a clear message and left untouched.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { formatCost } from '../../engine/core/money';
import { LEDGER_VERSION, Ledger } from '../../engine/store/ledger';
import { SqliteReferenceUrls } from '../../engine/store/reference-urls';
import { tempDir } from '../helpers/tmp';

const FIXTURE = join(__dirname, '../fixtures/ledger-v0.sqlite');

function copyOfFixture(): string {
  const path = join(tempDir(), 'ledger.sqlite');
  copyFileSync(FIXTURE, path);
  return path;
}

describe('ledger schema version', () => {
  it('migrates an unversioned ledger: dollars become micro-dollars, a run left "running" reads as interrupted', () => {
    const path = copyOfFixture();
    const ledger = Ledger.open(path);
    try {
      expect(ledger.db.pragma('user_version', { simple: true })).toBe(LEDGER_VERSION);
      const runs = Object.fromEntries(ledger.listRuns().map((r) => [r.runId, r]));
      expect(runs['20261201-155859-187d74']).toMatchObject({ status: 'done', resumable: false, costMicros: 100_000, calls: 2, images: 2 });
      expect(runs['20261201-155900-3f5388']).toMatchObject({ status: 'done', costMicros: 0 });
      // The crash: one task in flight (a float cost of 0.30000000000000004), one submit cut off.
      const dead = runs['20261201-150000-dead01'];
      expect(dead).toMatchObject({ status: 'interrupted', resumable: true, costMicros: 300_000, unconfirmed: 1, calls: 2 });
      expect(dead.costUsd).toBe(0.3);
      expect(ledger.ambiguousOf(dead.runId)).toHaveLength(1);
      expect(ledger.tasksOf(dead.runId).map((t) => [t.state, t.costMicros])).toEqual([
        ['submitting', null],
        ['submitted', 300_000],
      ]);
      expect(formatCost(dead)).toBe('$0.30');
      // Batches (v2): tasks carry their row, null for the tasks from before.
      const columns = (ledger.db.prepare(`PRAGMA table_info(tasks)`).all() as { name: string }[]).map((c) => c.name);
      expect(columns).toContain('row_n');
      expect(ledger.db.prepare(`SELECT COUNT(*) AS n FROM tasks WHERE row_n IS NOT NULL`).get()).toEqual({ n: 0 });
      // The migrated file still works as a ledger: a new run records as usual.
      ledger.startRun({ runId: 'new', pipeline: dead.pipeline, options: {} });
      expect(ledger.getRun('new')!.status).toBe('running');
    } finally {
      ledger.close();
    }
    // Opening it again is a no-op.
    const again = Ledger.open(path);
    expect(again.listRuns()).toHaveLength(4);
    again.close();
  });

  it('step 3 gives a version 2 ledger the reference_urls table, keeping the rows of one it made itself', () => {
    const withTable = join(tempDir(), 'ledger.sqlite');
    const withoutTable = join(tempDir(), 'ledger.sqlite');
    for (const path of [withTable, withoutTable]) {
      Ledger.open(path).close();
      // Back to version 2: fluxgraph then created reference_urls on first use, outside the steps.
      const db = new Database(path);
      if (path === withoutTable) db.exec(`DROP TABLE reference_urls`);
      else db.prepare(`INSERT INTO reference_urls (hash, provider, url, expires_at, route, created_at) VALUES ('h', 'crun', 'https://c/r.png', 9e12, 'provider-url', 1)`).run();
      db.pragma('user_version = 2');
      db.close();
    }
    for (const path of [withTable, withoutTable]) {
      const ledger = Ledger.open(path);
      try {
        expect(ledger.db.pragma('user_version', { simple: true })).toBe(LEDGER_VERSION);
        const urls = new SqliteReferenceUrls(ledger.db);
        expect(urls.find('h', Date.now(), undefined).map((u) => u.url)).toEqual(path === withTable ? ['https://c/r.png'] : []);
        urls.record({ hash: 'h2', provider: 'kie', url: 'https://k/u.png', expiresAt: Date.now() + 60_000, route: 'upload' });
        expect(urls.find('h2', Date.now(), undefined)).toHaveLength(1);
      } finally {
        ledger.close();
      }
    }
  });

  it('the v0 fixture gains reference_urls too', () => {
    const ledger = Ledger.open(copyOfFixture());
    try {
      expect(ledger.db.prepare(`SELECT COUNT(*) AS n FROM reference_urls`).get()).toEqual({ n: 0 });
    } finally {
      ledger.close();
    }
  });

  it('refuses a ledger from a newer fluxgraph with a clear message and leaves it unchanged', () => {
    const path = copyOfFixture();
    const db = new Database(path);
    db.pragma(`user_version = ${LEDGER_VERSION + 1}`);
    db.close();
    const before = readFileSync(path);
    expect(() => Ledger.open(path)).toThrow(new RegExp(`ledger ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was written by a newer fluxgraph \\(ledger version ${LEDGER_VERSION + 1}; this fluxgraph reads up to ${LEDGER_VERSION}\\)`));
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('a new ledger starts at the current version', () => {
    const ledger = Ledger.open(join(tempDir(), 'ledger.sqlite'));
    expect(ledger.db.pragma('user_version', { simple: true })).toBe(LEDGER_VERSION);
    ledger.close();
  });
});
