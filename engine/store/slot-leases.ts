/**
 * Account slots shared by the processes that use one ledger file (the CLI and the editor server,
 * two terminals): a row per active task in `slot_leases`, held by a pid with a heartbeat, so
 * together they never pass an account's cap. A dead holder's rows lapse: at once when its pid is
 * gone from this machine, otherwise when its heartbeat is older than the lease time.
 *
 * Waiting is fair between processes: a process that waits says so in `slot_waits`, and a process
 * takes a free slot only when no other process has waited longer (or there are slots for both),
 * so the one that just freed a slot does not take it straight back.
 */
import { hostname } from 'node:os';
import type Database from 'better-sqlite3';
import { EngineError } from '../core/errors';
import type { SlotGate } from '../core/lanes';

interface Waiter {
  resolve(release: () => void): void;
  reject(e: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface LaneWaits {
  cap: number;
  queue: Waiter[];
  since: number;
  timer?: ReturnType<typeof setTimeout>;
  pollMs: number;
}

export interface SlotLoad {
  lane: string;
  active: number;
  /** Processes waiting for a slot of this lane. */
  waitingProcesses: number;
}

const MIN_POLL_MS = 20;
const MAX_POLL_MS = 200;

export class LedgerSlots implements SlotGate {
  private readonly host = hostname();
  private readonly pid = process.pid;
  private readonly lanes = new Map<string, LaneWaits>();
  private held = 0;
  private beat?: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly s: ReturnType<typeof statements>;

  constructor(
    private readonly db: Database.Database,
    private readonly leaseMs: number,
  ) {
    this.s = statements(db);
  }

  acquire(lane: string, cap: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.closed) return Promise.reject(new EngineError('aborted', 'the ledger was closed'));
    let waits = this.lanes.get(lane);
    if (!waits) this.lanes.set(lane, (waits = { cap, queue: [], since: 0, pollMs: MIN_POLL_MS }));
    waits.cap = cap;
    const w = waits;
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, ...(signal ? { signal } : {}) };
      if (signal) {
        waiter.onAbort = () => {
          const i = w.queue.indexOf(waiter);
          if (i >= 0) w.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      w.queue.push(waiter);
      this.pump(lane);
    });
  }

  /** Grants what the ledger allows to this process's waiters, then polls again while some wait. */
  private pump(lane: string): void {
    const w = this.lanes.get(lane);
    if (!w || this.closed) return;
    clearTimeout(w.timer);
    w.timer = undefined;
    if (w.queue.length === 0) return;
    let ids: number[];
    try {
      ids = this.claim(lane, w);
    } catch (e) {
      // A busy database: try again shortly (busy_timeout already waited).
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') {
        for (const waiter of w.queue.splice(0)) waiter.reject(e);
        return;
      }
      ids = [];
    }
    for (const id of ids) {
      const waiter = w.queue.shift()!;
      if (waiter.onAbort) waiter.signal!.removeEventListener('abort', waiter.onAbort);
      this.held++;
      this.startBeat();
      waiter.resolve(this.releaser(lane, id));
    }
    if (w.queue.length > 0) {
      // Slots freed by other processes show only in the ledger: look again, less often while none come.
      w.pollMs = ids.length > 0 ? MIN_POLL_MS : Math.min(MAX_POLL_MS, Math.round(w.pollMs * 1.5));
      w.timer = setTimeout(() => this.pump(lane), w.pollMs);
    }
  }

  /** One write transaction: clear lapsed rows, count the lane, take the free slots this process may. */
  private claim(lane: string, w: LaneWaits): number[] {
    return this.db
      .transaction((): number[] => {
        const now = Date.now();
        this.clearLapsed(lane, now);
        const active = (this.s.count.get(lane) as { n: number }).n;
        const since = w.since || now;
        const before = (this.s.olderWaits.get(lane, since, this.pid, this.host, now - this.leaseMs) as { n: number }).n;
        const take = Math.max(0, Math.min(w.queue.length, w.cap - active - before));
        const ids: number[] = [];
        for (let i = 0; i < take; i++) ids.push(Number(this.s.insert.run(lane, this.pid, this.host, now, now).lastInsertRowid));
        const stillWaiting = w.queue.length > take;
        if (stillWaiting) {
          // Served now: to the back of the line; not served: keep our place.
          w.since = take > 0 || !w.since ? now : w.since;
          this.s.wait.run(lane, this.pid, this.host, w.since, now);
        } else if (w.since) {
          w.since = 0;
          this.s.unwait.run(lane, this.pid, this.host);
        }
        return ids;
      })
      .immediate();
  }

  /** Rows of processes that are gone: a dead pid on this machine, or no heartbeat for the lease time. */
  private clearLapsed(lane: string, now: number): void {
    this.s.lapsed.run(lane, now - this.leaseMs);
    this.s.lapsedWaits.run(lane, now - this.leaseMs);
    for (const { pid } of this.s.holders.all({ lane, host: this.host, pid: this.pid }) as { pid: number }[]) {
      if (!pidAlive(pid)) this.s.dropPid.run(lane, pid, this.host), this.s.dropWaitPid.run(lane, pid, this.host);
    }
  }

  private releaser(lane: string, id: number): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.held--;
      if (this.held === 0) this.stopBeat();
      try {
        if (this.db.open) this.s.release.run(id);
      } catch {
        // A busy or full database: the row lapses with the heartbeat.
      }
      this.pump(lane);
    };
  }

  private startBeat(): void {
    if (this.beat) return;
    const every = Math.max(50, Math.floor(this.leaseMs / 4));
    this.beat = setInterval(() => {
      try {
        const now = Date.now();
        this.s.beat.run(now, this.pid, this.host);
        this.s.beatWaits.run(now, this.pid, this.host);
      } catch {
        // The next beat tries again.
      }
    }, every);
    this.beat.unref();
  }

  private stopBeat(): void {
    if ([...this.lanes.values()].some((w) => w.queue.length > 0)) return;
    clearInterval(this.beat);
    this.beat = undefined;
  }

  /** Active slots per lane across every process, and how many processes wait (the editor's account view). */
  load(): SlotLoad[] {
    const now = Date.now();
    const rows = this.s.loadAll.all(now - this.leaseMs, now - this.leaseMs) as { lane: string; active: number; waiting: number }[];
    return rows.map((r) => ({ lane: r.lane, active: r.active, waitingProcesses: r.waiting }));
  }

  /** Stops waiting and gives back this process's slots. */
  close(): void {
    this.closed = true;
    clearInterval(this.beat);
    this.beat = undefined;
    for (const w of this.lanes.values()) {
      clearTimeout(w.timer);
      for (const waiter of w.queue.splice(0)) waiter.reject(new EngineError('aborted', 'the ledger was closed'));
    }
    try {
      if (this.db.open) {
        this.s.dropMine.run(this.pid, this.host);
        this.s.dropMyWaits.run(this.pid, this.host);
      }
    } catch {
      // They lapse.
    }
  }
}

