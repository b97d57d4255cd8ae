/**
 * Team views: each provider account's calls while a run goes (active here and in other processes,
 * waiting, paused by a 429), and, on a server with access tokens, who is signed in and what their
 * spending caps leave (shown beside Run, before anything is spent).
 */
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import type { AccountLoad, SessionResponse } from '../api/types';
import { formatUsd } from '../../engine/core/money';
import { useRunStore } from '../state/run-store';
import { isRunActive } from '../state/run-state';

export function AccountLoads() {
  const status = useRunStore((s) => s.status);
  const active = isRunActive(status);
  const [loads, setLoads] = useState<AccountLoad[]>([]);
  useEffect(() => {
    if (!active) return;
    let live = true;
    const read = () => void api.accounts().then((r) => live && setLoads(r.accounts), () => undefined);
    read();
    const timer = setInterval(read, 1000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [active]);
  if (!active || loads.length === 0) return null;
  return (
    <span className="fg-accounts" data-testid="account-loads">
      {loads.map((a) => (
        <span key={`${a.provider}:${a.account}`} className="fg-tag" data-testid="account-load" data-account={`${a.provider}:${a.account}`} data-active={a.active} data-waiting={a.waiting} data-paused={a.paused ? 'true' : 'false'}>
          {a.provider} · {a.account}: {a.active}/{a.cap} active{a.elsewhere ? ` (+${a.elsewhere} elsewhere)` : ''}, {a.waiting} waiting{a.paused ? ', paused by 429' : ''}
        </span>
      ))}
    </span>
  );
}

/** "alice · $3.80 left today": the signed-in person's caps, read again after each run. */
export function SessionCaps() {
  const status = useRunStore((s) => s.status);
  const [session, setSession] = useState<SessionResponse>();
  useEffect(() => {
    let live = true;
    api.session().then((s) => live && setSession(s), () => undefined);
    return () => {
      live = false;
    };
  }, [status]);
  if (!session?.person) return null;
  const caps = (session.caps ?? []).flatMap((c) => {
    const who = c.scope === 'team' ? `team ${c.name}` : 'you';
    return [
      ...(c.dayMicros !== undefined ? [`${formatUsd(Math.max(0, c.dayMicros - c.spentDayMicros), c.spentDayMicros > 0)} of ${formatUsd(c.dayMicros)} left today (${who})`] : []),
      ...(c.monthMicros !== undefined ? [`${formatUsd(Math.max(0, c.monthMicros - c.spentMonthMicros), c.spentMonthMicros > 0)} of ${formatUsd(c.monthMicros)} left this month (${who})`] : []),
    ];
  });
  return (
    <span className="fg-session fg-muted" data-testid="session-caps" title={caps.join('\n')}>
      {session.person}
      {caps.length ? ` · ${caps.join(' · ')}` : ''}
    </span>
  );
}
