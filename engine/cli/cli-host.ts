/**
 * What the pipeline commands run against: the environment, the node registry, the cache folder
 * with its ledger (not for `validate`), and the providers (embedded emulator or real APIs).
 */
import { resolve } from 'node:path';
import { createProviders, type HostProviders } from '../host/create-providers';
import { loadEnv } from '../host/env';
import { redactor } from '../host/redact';
import type { NodeRegistry } from '../core/registry';
import type { Ledger } from '../store/ledger';
import { EngineError } from '../core/errors';
import { folderProblem } from '../host/folders';
import { fail } from './exit';
import { createRegistry } from '../../nodes/index';
import type { PipelineArgs } from './pipeline-args';

export function cacheDirOf(flag: string | undefined, env: Record<string, string | undefined>): string {
  return resolve(flag ?? env.FLUXGRAPH_CACHE_DIR ?? '.fluxgraph');
}

export interface CliHost {
  env: Record<string, string | undefined>;
  /** Names the .env file set (not the process environment). */
  fromEnvFile: ReadonlySet<string>;
  registry: NodeRegistry;
  cacheDir: string;
  /** Open for `run` and `estimate`; `validate` never touches it. */
  ledger?: Ledger;
}

/** Opens the host for one command and closes the ledger when `use` is done. */
export async function withCliHost(args: PipelineArgs, use: (cli: CliHost) => Promise<number>): Promise<number> {
  const env = loadEnv(process.cwd());
  const fromEnvFile = new Set(Object.keys(env).filter((k) => process.env[k] === undefined));
  const registry = createRegistry();
  const cacheDir = cacheDirOf(args.values['cache-dir'], env);
  // SQLite is loaded only by the commands that use the ledger.
  let ledger: Ledger | undefined;
  if (args.command !== 'validate') {
    const problem = await folderProblem(cacheDir);
    if (problem) return fail(`cache folder (--cache-dir or FLUXGRAPH_CACHE_DIR) ${problem}`, 'unwritable_folder');
    ledger = await openLedger(resolve(cacheDir, 'ledger.sqlite'));
  }
  try {
    return await use({ env, fromEnvFile, registry, cacheDir, ...(ledger ? { ledger } : {}) });
  } finally {
    ledger?.close();
  }
}

/** The ledger, or one line saying what is wrong with its file and what to do. */
export async function openLedger(path: string): Promise<Ledger> {
  const { Ledger } = await import('../store/ledger');
  try {
    return Ledger.open(path);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    const code = String((e as { code?: string }).code ?? '');
    const damaged = /SQLITE_(NOTADB|CORRUPT)/.test(code);
    throw new EngineError(
      'io',
      damaged
        ? `${path} is not a readable ledger (${(e as Error).message}): move it aside (mv ${path} ${path}.damaged) and run again; the image store beside it is intact, only the run history and cache index start over`
        : `cannot open the ledger ${path}: ${(e as Error).message}${code ? ` (${code})` : ''}`,
      {},
      { cause: e },
    );
  }
}

export interface ProviderHost extends HostProviders {
  /** Removes every key from text before it is printed. */
  redact: (text: string) => string;
}

/**
 * Starts the providers and closes them when `use` is done. `validate` only checks capabilities,
 * which need no server: it starts no emulator and no callback receiver, and prints no notice.
 */
export async function withProviders(cli: CliHost, args: PipelineArgs, use: (host: ProviderHost) => Promise<number>): Promise<number> {
  const checkOnly = args.command === 'validate';
  const host = await createProviders({
    env: cli.env,
    fromEnvFile: cli.fromEnvFile,
    ...(checkOnly ? { emulator: 'never', callbacks: 'off' } : { onNotice: (line: string) => void process.stderr.write(line + '\n') }),
  });
  const redact = redactor(() => host.secrets);
  try {
    return await use(Object.assign(host, { redact }));
  } finally {
    await host.close();
  }
}