function statements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    count: p(`SELECT COUNT(*) AS n FROM slot_leases WHERE lane = ?`),
    olderWaits: p(`SELECT COUNT(*) AS n FROM slot_waits WHERE lane = ? AND since < ? AND NOT (holder_pid = ? AND holder_host = ?) AND beat_at >= ?`),
    insert: p(`INSERT INTO slot_leases (lane, holder_pid, holder_host, beat_at, acquired_at) VALUES (?, ?, ?, ?, ?)`),
    wait: p(`INSERT INTO slot_waits (lane, holder_pid, holder_host, since, beat_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(lane, holder_pid, holder_host) DO UPDATE SET since = excluded.since, beat_at = excluded.beat_at`),
    unwait: p(`DELETE FROM slot_waits WHERE lane = ? AND holder_pid = ? AND holder_host = ?`),
    lapsed: p(`DELETE FROM slot_leases WHERE lane = ? AND beat_at < ?`),
    lapsedWaits: p(`DELETE FROM slot_waits WHERE lane = ? AND beat_at < ?`),
    holders: p(`SELECT DISTINCT holder_pid AS pid FROM (SELECT holder_pid FROM slot_leases WHERE lane = @lane AND holder_host = @host AND holder_pid != @pid
      UNION SELECT holder_pid FROM slot_waits WHERE lane = @lane AND holder_host = @host AND holder_pid != @pid)`),
    dropPid: p(`DELETE FROM slot_leases WHERE lane = ? AND holder_pid = ? AND holder_host = ?`),
    dropWaitPid: p(`DELETE FROM slot_waits WHERE lane = ? AND holder_pid = ? AND holder_host = ?`),
    release: p(`DELETE FROM slot_leases WHERE id = ?`),
    beat: p(`UPDATE slot_leases SET beat_at = ? WHERE holder_pid = ? AND holder_host = ?`),
    beatWaits: p(`UPDATE slot_waits SET beat_at = ? WHERE holder_pid = ? AND holder_host = ?`),
    loadAll: p(`SELECT lane, SUM(active) AS active, SUM(waiting) AS waiting FROM (
        SELECT lane, 1 AS active, 0 AS waiting FROM slot_leases WHERE beat_at >= ?
        UNION ALL SELECT lane, 0, 1 FROM slot_waits WHERE beat_at >= ?) GROUP BY lane ORDER BY lane`),
    dropMine: p(`DELETE FROM slot_leases WHERE holder_pid = ? AND holder_host = ?`),
    dropMyWaits: p(`DELETE FROM slot_waits WHERE holder_pid = ? AND holder_host = ?`),
  };
}

export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
