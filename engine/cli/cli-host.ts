/**
 * What the pipeline commands run against: the environment, the node registry, the cache folder
 * with its ledger (not for `validate`), and the providers (embedded emulator or real APIs).
 */
import { resolve } from 'node:path';
import { createProviders, type HostProviders } from '../host/create-providers';
import { loadEnv } from '../host/env';
import { redactor } from '../host/redact';
import type { NodeRegistry } from '../core/registry';
import { Ledger } from '../store/ledger';
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
  const ledger = args.command !== 'validate' ? Ledger.open(resolve(cacheDir, 'ledger.sqlite')) : undefined;
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

/** Starts the providers (`validate` prints no notices about them) and closes them when `use` is done. */
export async function withProviders(cli: CliHost, args: PipelineArgs, use: (host: ProviderHost) => Promise<number>): Promise<number> {
  const host = await createProviders({ env: cli.env, onNotice: (line) => (args.command === 'validate' ? undefined : process.stderr.write(line + '\n')) });
  const redact = redactor(() => host.secrets);
  try {
    return await use(Object.assign(host, { redact }));
  } finally {
    await host.close();
  }
}
