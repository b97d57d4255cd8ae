/** Money is integer micro-dollars inside and printed by one function; run statuses are one closed list. */
import { describe, expect, it } from 'vitest';
import { RUN_STATUSES, formatCost, formatUsd, fromMicros, isResumable, toMicros } from '../../engine/core/money';

describe('money', () => {
  it('sums exactly: $0.10 and $0.20 are $0.30, never 0.30000000000000004', () => {
    const [a, b] = ['0.1', '0.2'].map(Number);
    expect(a + b).toBe(0.30000000000000004);
    const micros = toMicros(a) + toMicros(b);
    expect(micros).toBe(300_000);
    expect(fromMicros(micros)).toBe(0.3);
    expect(formatUsd(micros)).toBe('$0.30');
    expect(fromMicros(13 * toMicros(0.1))).toBe(1.3);
    // A provider's float noise (7.000000000000001 credits) is whole micro-dollars too.
    expect(toMicros(0.07000000000000001)).toBe(70_000);
  });

  it('rounds for display in one way, with one marker for estimates', () => {
    expect([0, 50_000, 15_000, 12_500, 1_000_000, 12_345_000].map((m) => formatUsd(m))).toEqual(['$0', '$0.05', '$0.015', '$0.0125', '$1.00', '$12.345']);
    expect(formatUsd(100_000, true)).toBe('≈ $0.10');
    expect(formatCost({ costMicros: 700_000, costEstimated: false, unconfirmedMicros: 100_000 })).toBe('$0.70 + up to ≈ $0.10 unconfirmed');
  });

  it('has one closed list of run statuses, each resumable or not', () => {
    expect(Object.keys(RUN_STATUSES)).toEqual(['running', 'done', 'partial', 'failed', 'cancelled', 'interrupted']);
    expect(Object.keys(RUN_STATUSES).filter((s) => isResumable(s as keyof typeof RUN_STATUSES))).toEqual(['partial', 'failed', 'cancelled', 'interrupted']);
  });
});
