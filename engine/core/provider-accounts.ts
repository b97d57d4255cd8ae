/**
 * Which account of a provider a paid call goes through. A new call goes to the account with the
 * most room in its lane (each account has its own cap); a task already submitted is waited on
 * through the account that created it, since only that account's key may poll it.
 */
import { EngineError } from './errors';
import { laneId, type Lanes } from './lanes';
import type { Provider, ProviderSet, TaskRef } from './provider';

export interface AccountChoice {
  /** The account's name (absent: the provider's only, unnamed account, as in tests and workers). */
  name?: string;
  /** The lane (and so the cap) of this account. */
  lane: string;
  /** The adapter that calls with this account's key. */
  provider: Provider;
}

function accountsOf(set: ProviderSet, provider: Provider): AccountChoice[] {
  const named = set.accounts?.(provider.id);
  if (!named?.length) return [{ lane: provider.id, provider }];
  return named.map((a) => ({ name: a.name, lane: laneId(provider.id, a.name), provider: a.provider }));
}

/** The account with the most room for a new call (the first listed on a tie). */
export function chooseAccount(set: ProviderSet, provider: Provider, lanes: Lanes): AccountChoice {
  const all = accountsOf(set, provider);
  if (all.length === 1) return all[0];
  let best = all[0];
  let bestRoom = lanes.room(best.lane);
  for (const a of all.slice(1)) {
    const room = lanes.room(a.lane);
    if (room > bestRoom) [best, bestRoom] = [a, room];
  }
  return best;
}

/** The account that created `task`; a task recorded without one was sent with the single key (`default`). */
export function accountOfTask(set: ProviderSet, provider: Provider, task: TaskRef): AccountChoice {
  const all = accountsOf(set, provider);
  if (all.length === 1 && (!task.account || all[0].name === undefined || all[0].name === task.account)) return all[0];
  const wanted = task.account ?? 'default';
  const found = all.find((a) => a.name === wanted) ?? (task.account ? undefined : all[0]);
  if (found) return found;
  const names = all.map((a) => a.name ?? 'default').join(', ');
  throw new EngineError(
    'usage',
    `task ${task.taskId} was sent through the ${provider.title} account "${wanted}", which is not configured now (accounts: ${names}); only its key can collect it: add it back to ${provider.id.toUpperCase()}_API_KEYS`,
    // `account`: team mode sends the call to a worker that has that account's key.
    { provider: provider.id, taskId: task.taskId, resumable: true, account: wanted },
  );
}
