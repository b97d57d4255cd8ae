/**
 * Access tokens and spending caps in the Postgres ledger (team mode): the same contract as
 * sqlite-access.ts. A claim's cap check runs in the claim's transaction under an advisory lock per
 * person and per team, so many workers claiming at once cannot together pass a cap.
 */
import type pg from 'pg';
import { EngineError } from '../core/errors';
import { toMicros } from '../core/money';
import type { TaskKey } from '../core/run-options';
import { capWindows, checkName, hashToken, newToken, type AccessStore, type AccessToken, type CapScope, type CapStanding, type Identity, type SpendCap } from './access';
import { checkCap, type CapRow } from './cap-check';

type Row = Record<string, unknown>;
type Query = (sql: string, params?: unknown[]) => Promise<Row[]>;

/** Tokens and caps (pg-schema.ts adds them with the ledger's other tables, version 4). */
export const PG_ACCESS_TABLES = `
CREATE TABLE IF NOT EXISTS access_tokens (
  id TEXT PRIMARY KEY,
  person TEXT NOT NULL,
  team TEXT,
  admin BOOLEAN NOT NULL DEFAULT FALSE,
  token_hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  last_used_at BIGINT
);
CREATE TABLE IF NOT EXISTS spend_caps (
  scope TEXT NOT NULL,
  name TEXT NOT NULL,
  day_micros BIGINT,
  month_micros BIGINT,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (scope, name)
);
`;

/** What counts against a cap, as the SQLite ledger's spentSql: the cost once known, the pricing table's until then; shared results are $0. */
function spentSql(column: 'person' | 'team'): string {
  const cost = `COALESCE(cost_micros, expected_micros, 0)`;
  return `SELECT COALESCE(SUM(CASE WHEN created_at >= $2 THEN ${cost} ELSE 0 END), 0) AS day, COALESCE(SUM(${cost}), 0) AS month
    FROM tasks WHERE ${column} = $1 AND created_at >= $3 AND NOT shared AND state IN ('submitting', 'submitted', 'done')`;
}

/**
 * The caps of a claim's owner, checked inside the claim's transaction (`tq`). Locks are taken
 * person first, then team, after the request's own lock: always in that order, so no deadlock.
 */
export async function pgCheckCaps(tq: Query, owner: { person: string; team?: string } | undefined, key: TaskKey): Promise<void> {
  if (!owner) return;
  const expected = key.expectedUsd === undefined ? 0 : toMicros(key.expectedUsd);
  const w = capWindows(Date.now());
  for (const [scope, name] of [
    ['person', owner.person],
    ['team', owner.team],
  ] as const) {
    if (!name) continue;
    const [cap] = await tq(`SELECT day_micros AS day, month_micros AS month FROM spend_caps WHERE scope = $1 AND name = $2`, [scope, name]);
    if (!cap) continue;
    await tq(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`fluxgraph-cap:${scope}:${name}`]);
    const [spent] = await tq(spentSql(scope), [name, w.day, w.month]);
    checkCap(scope, name, { day: nullableNumber(cap.day), month: nullableNumber(cap.month) } as CapRow, { day: Number(spent.day), month: Number(spent.month) }, expected);
  }
}

function nullableNumber(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export class PgAccess implements AccessStore {
  constructor(private readonly pool: pg.Pool) {}

  private async q(sql: string, params: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, params)).rows as Row[];
  }

  async addToken(person: string, o: { team?: string; admin?: boolean } = {}): Promise<{ token: string; record: AccessToken }> {
    checkName('the person', person);
    if (o.team !== undefined) checkName('the team', o.team);
    const t = newToken();
    const at = Date.now();
    await this.q(`INSERT INTO access_tokens (id, person, team, admin, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`, [t.id, person, o.team ?? null, o.admin === true, t.hash, at]);
    return { token: t.token, record: { id: t.id, person, ...(o.team ? { team: o.team } : {}), admin: o.admin === true, createdAt: at } };
  }

  async listTokens(): Promise<AccessToken[]> {
    return (await this.q(`SELECT * FROM access_tokens ORDER BY created_at`)).map((r) => ({
      id: String(r.id),
      person: String(r.person),
      ...(r.team ? { team: String(r.team) } : {}),
      admin: r.admin === true,
      createdAt: Number(r.created_at),
      ...(r.revoked_at !== null ? { revokedAt: Number(r.revoked_at) } : {}),
      ...(r.last_used_at !== null ? { lastUsedAt: Number(r.last_used_at) } : {}),
    }));
  }

  async revokeTokens(idOrPerson: string): Promise<number> {
    return (await this.pool.query(`UPDATE access_tokens SET revoked_at = $1 WHERE (id = $2 OR person = $2) AND revoked_at IS NULL`, [Date.now(), idOrPerson])).rowCount ?? 0;
  }

  async verifyToken(token: string): Promise<Identity | undefined> {
    const [row] = await this.q(`UPDATE access_tokens SET last_used_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL RETURNING *`, [hashToken(token), Date.now()]);
    if (!row) return undefined;
    return { person: String(row.person), ...(row.team ? { team: String(row.team) } : {}), admin: row.admin === true, tokenId: String(row.id) };
  }

  async hasTokens(): Promise<boolean> {
    return (await this.q(`SELECT 1 FROM access_tokens WHERE revoked_at IS NULL LIMIT 1`)).length > 0;
  }

  async setCap(cap: SpendCap): Promise<void> {
    checkName(`the ${cap.scope}`, cap.name);
    if (cap.dayMicros === undefined && cap.monthMicros === undefined) throw new EngineError('usage', 'cap set: give --day USD, --month USD or both');
    await this.q(
      `INSERT INTO spend_caps (scope, name, day_micros, month_micros, updated_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (scope, name) DO UPDATE SET day_micros = COALESCE($3, spend_caps.day_micros), month_micros = COALESCE($4, spend_caps.month_micros), updated_at = $5`,
      [cap.scope, cap.name, cap.dayMicros ?? null, cap.monthMicros ?? null, Date.now()],
    );
  }

  async clearCap(scope: CapScope, name: string): Promise<boolean> {
    return ((await this.pool.query(`DELETE FROM spend_caps WHERE scope = $1 AND name = $2`, [scope, name])).rowCount ?? 0) > 0;
  }

  async listCaps(): Promise<SpendCap[]> {
    return (await this.q(`SELECT * FROM spend_caps ORDER BY scope, name`)).map(toCap);
  }

  async standing(who: { person: string; team?: string }, now = Date.now()): Promise<CapStanding[]> {
    const w = capWindows(now);
    const out: CapStanding[] = [];
    for (const [scope, name] of [
      ['person', who.person],
      ['team', who.team],
    ] as const) {
      if (!name) continue;
      const [row] = await this.q(`SELECT * FROM spend_caps WHERE scope = $1 AND name = $2`, [scope, name]);
      if (!row) continue;
      const [spent] = await this.q(spentSql(scope), [name, w.day, w.month]);
      out.push({ ...toCap(row), spentDayMicros: Number(spent.day), spentMonthMicros: Number(spent.month) });
    }
    return out;
  }
}

function toCap(r: Row): SpendCap {
  return {
    scope: r.scope as CapScope,
    name: String(r.name),
    ...(r.day_micros !== null ? { dayMicros: Number(r.day_micros) } : {}),
    ...(r.month_micros !== null ? { monthMicros: Number(r.month_micros) } : {}),
  };
}
