/**
 * The items one output port produces, in arrival order, with listeners for streaming consumers.
 * A failed item travels as a marker so whatever depends on it is skipped, and only that.
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

  push(item: StreamItem): void {
    if (this.closed) return;
    this.items.push(item);
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
