/** Counters the tests read through `emulator.stats()`. */
import { createHash } from 'node:crypto';
import type { Outcome } from './faults';
import type { DuplicateSubmission, EmulatorStats, InjectedCounts, ProviderName } from './types';

function perProvider<T>(make: () => T): Record<ProviderName, T> {
  return { bfl: make(), kie: make(), novita: make(), crun: make() };
}

function injected(): InjectedCounts {
  return { rate429: 0, error5xx: 0, drop: 0, dropAfterAccept: 0, insufficientCredits: 0, expired: 0, truncate: 0, delayed: 0, failedFirst: 0, notFound: 0 };
}

function emptyStats(): EmulatorStats {
  return {
    submissions: perProvider(() => 0),
    submitRequests: perProvider(() => 0),
    requestCounts: {},
    polls: perProvider(() => 0),
    downloads: perProvider(() => 0),
    uploads: perProvider(() => 0),
    injected: { submit: injected(), poll: injected(), download: injected() },
    capRejections: perProvider(() => 0),
    peakActive: perProvider(() => ({})),
    outcomes: { ready: 0, request_moderated: 0, content_moderated: 0, failed: 0, stuck: 0 },
    callbacks: { sent: perProvider(() => 0), delivered: 0, failed: 0, missing: 0, duplicated: 0, badSignature: 0 },
  };
}

/** JSON with sorted keys, so key order never makes two equal requests look different. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestHash(provider: ProviderName, path: string, body: unknown): string {
  return createHash('sha256').update(`${provider}\n${path}\n${canonicalJson(body)}`).digest('hex');
}

/** Mutable counters behind `emulator.stats()` and `duplicateSubmissions()`. */
export class StatsRecorder {
  data: EmulatorStats = emptyStats();
  private requests = new Map<string, { provider: ProviderName; path: string }>();

  reset(): void {
    this.data = emptyStats();
    this.requests.clear();
  }

  snapshot(): EmulatorStats {
    return structuredClone(this.data);
  }

  taskCreated(provider: ProviderName, path: string, hash: string, outcome: Outcome): void {
    this.data.submissions[provider]++;
    this.data.outcomes[outcome]++;
    this.data.requestCounts[hash] = (this.data.requestCounts[hash] ?? 0) + 1;
    this.requests.set(hash, { provider, path });
  }

  active(provider: ProviderName, key: string, count: number): void {
    const peaks = this.data.peakActive[provider];
    peaks[key] = Math.max(peaks[key] ?? 0, count);
  }

  duplicates(): DuplicateSubmission[] {
    return Object.entries(this.data.requestCounts)
      .filter(([, count]) => count > 1)
      .map(([hash, count]) => ({ hash, count, ...this.requests.get(hash)! }));
  }
}
