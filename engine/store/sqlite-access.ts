/** Access tokens and spending caps in the SQLite ledger (one machine). */
import type Database from 'better-sqlite3';
import { spentSql } from './ledger-statements';
import { EngineError } from '../core/errors';
import { capWindows, checkName, hashToken, newToken, type AccessStore, type AccessToken, type CapScope, type CapStanding, type Identity, type SpendCap } from './access';

type Row = Record<string, unknown>;

export class SqliteAccess implements AccessStore {
  constructor(private readonly db: Database.Database) {}

  async addToken(person: string, o: { team?: string; admin?: boolean } = {}): Promise<{ token: string; record: AccessToken }> {
    checkName('the person', person);
    if (o.team !== undefined) checkName('the team', o.team);
    const t = newToken();
    const at = Date.now();
    this.db.prepare(`INSERT INTO access_tokens (id, person, team, admin, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`).run(t.id, person, o.team ?? null, o.admin ? 1 : 0, t.hash, at);
    return { token: t.token, record: { id: t.id, person, ...(o.team ? { team: o.team } : {}), admin: o.admin === true, createdAt: at } };
  }

  async listTokens(): Promise<AccessToken[]> {
    return (this.db.prepare(`SELECT * FROM access_tokens ORDER BY created_at`).all() as Row[]).map(toToken);
  }

  async revokeTokens(idOrPerson: string): Promise<number> {
    return this.db.prepare(`UPDATE access_tokens SET revoked_at = ? WHERE (id = ? OR person = ?) AND revoked_at IS NULL`).run(Date.now(), idOrPerson, idOrPerson).changes;
  }

  async verifyToken(token: string): Promise<Identity | undefined> {
    const row = this.db.prepare(`SELECT * FROM access_tokens WHERE token_hash = ? AND revoked_at IS NULL`).get(hashToken(token)) as Row | undefined;
    if (!row) return undefined;
    try {
      this.db.prepare(`UPDATE access_tokens SET last_used_at = ? WHERE id = ?`).run(Date.now(), row.id);
    } catch {
      // A busy ledger: the last-use time is a nicety.
    }
    return { person: String(row.person), ...(row.team ? { team: String(row.team) } : {}), admin: Number(row.admin) === 1, tokenId: String(row.id) };
  }

  async hasTokens(): Promise<boolean> {
    return this.db.prepare(`SELECT 1 FROM access_tokens WHERE revoked_at IS NULL LIMIT 1`).get() !== undefined;
  }

  async setCap(cap: SpendCap): Promise<void> {
    checkName(`the ${cap.scope}`, cap.name);
    if (cap.dayMicros === undefined && cap.monthMicros === undefined) throw new EngineError('usage', 'cap set: give --day USD, --month USD or both');
    // Setting one window keeps the other as it was.
    this.db
      .prepare(
        `INSERT INTO spend_caps (scope, name, day_micros, month_micros, updated_at) VALUES (@scope, @name, @day, @month, @at)
         ON CONFLICT(scope, name) DO UPDATE SET day_micros = COALESCE(@day, day_micros), month_micros = COALESCE(@month, month_micros), updated_at = @at`,
      )
      .run({ scope: cap.scope, name: cap.name, day: cap.dayMicros ?? null, month: cap.monthMicros ?? null, at: Date.now() });
  }

  async clearCap(scope: CapScope, name: string): Promise<boolean> {
    return this.db.prepare(`DELETE FROM spend_caps WHERE scope = ? AND name = ?`).run(scope, name).changes > 0;
  }

  async listCaps(): Promise<SpendCap[]> {
    return (this.db.prepare(`SELECT * FROM spend_caps ORDER BY scope, name`).all() as Row[]).map(toCap);
  }

  async standing(who: { person: string; team?: string }, now = Date.now()): Promise<CapStanding[]> {
    const w = capWindows(now);
    const out: CapStanding[] = [];
    for (const [scope, name] of [
      ['person', who.person],
      ['team', who.team],
    ] as const) {
      if (!name) continue;
      const row = this.db.prepare(`SELECT * FROM spend_caps WHERE scope = ? AND name = ?`).get(scope, name) as Row | undefined;
      if (!row) continue;
      const spent = this.db
        .prepare(spentSql(scope))
        .get({ name, day: w.day, month: w.month }) as { day: number; month: number };
      out.push({ ...toCap(row), spentDayMicros: Number(spent.day), spentMonthMicros: Number(spent.month) });
    }
    return out;
  }
}

function toToken(r: Row): AccessToken {
  return {
    id: String(r.id),
    person: String(r.person),
    ...(r.team ? { team: String(r.team) } : {}),
    admin: Number(r.admin) === 1,
    createdAt: Number(r.created_at),
    ...(r.revoked_at !== null && r.revoked_at !== undefined ? { revokedAt: Number(r.revoked_at) } : {}),
    ...(r.last_used_at !== null && r.last_used_at !== undefined ? { lastUsedAt: Number(r.last_used_at) } : {}),
  };
}

function toCap(r: Row): SpendCap {
  return {
    scope: r.scope as CapScope,
    name: String(r.name),
    ...(r.day_micros !== null && r.day_micros !== undefined ? { dayMicros: Number(r.day_micros) } : {}),
    ...(r.month_micros !== null && r.month_micros !== undefined ? { monthMicros: Number(r.month_micros) } : {}),
  };
}
