/**
 * The ledger's table of URLs at which an image can be fetched by a provider (issue 10): the
 * provider's own result URL, an upload to kie.ai, an object in the user's bucket. Several per
 * image hash. Kept in the ledger so a resumed run and the cache find them too: a resume passes
 * the draft's URL on instead of uploading it again.
 *
 * Rows of the embedded emulator carry its `session`: that emulator's URLs die with its process,
 * so rows of another session read as expired.
 */
import type Database from 'better-sqlite3';

export type StoredUrlRoute = 'provider-url' | 'upload' | 'bucket';

export interface ReferenceUrl {
  hash: string;
  provider: string;
  url: string;
  expiresAt: number;
  route: StoredUrlRoute;
  /** Set for URLs that only live as long as one process (the embedded emulator). */
  session?: string;
}

export interface ReferenceUrlStore {
  record(row: ReferenceUrl): void;
  /** Rows for `hash` still valid at `validAt` and usable from `session`, best route first, longest-lived first. */
  find(hash: string, validAt: number, session: string | undefined): ReferenceUrl[];
}

/** Expired rows are kept this long (for `fluxgraph runs`-style inspection), then dropped. */
const KEEP_EXPIRED_MS = 24 * 60 * 60_000;

const ROUTE_ORDER: Record<StoredUrlRoute, number> = { 'provider-url': 0, upload: 1, bucket: 2 };

function sorted(rows: ReferenceUrl[]): ReferenceUrl[] {
  return rows.sort((a, b) => ROUTE_ORDER[a.route] - ROUTE_ORDER[b.route] || b.expiresAt - a.expiresAt);
}

export class SqliteReferenceUrls implements ReferenceUrlStore {
  private readonly insert: Database.Statement;
  private readonly select: Database.Statement;

  /** `db` is a ledger's database: the table is ledger schema step 3 (engine/store/ledger-schema.ts). */
  constructor(db: Database.Database) {
    db.prepare(`DELETE FROM reference_urls WHERE expires_at < ?`).run(Date.now() - KEEP_EXPIRED_MS);
    this.insert = db.prepare(
      `INSERT INTO reference_urls (hash, provider, url, expires_at, route, session, created_at) VALUES (@hash, @provider, @url, @expiresAt, @route, @session, @at)`,
    );
    this.select = db.prepare(`SELECT * FROM reference_urls WHERE hash = ? AND expires_at > ? AND (session IS NULL OR session = ?)`);
  }

  record(row: ReferenceUrl): void {
    this.insert.run({ ...row, session: row.session ?? null, at: Date.now() });
  }

  find(hash: string, validAt: number, session: string | undefined): ReferenceUrl[] {
    const rows = this.select.all(hash, validAt, session ?? '') as Record<string, unknown>[];
    return sorted(
      rows.map((r) => ({
        hash: String(r.hash),
        provider: String(r.provider),
        url: String(r.url),
        expiresAt: Number(r.expires_at),
        route: r.route as StoredUrlRoute,
        ...(r.session ? { session: String(r.session) } : {}),
      })),
    );
  }
}

/** Without a ledger (library callers, tests): the same rules, for this process only. */
export class MemoryReferenceUrls implements ReferenceUrlStore {
  private readonly rows: ReferenceUrl[] = [];

  record(row: ReferenceUrl): void {
    this.rows.push({ ...row });
  }

  find(hash: string, validAt: number, session: string | undefined): ReferenceUrl[] {
    return sorted(this.rows.filter((r) => r.hash === hash && r.expiresAt > validAt && (r.session === undefined || r.session === session)).map((r) => ({ ...r })));
  }
}
