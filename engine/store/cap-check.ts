/**
 * The spending-cap check of a claim, inside the ledger's write transaction: what the person (and
 * their team) spent today and this month, work in flight included, plus this call's price from
 * the pricing table, must stay within each cap. Two claims cannot both pass: SQLite serialises
 * the transactions; Postgres takes an advisory lock per person and team (pg-access.ts).
 */
import { EngineError } from '../core/errors';
import { formatUsd } from '../core/money';
import { capWindows, type CapScope } from './access';

export interface CapRow {
  day: number | null;
  month: number | null;
}

export interface Spent {
  day: number;
  month: number;
}

/** Throws `budget_exceeded` naming the cap when `expectedMicros` more would pass it. */
export function checkCap(scope: CapScope, name: string, cap: CapRow | undefined, spent: Spent, expectedMicros: number): void {
  if (!cap) return;
  const who = scope === 'person' ? `${name}'s` : `team ${name}'s`;
  for (const [window, limit, used] of [
    ['daily', cap.day, spent.day],
    ['monthly', cap.month, spent.month],
  ] as const) {
    if (limit === null || limit === undefined) continue;
    if (used + expectedMicros > limit) {
      throw new EngineError(
        'budget_exceeded',
        `${who} ${window} spending cap of ${formatUsd(limit)} would be passed (${formatUsd(used, true)} spent or in flight; this call costs about ${formatUsd(expectedMicros, true)}); not submitting. An admin can raise it: fluxgraph cap set --${scope} ${name} --${window === 'daily' ? 'day' : 'month'} USD`,
        { scope, name, limitMicros: limit, spentMicros: used },
      );
    }
  }
}

export function windowsParams(now = Date.now()): { day: number; month: number } {
  return capWindows(now);
}
