/**
 * `fluxgraph token add|list|revoke` and `fluxgraph cap set|list|clear`: who may use a team
 * server and how much each person and team may spend. They act on the ledger in use: the
 * Postgres ledger when FLUXGRAPH_DATABASE_URL is set (team mode), else this folder's SQLite ledger
 * (--cache-dir, FLUXGRAPH_CACHE_DIR, default ./.fluxgraph). A token is shown once; the ledger
 * keeps its hash.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EngineError } from '../core/errors';
import { formatUsd, toMicros } from '../core/money';
import { loadEnv } from '../host/env';
import type { AccessStore, CapScope } from '../store/access';
import { cacheDirOf, openLedger } from './cli-host';
import { EXIT, fail } from './exit';
import { COMMAND_HELP } from './usage';

/** The access store of the ledger in use, closed after `use`. */
export async function withAccess<T>(cacheDirFlag: string | undefined, use: (store: AccessStore, where: string) => Promise<T>): Promise<T> {
  const env = loadEnv(process.cwd());
  const url = env.FLUXGRAPH_DATABASE_URL?.trim();
  if (url) {
    const { PgLedger } = await import('../store/pg-ledger');
    const ledger = await PgLedger.open(url);
    try {
      return await use(ledger.access, `the Postgres ledger ${ledger.shown}`);
    } finally {
      await ledger.close();
    }
  }
  const path = join(cacheDirOf(cacheDirFlag, env), 'ledger.sqlite');
  const ledger = await openLedger(path);
  try {
    return await use(ledger.access, `the ledger ${path}`);
  } finally {
    ledger.close();
  }
}

const when = (ms: number | undefined) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '-');

export async function commandToken(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { team: { type: 'string' }, admin: { type: 'boolean' }, json: { type: 'boolean' }, 'cache-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: true,
  });
  const [verb, name, ...extra] = positionals;
  if (values.help || !verb) {
    process.stdout.write(COMMAND_HELP.token + '\n');
    return values.help ? EXIT.ok : EXIT.invalid;
  }
  if (extra.length) return fail(`token ${verb}: unexpected ${extra.join(' ')}`);
  return withAccess(values['cache-dir'], async (store, where) => {
    switch (verb) {
      case 'add': {
        if (!name) return fail('token add NAME: name the person the token is for');
        const { token, record } = await store.addToken(name, { ...(values.team ? { team: values.team } : {}), admin: values.admin === true });
        process.stderr.write(`Access token ${record.id} for ${record.person}${record.team ? ` (team ${record.team})` : ''}${record.admin ? ', admin' : ''}, kept as a hash in ${where}. It is shown only now:\n`);
        process.stdout.write(`${token}\n`);
        return EXIT.ok;
      }
      case 'list': {
        if (name) return fail(`token list takes no name (got ${name})`);
        const tokens = await store.listTokens();
        if (values.json) process.stdout.write(JSON.stringify(tokens) + '\n');
        else {
          process.stdout.write(`${'id'.padEnd(10)} ${'person'.padEnd(20)} ${'team'.padEnd(14)} ${'admin'.padEnd(6)} ${'created'.padEnd(21)} ${'last used'.padEnd(21)} state\n`);
          for (const t of tokens) {
            process.stdout.write(`${t.id.padEnd(10)} ${t.person.padEnd(20)} ${(t.team ?? '-').padEnd(14)} ${(t.admin ? 'yes' : 'no').padEnd(6)} ${when(t.createdAt).padEnd(21)} ${when(t.lastUsedAt).padEnd(21)} ${t.revokedAt ? `revoked ${when(t.revokedAt)}` : 'live'}\n`);
          }
        }
        return EXIT.ok;
      }
      case 'revoke': {
        if (!name) return fail('token revoke ID|NAME: give the token id (token list) or the person (all their tokens)');
        const n = await store.revokeTokens(name);
        if (n === 0) return fail(`no live token with id or person "${name}" (see fluxgraph token list)`);
        process.stdout.write(`Revoked ${n} token${n === 1 ? '' : 's'} of ${name}: refused from now on.\n`);
        return EXIT.ok;
      }
      default:
        return fail(`token ${verb}: expected add, list or revoke`);
    }
  });
}

function usd(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || v.trim() === '') throw new EngineError('usage', `${flag} ${v}: expected an amount in USD, e.g. ${flag} 25`);
  return toMicros(n);
}

export async function commandCap(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      person: { type: 'string' },
      team: { type: 'string' },
      day: { type: 'string' },
      month: { type: 'string' },
      json: { type: 'boolean' },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [verb, ...extra] = positionals;
  if (values.help || !verb) {
    process.stdout.write(COMMAND_HELP.cap + '\n');
    return values.help ? EXIT.ok : EXIT.invalid;
  }
  if (extra.length) return fail(`cap ${verb}: unexpected ${extra.join(' ')}`);
  const target = (): { scope: CapScope; name: string } => {
    if (values.person && values.team) throw new EngineError('usage', `cap ${verb}: give --person P or --team T, not both`);
    if (values.person) return { scope: 'person', name: values.person };
    if (values.team) return { scope: 'team', name: values.team };
    throw new EngineError('usage', `cap ${verb}: give --person P or --team T`);
  };
  return withAccess(values['cache-dir'], async (store) => {
    switch (verb) {
      case 'set': {
        const t = target();
        const day = usd('--day', values.day);
        const month = usd('--month', values.month);
        await store.setCap({ ...t, ...(day !== undefined ? { dayMicros: day } : {}), ...(month !== undefined ? { monthMicros: month } : {}) });
        const now = (await store.listCaps()).find((c) => c.scope === t.scope && c.name === t.name)!;
        process.stdout.write(`Spending cap of ${t.scope} ${t.name}: ${describeCap(now)}.\n`);
        return EXIT.ok;
      }
      case 'clear': {
        const t = target();
        if (!(await store.clearCap(t.scope, t.name))) return fail(`no spending cap for ${t.scope} ${t.name}`);
        process.stdout.write(`Spending cap of ${t.scope} ${t.name} removed.\n`);
        return EXIT.ok;
      }
      case 'list': {
        const caps = await store.listCaps();
        const rows = await Promise.all(caps.map(async (c) => ({ ...c, ...(await store.standing(c.scope === 'person' ? { person: c.name } : { person: '', team: c.name })).find((s) => s.scope === c.scope) })));
        if (values.json) process.stdout.write(JSON.stringify(rows) + '\n');
        else {
          process.stdout.write(`${'scope'.padEnd(7)} ${'name'.padEnd(20)} ${'per day'.padEnd(22)} per month\n`);
          for (const r of rows) {
            const cell = (limit: number | undefined, spent: number | undefined) => (limit === undefined ? '-' : `${formatUsd(limit)} (${formatUsd(spent ?? 0, true)} spent)`);
            process.stdout.write(`${r.scope.padEnd(7)} ${r.name.padEnd(20)} ${cell(r.dayMicros, r.spentDayMicros).padEnd(22)} ${cell(r.monthMicros, r.spentMonthMicros)}\n`);
          }
        }
        return EXIT.ok;
      }
      default:
        return fail(`cap ${verb}: expected set, list or clear`);
    }
  });
}

function describeCap(c: { dayMicros?: number; monthMicros?: number }): string {
  return [c.dayMicros !== undefined ? `${formatUsd(c.dayMicros)} per day (UTC)` : undefined, c.monthMicros !== undefined ? `${formatUsd(c.monthMicros)} per month (UTC)` : undefined]
    .filter(Boolean)
    .join(', ');
}
