/**
 * When a run stops sending to a provider account (issue 8, section 3):
 * - it cannot be reached: a DNS failure or a refused connection before its host ever answered is
 *   tried at most {@link FIRST_CONTACT_ATTEMPTS} times within seconds, then every item of that
 *   account fails, naming the host and the variables for its base URL and key (a host that answered
 *   once and then refuses is a passing outage: the usual backoff applies);
 * - it refused the account: an auth or credit refusal means every later submit would be refused
 *   too, so none is sent for the rest of the run; the first item says what to do, the others say
 *   they were not sent.
 */
import { EngineError } from './errors';

/** Tries of a first submit whose host cannot be reached. */
export const FIRST_CONTACT_ATTEMPTS = 3;
/** Waits between them, ms: with the connection attempts, well under 10 s. */
export const FIRST_CONTACT_DELAYS_MS = [1_000, 2_000];

/** Socket errors that mean the host is not there (nothing was sent). */
const UNREACHABLE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
const REFUSALS = new Set(['auth', 'insufficient_credits']);

/** What to do after a submit failed without reaching the provider. */
export type RefusalVerdict = { retryInMs: number; reason: string } | { fail: EngineError } | undefined;

export class ProviderStops {
  /** Lanes whose host has answered at least once in this run. */
  private readonly answered = new Set<string>();
  /** Lanes no more submits go to, with the error their first failed item carried. */
  private readonly stopped = new Map<string, EngineError>();

  /** The error an item fails with instead of being sent, when its account is stopped. */
  check(lane: string, title: string): EngineError | undefined {
    const first = this.stopped.get(lane);
    if (!first) return undefined;
    const why = first.code === 'network' ? `cannot be reached (${String(first.details.host ?? 'its host')})` : first.code === 'auth' ? 'refused the API key' : 'refused the request for lack of credits';
    return new EngineError(first.code, `not sent: ${title} ${why} earlier in this run; see the first ${first.code} failure for what to do`, { ...first.details, retryable: false, stoppedProvider: true });
  }

  /** The provider answered (any HTTP status): later connection failures are passing outages. */
  reached(lane: string): void {
    this.answered.add(lane);
  }

  /**
   * After a failed submit: an auth or credit refusal stops the lane (its error, with what to do,
   * is returned to fail this item); an unreachable first contact is retried quickly, then stops.
   * Undefined: not this class's business (the caller's usual handling applies).
   */
  afterSubmitError(lane: string, title: string, err: EngineError, attempt: number): RefusalVerdict {
    // Anything but a connection that never opened means the host is there.
    if (err.code !== 'network') this.reached(lane);
    if (REFUSALS.has(err.code)) {
      if (this.stopped.has(lane)) return { fail: this.check(lane, title)! };
      const todo = err.code === 'auth' ? 'fix the key' : 'top up the account';
      const stop = new EngineError(err.code, `${err.message}. No more requests go to ${title} in this run; ${todo}, then resume the run (it sends only what was not done)`, err.details, { cause: err });
      this.stopped.set(lane, stop);
      return { fail: stop };
    }
    const errno = typeof err.details.errno === 'string' ? err.details.errno : undefined;
    if (err.code !== 'network' || !errno || !UNREACHABLE.has(errno) || this.answered.has(lane)) return undefined;
    if (this.stopped.has(lane)) return { fail: this.check(lane, title)! };
    if (attempt + 1 < FIRST_CONTACT_ATTEMPTS) {
      return { retryInMs: FIRST_CONTACT_DELAYS_MS[Math.min(attempt, FIRST_CONTACT_DELAYS_MS.length - 1)], reason: `${title} unreachable (${errno}${err.details.host ? ` at ${String(err.details.host)}` : ''})` };
    }
    const stop = new EngineError('network', unreachableMessage(title, err, errno), { ...err.details, retryable: false, attempts: FIRST_CONTACT_ATTEMPTS }, { cause: err });
    this.stopped.set(lane, stop);
    return { fail: stop };
  }
}

function unreachableMessage(title: string, err: EngineError, errno: string): string {
  const host = typeof err.details.host === 'string' ? err.details.host : 'its host';
  const what = errno === 'ENOTFOUND' || errno === 'EAI_AGAIN' ? `the name ${host.replace(/:\d+$/, '')} does not resolve (${errno})` : `${host} refused or dropped the connection (${errno})`;
  const baseEnv = typeof err.details.baseUrlEnv === 'string' ? err.details.baseUrlEnv : undefined;
  const keyEnv = typeof err.details.keyEnv === 'string' ? err.details.keyEnv : undefined;
  const check = [baseEnv ? `${baseEnv} (the base URL; unset it for the provider's public API)` : undefined, keyEnv ? `${keyEnv} (its key)` : undefined].filter(Boolean).join(' and ');
  return `${title} cannot be reached: ${what}, ${FIRST_CONTACT_ATTEMPTS} attempts; nothing was sent, and no item goes to it in this run. Check your network${check ? ` and ${check}` : ''}`;
}
