/**
 * A row source as the run consumes it: rows are pulled one at a time, and only while fewer than
 * `window` rows are open (some invocation for the row has not settled yet), so a 10,000-row file
 * starts submitting at once and memory stays flat. Every node reading the source gets each row.
 */
import type { Row } from '../rows';

export type FeedListener = (event: { row: Row } | { end: true; error?: unknown }) => void;

export class RowFeed {
  private readonly open = new Map<number, number>();
  private readonly listeners: FeedListener[] = [];
  private wake: (() => void) | undefined;
  /** Rows taken so far. */
  taken = 0;

  constructor(
    readonly id: string,
    private readonly rows: () => AsyncIterable<Row>,
    /** How many nodes read this source; pulling starts once they all listen. */
    private readers: number,
    private readonly window: number,
    private readonly signal: AbortSignal,
  ) {}

  /** Adds a reader; the last one to arrive starts the pull. */
  listen(listener: FeedListener): void {
    this.listeners.push(listener);
    if (this.listeners.length === this.readers) void this.pull();
  }

  /** A reader that will never listen (its node was cancelled before it began). */
  leave(): void {
    this.readers--;
    if (this.readers > 0 && this.listeners.length === this.readers) void this.pull();
  }

  hold(n: number): void {
    this.open.set(n, (this.open.get(n) ?? 0) + 1);
  }

  release(n: number): void {
    const left = (this.open.get(n) ?? 1) - 1;
    if (left > 0) return void this.open.set(n, left);
    this.open.delete(n);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async pull(): Promise<void> {
    let error: unknown;
    try {
      for await (const row of this.rows()) {
        if (this.signal.aborted) break;
        while (this.open.size >= this.window && !this.signal.aborted) await new Promise<void>((resolve) => (this.wake = resolve));
        if (this.signal.aborted) break;
        this.taken++;
        // Held while the readers start their invocations (which hold it themselves).
        this.hold(row.n);
        for (const l of this.listeners) l({ row });
        this.release(row.n);
      }
    } catch (e) {
      error = e;
    }
    for (const l of this.listeners) l(error === undefined ? { end: true } : { end: true, error });
  }
}
