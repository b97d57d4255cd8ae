/**
 * The providers as a coordinator and an enqueuing CLI see them in team mode: capabilities only
 * (models, sizes, prices) for validation and estimates. They hold no key and start no emulator or
 * callback receiver: paid calls go to the queue, and keys stay in the workers that call providers.
 */
import { createProviders, type HostProviders } from '../host/create-providers';

/** The environment without any provider key. */
export function withoutKeys(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (!/_API_KEYS?$/.test(k)) out[k] = v;
  return out;
}

export function capabilityProviders(env: Record<string, string | undefined>): Promise<HostProviders> {
  return createProviders({ env: { ...withoutKeys(env), FLUXGRAPH_EMULATOR: 'never' }, emulator: 'never', callbacks: 'off' });
}
