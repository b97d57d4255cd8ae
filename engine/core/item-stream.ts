/**
 * The items one output port produces, in arrival order, with listeners for streaming consumers.
 * A failed item travels as a marker so whatever depends on it is skipped, and only that.
 *
 * Items are kept only while someone may still need them: a consumer that reads them all after
 * the close (a whole input), or a streaming consumer that has not subscribed yet (it gets them
 * replayed). Once every expected subscriber is there, a stream nobody reads as a whole keeps
 * nothing, so a run's memory does not grow with its images (`expect` says who consumes it;
 * without it everything is kept).
 */
import type { PortValue, PortKind } from './ports';
import type { RowTag } from './rows';

/** `row`: the batch row the item was made for, carried through every node it passes. */
export type StreamItem =
  | { index: number; ok: true; value: PortValue<PortKind>; row?: RowTag }
  | { index: number; ok: false; reason: string; row?: RowTag };

export class ItemStream {
  readonly items: StreamItem[] = [];
  closed = false;
  /** Set when the producing node failed or was skipped as a whole. */
  brokenReason?: string;
  // Allocated on first use: most streams have one follower, many have none.
  private itemListeners: ((item: StreamItem) => void)[] | undefined;
  private closeListeners: (() => void)[] | undefined;
  /** Subscribers (`follow`) still to come; items are kept for their replay. */
  private awaiting = Infinity;
  /** A consumer reads `items` after the close: keep them all. */
  private keepAll = true;

  /** The consumers: `followers` calls to `follow` will come, and `whole` says whether one reads every item after the close. */
  expect(followers: number, whole: boolean): void {
    this.awaiting = followers;
    this.keepAll = whole;
    this.dropIfUnwanted();
  }

  /** Items held for nobody are let go. */
  private dropIfUnwanted(): void {
    if (!this.keepAll && this.awaiting <= 0 && this.items.length > 0) this.items.length = 0;
  }

  push(item: StreamItem): void {
    if (this.closed) return;
    if (this.keepAll || this.awaiting > 0) this.items.push(item);
    const listeners = this.itemListeners;
    if (listeners) for (let i = 0; i < listeners.length; i++) listeners[i](item);
  }

  close(brokenReason?: string): void {
    if (this.closed) return;
    if (brokenReason) this.brokenReason = brokenReason;
    this.closed = true;
    const listeners = this.closeListeners;
    this.itemListeners = this.closeListeners = undefined;
    if (listeners) for (const l of listeners) l();
  }

  /** Replays the items already there, then passes on each new one; `onClose` once the stream closes (at once if it has). */
  follow(onItem: (item: StreamItem) => void, onClose?: () => void): void {
    for (const item of this.items) onItem(item);
    this.awaiting--;
    this.dropIfUnwanted();
    if (this.closed) return onClose?.();
    (this.itemListeners ??= []).push(onItem);
    if (onClose) (this.closeListeners ??= []).push(onClose);
  }

  /** Calls `listener` once the stream is closed (at once if it is). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else (this.closeListeners ??= []).push(listener);
  }

  whenClosed(): Promise<void> {
    return new Promise((resolve) => this.onClose(resolve));
  }
}
