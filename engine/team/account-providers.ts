/**
 * Adapters for one provider account: the host's usual composition (base URLs, poll settings) with
 * this account's key as the provider's only key, so the key stays in this process and the task's
 * polls use the account that created it.
 */
import type { ProviderSet } from '../core/provider';
import { createProviders, PROVIDER_ENV, type HostProviders, type ProviderId } from '../host/create-providers';
import type { ProviderAccount } from '../host/accounts';

export async function accountProviders(account: ProviderAccount, env: Record<string, string | undefined>): Promise<HostProviders & { only: ProviderSet }> {
  const own: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (!/_API_KEYS?$/.test(k)) own[k] = v;
  own[PROVIDER_ENV[account.provider as ProviderId].key] = account.key;
  const host = await createProviders({ env: own, emulator: 'never', callbacks: 'off' });
  const adapter = host.providers.get(account.provider);
  // Named, so each task records the account that created it and is only ever polled with its key.
  const named = adapter ? [{ name: account.name, provider: adapter }] : [];
  const only: ProviderSet = {
    get: (id) => (id === account.provider ? adapter : undefined),
    ids: () => [account.provider],
    defaultId: account.provider,
    accounts: (id) => (id === account.provider ? named : []),
  };
  return Object.assign(host, { only });
}
