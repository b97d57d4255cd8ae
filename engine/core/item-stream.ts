/**
 * The items one output port produces, in arrival order, with listeners for streaming consumers.
 * A failed item travels as a marker so whatever depends on it is skipped, and only that.
 */
import type { PortValue, PortKind } from './ports';

export type StreamItem =
  | { index: number; ok: true; value: PortValue<PortKind> }
  | { index: number; ok: false; reason: string };

export class ItemStream {
  readonly items: StreamItem[] = [];
  closed = false;
  /** Set when the producing node failed or was skipped as a whole. */
  brokenReason?: string;
  private readonly listeners = new Set<(item: StreamItem | 'closed') => void>();

  push(item: StreamItem): void {
    if (this.closed) return;
    this.items.push(item);
    for (const l of this.listeners) l(item);
  }

  close(brokenReason?: string): void {
    if (this.closed) return;
    if (brokenReason) this.brokenReason = brokenReason;
    this.closed = true;
    for (const l of this.listeners) l('closed');
    this.listeners.clear();
  }

  /** Replays what is already there, then follows; returns an unsubscribe function. */
  follow(listener: (item: StreamItem | 'closed') => void): () => void {
    for (const item of this.items) listener(item);
    if (this.closed) {
      listener('closed');
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  whenClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((res) => this.follow((i) => i === 'closed' && res()));
  }
}
