/**
 * Who a CLI run is for: `FLUXGRAPH_TOKEN` names a person by their access token, checked against
 * the ledger in use. The run is then theirs (`runs` shows it) and their spending caps apply to
 * it; the estimate shows what each cap leaves. Without the variable a run has no owner, as before.
 */
import { EngineError } from '../core/errors';
import { formatUsd } from '../core/money';
import type { AccessStore, CapStanding, Identity } from '../store/access';

export async function identityFromEnv(env: Record<string, string | undefined>, store: AccessStore): Promise<Identity | undefined> {
  const token = env.FLUXGRAPH_TOKEN?.trim();
  if (!token) return undefined;
  const who = await store.verifyToken(token);
  if (!who) throw new EngineError('usage', 'FLUXGRAPH_TOKEN is unknown or was revoked: ask an admin for a new one (fluxgraph token add NAME)');
  return who;
}

/** "Spending cap of alice: $5.00 per day, $3.80 left; …" lines, one per cap that applies. */
export function formatStanding(caps: CapStanding[]): string {
  return caps
    .flatMap((c) => {
      const who = c.scope === 'person' ? c.name : `team ${c.name}`;
      const parts = [
        c.dayMicros !== undefined ? `${formatUsd(c.dayMicros)} per day, ${formatUsd(Math.max(0, c.dayMicros - c.spentDayMicros), true)} left` : undefined,
        c.monthMicros !== undefined ? `${formatUsd(c.monthMicros)} per month, ${formatUsd(Math.max(0, c.monthMicros - c.spentMonthMicros), true)} left` : undefined,
      ].filter(Boolean);
      return parts.length ? [`Spending cap of ${who}: ${parts.join('; ')}`] : [];
    })
    .join('\n');
}
