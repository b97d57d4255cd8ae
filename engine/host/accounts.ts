/**
 * Provider accounts from the environment: `BFL_API_KEYS=teamA:<key>,teamB:<key>` (and the same
 * for the others), or the single-key `BFL_API_KEY`, which is the account named `default`. Keys stay
 * in the process that calls providers; everything else (ledger, queue, events) carries only the
 * account name.
 */
import { EngineError } from '../core/errors';

export const ACCOUNT_PROVIDERS = ['bfl', 'kie', 'novita', 'crun'] as const;
export type AccountProvider = (typeof ACCOUNT_PROVIDERS)[number];

export interface ProviderAccount {
  provider: AccountProvider;
  /** Shown in the ledger, the queue, events and the editor. Never the key. */
  name: string;
  key: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

function envPrefix(provider: AccountProvider): string {
  return provider.toUpperCase();
}

/** The value of a variable, with an empty (or blank) variable counting as unset. */
function value(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** True when the provider has a key by either variable. */
export function isKeyed(env: Record<string, string | undefined>, provider: AccountProvider): boolean {
  return value(env, `${envPrefix(provider)}_API_KEY`) !== undefined || value(env, `${envPrefix(provider)}_API_KEYS`) !== undefined;
}

/**
 * Every account of one provider, in the order given. Throws `usage` naming the variable for a
 * malformed list, a bad name or a name used twice, so nothing is enqueued or spent.
 */
export function accountsOf(env: Record<string, string | undefined>, provider: AccountProvider): ProviderAccount[] {
  const listVar = `${envPrefix(provider)}_API_KEYS`;
  const single = value(env, `${envPrefix(provider)}_API_KEY`);
  const list = value(env, listVar);
  const out: ProviderAccount[] = [];
  if (list) {
    for (const [i, entry] of list.split(',').entries()) {
      const part = entry.trim();
      if (!part) continue;
      const colon = part.indexOf(':');
      if (colon <= 0 || colon === part.length - 1) {
        throw new EngineError('usage', `${listVar}: entry ${i + 1} is not NAME:KEY (write ${listVar}=teamA:<key>,teamB:<key>)`);
      }
      const name = part.slice(0, colon).trim();
      const key = part.slice(colon + 1).trim();
      if (!NAME.test(name)) throw new EngineError('usage', `${listVar}: account name "${name.slice(0, 40)}" must be 1 to 40 letters, digits, "_" or "-"`);
      if (out.some((a) => a.name === name)) throw new EngineError('usage', `${listVar}: the account name "${name}" is used twice`);
      out.push({ provider, name, key });
    }
  }
  if (single) {
    if (out.some((a) => a.name === 'default')) throw new EngineError('usage', `${listVar} names an account "default", which is also the name of ${envPrefix(provider)}_API_KEY's account`);
    out.unshift({ provider, name: 'default', key: single });
  }
  return out;
}

/** Every configured account of every provider. */
export function allAccounts(env: Record<string, string | undefined>): ProviderAccount[] {
  return ACCOUNT_PROVIDERS.flatMap((p) => accountsOf(env, p));
}
