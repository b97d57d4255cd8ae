/**
 * Money and run statuses, once for the engine, the CLI, the ledger and the editor. Amounts are
 * integer micro-dollars inside (sums of floats drift: 0.1 + 0.2 is not 0.3); `usd` figures are
 * only made from micros at the edges, and one function rounds them for display.
 */

/** One US dollar in micro-dollars. */
export const MICROS_PER_USD = 1_000_000;

/** A provider's or the pricing table's float USD figure as whole micro-dollars. */
export function toMicros(usd: number | undefined | null): number {
  if (usd === undefined || usd === null || !Number.isFinite(usd)) return 0;
  return Math.round(usd * MICROS_PER_USD);
}

/** Micro-dollars as a plain USD number (exact to the micro: 1300000 → 1.3, never 1.3000000000000005). */
export function fromMicros(micros: number): number {
  return Math.round(micros) / MICROS_PER_USD;
}

/** The one marker of a figure that is (partly) the pricing table's, not what the provider reported. */
export const ESTIMATED_MARK = '≈ ';

/**
 * The display of an amount everywhere (CLI summary, `runs`, `runs show`, the editor): $0 for
 * nothing, else at least two decimals and up to four when the amount has them ($0.10, $0.015,
 * $0.0125), the estimate marker in front when the figure is the pricing table's.
 */
export function formatUsd(micros: number, estimated = false): string {
  if (Math.round(micros / 100) === 0) return `${estimated ? ESTIMATED_MARK : ''}$0`;
  const cents100 = Math.round(micros / 100); // ten-thousandths of a dollar
  const sign = cents100 < 0 ? '-' : '';
  const abs = Math.abs(cents100);
  let text = `${Math.floor(abs / 10_000)}.${String(abs % 10_000).padStart(4, '0')}`;
  text = text.replace(/(\.\d\d\d?)0+$/, '$1').replace(/(\.\d\d)0$/, '$1');
  return `${estimated ? ESTIMATED_MARK : ''}${sign}$${text}`;
}

/** The money of one run: what was charged (or estimated), and submits whose outcome is unknown. */
export interface RunMoney {
  /** Charged by providers for tasks this run submitted (the pricing table's figure where none was reported). */
  costMicros: number;
  /** Some of `costMicros` is the pricing table's figure. */
  costEstimated: boolean;
  /** Worst case of submits cut off on the wire: maybe charged, maybe not (never in `costMicros`). */
  unconfirmedMicros: number;
  /** Submits cut off on the wire. */
  unconfirmed: number;
  /** Provider calls this run made (submits sent), not planned. */
  calls: number;
  /** Results this run took from tasks other runs submitted (paid there, $0 here). */
  shared: number;
  /** Image files the run wrote, each counted once across resumes. */
  images: number;
}

export const NO_MONEY: RunMoney = { costMicros: 0, costEstimated: false, unconfirmedMicros: 0, unconfirmed: 0, calls: 0, shared: 0, images: 0 };

/** "$0.80", "≈ $0.80", "$0.70 + up to ≈ $0.10 unconfirmed". */
export function formatCost(m: Pick<RunMoney, 'costMicros' | 'costEstimated' | 'unconfirmedMicros'>): string {
  const cost = formatUsd(m.costMicros, m.costEstimated);
  return m.unconfirmedMicros > 0 ? `${cost} + up to ${formatUsd(m.unconfirmedMicros, true)} unconfirmed` : cost;
}

/** The money fields of a summary (older summaries carry only `costUsd`). */
export function summaryMoney(s: { costUsd: number; costMicros?: number; costEstimated?: boolean; unconfirmedMicros?: number }): { costMicros: number; costEstimated: boolean; unconfirmedMicros: number } {
  return { costMicros: s.costMicros ?? toMicros(s.costUsd), costEstimated: s.costEstimated === true, unconfirmedMicros: s.unconfirmedMicros ?? 0 };
}

/** The closed list of run statuses, each marked resumable or not. */
export const RUN_STATUSES = {
  /** A live process holds the run's lease. */
  running: { resumable: false },
  done: { resumable: false },
  /** Some items failed or were skipped: a resume retries them. */
  partial: { resumable: true },
  /** Every paid item failed (or the run failed before it could start them). */
  failed: { resumable: true },
  /** Stopped on purpose (Ctrl-C, the editor's Stop). */
  cancelled: { resumable: true },
  /** Killed, crashed or cut off (lease lapsed, piped output closed). */
  interrupted: { resumable: true },
} as const satisfies Record<string, { resumable: boolean }>;

export type RunStatus = keyof typeof RUN_STATUSES;
/** How a run that reached its end finished. */
export type FinishedRunStatus = Exclude<RunStatus, 'running' | 'interrupted'>;

export function isRunStatus(s: unknown): s is RunStatus {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(RUN_STATUSES, s);
}

export function isResumable(s: RunStatus): boolean {
  return RUN_STATUSES[s].resumable;
}
