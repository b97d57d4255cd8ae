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
import { createRegistry } from '../../nodes/index';
import type { PipelineArgs } from './pipeline-args';

export function cacheDirOf(flag: string | undefined, env: Record<string, string | undefined>): string {
  return resolve(flag ?? env.FLUXGRAPH_CACHE_DIR ?? '.fluxgraph');
}

export interface CliHost {
  env: Record<string, string | undefined>;
  registry: NodeRegistry;
  cacheDir: string;
  /** Open for `run` and `estimate`; `validate` never touches it. */
  ledger?: Ledger;
}

/** Opens the host for one command and closes the ledger when `use` is done. */
export async function withCliHost(args: PipelineArgs, use: (cli: CliHost) => Promise<number>): Promise<number> {
  const env = loadEnv(process.cwd());
  const registry = createRegistry();
  const cacheDir = cacheDirOf(args.values['cache-dir'], env);
  // SQLite is loaded only by the commands that use the ledger.
  const ledger = args.command !== 'validate' ? (await import('../store/ledger')).Ledger.open(resolve(cacheDir, 'ledger.sqlite')) : undefined;
  try {
    return await use({ env, registry, cacheDir, ...(ledger ? { ledger } : {}) });
  } finally {
    ledger?.close();
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
    ...(checkOnly ? { emulator: 'never', callbacks: 'off' } : { onNotice: (line: string) => void process.stderr.write(line + '\n') }),
  });
  const redact = redactor(() => host.secrets);
  try {
    return await use(Object.assign(host, { redact }));
  } finally {
    await host.close();
  }
}
