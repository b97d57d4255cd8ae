/**
 * Who may use a team server, and how much each person and team may spend. Access tokens are
 * random, shown once, and kept only as their sha-256 (a token of 192 random bits needs no slow
 * hash); spending caps are integer micro-dollars per UTC day and calendar month (UTC). One
 * contract, two stores: the SQLite ledger on one machine, Postgres in team mode.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EngineError } from '../core/errors';

export interface AccessToken {
  /** Public id (shown by `token list`, part of the token). */
  id: string;
  person: string;
  team?: string;
  admin: boolean;
  createdAt: number;
  revokedAt?: number;
  lastUsedAt?: number;
}

/** The person a request or a run acts for. */
export interface Identity {
  person: string;
  team?: string;
  admin: boolean;
  tokenId?: string;
}

export type CapScope = 'person' | 'team';

export interface SpendCap {
  scope: CapScope;
  name: string;
  dayMicros?: number;
  monthMicros?: number;
}

/** What a person or team has spent (settled and in flight) against its caps. */
export interface CapStanding extends SpendCap {
  spentDayMicros: number;
  spentMonthMicros: number;
}

export interface AccessStore {
  addToken(person: string, o: { team?: string; admin?: boolean }): Promise<{ token: string; record: AccessToken }>;
  listTokens(): Promise<AccessToken[]>;
  /** Revokes the token with this id, or every token of this person; returns how many. */
  revokeTokens(idOrPerson: string): Promise<number>;
  /** The identity of a live token, or undefined (unknown or revoked). */
  verifyToken(token: string): Promise<Identity | undefined>;
  /** True when at least one live token exists (a server off loopback needs one). */
  hasTokens(): Promise<boolean>;
  setCap(cap: SpendCap): Promise<void>;
  clearCap(scope: CapScope, name: string): Promise<boolean>;
  listCaps(): Promise<SpendCap[]>;
  /** The caps that apply to this person (theirs and their team's), with what is spent. */
  standing(who: { person: string; team?: string }, now?: number): Promise<CapStanding[]>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

export function checkName(what: string, name: string): string {
  if (!NAME.test(name)) throw new EngineError('usage', `${what} "${name.slice(0, 64)}" must be 1 to 64 letters, digits, "_", ".", "@" or "-"`);
  return name;
}

export function newToken(): { id: string; token: string; hash: string } {
  const id = randomBytes(4).toString('hex');
  const token = `fgt_${id}_${randomBytes(24).toString('base64url')}`;
  return { id, token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Start of the UTC day and of the UTC calendar month of `now` (epoch ms): the caps' windows. */
export function capWindows(now: number): { day: number; month: number } {
  const d = new Date(now);
  return { day: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()), month: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) };
}
