/**
 * `fluxgraph estimate`: what a run would cost, after the pre-flight, counting what the ledger
 * would serve from cache. `priceRun` is also what `run --budget` checks before the first submit.
 */
import { resolve } from 'node:path';
import type { Pipeline } from '../core/pipeline-schema';
import { newRunId } from '../core/run-pipeline';
import { estimatePipeline, type Estimate } from '../host/estimate';
import { FileArtifactStore } from '../store/artifacts';
import type { ArtifactStore } from '../core/store';
import { withCliHost, type CliHost, type ProviderHost } from './cli-host';
import { EXIT } from './exit';
import { parsePipelineArgs } from './pipeline-args';
import { preflight, printProviderNote, validOrPrint, type Preflight } from './preflight';
import { formatEstimate } from './print';
import { formatStanding, identityFromEnv } from './identity';

export interface PriceOptions {
  store: ArtifactStore;
  runId: string;
  noCache: boolean;
  /** The run whose seeds a partial (`--only`) or resumed run reuses. */
  seedsFrom?: string;
}

export function priceRun(pipeline: Pipeline, pre: Preflight, cli: CliHost, host: ProviderHost, o: PriceOptions): Promise<Estimate> {
  const ledger = cli.ledger!;
  return estimatePipeline(pipeline, {
    registry: cli.registry,
    providers: host.providers,
    store: o.store,
    ...(o.noCache ? {} : { tasks: ledger.hooks(o.runId) }),
    ...(o.seedsFrom ? { seeds: ledger.nodeSeedsOf(o.seedsFrom) } : {}),
    baseDir: pre.baseDir,
    variables: pre.variables,
    ...(pre.provider ? { provider: pre.provider } : {}),
    ...(pre.only ? { only: pre.only } : {}),
    checked: pre.checked,
    ...(pre.inputs ? { inputs: pre.inputs } : {}),
    ...(pre.batch ? { batch: pre.batch } : {}),
  });
}

/** The earlier run of the same pipeline whose seeds a run of part of it (`--only`) reuses. */
export function seedsOfEarlierRun(cli: CliHost, pre: Preflight, pipeline: Pipeline, runId: string): string | undefined {
  return pre.only ? cli.ledger!.latestRunOf({ ...(pre.file ? { path: pre.file } : {}), ...(pipeline.name ? { name: pipeline.name } : {}) }, runId)?.runId : undefined;
}

export async function commandEstimate(argv: string[]): Promise<number> {
  const args = parsePipelineArgs('estimate', argv);
  if (typeof args === 'number') return args;
  return withCliHost(args, (cli) =>
    preflight(args, cli, async (pre, host) => {
      const pipeline = validOrPrint(pre);
      if (!pipeline) return EXIT.invalid;
      const store = new FileArtifactStore(resolve(cli.cacheDir, 'store'));
      const runId = newRunId();
      const seedsFrom = seedsOfEarlierRun(cli, pre, pipeline, runId);
      const estimate = await priceRun(pipeline, pre, cli, host, { store, runId, noCache: args.values['no-cache'] === true, ...(seedsFrom ? { seedsFrom } : {}) });
      // With FLUXGRAPH_TOKEN: what the person's (and team's) spending caps leave.
      const who = await identityFromEnv(cli.env, cli.ledger!.access);
      const caps = who ? await cli.ledger!.access.standing(who) : [];
      const capLines = formatStanding(caps);
      process.stdout.write(
        args.values.json ? JSON.stringify(caps.length ? { ...estimate, caps } : estimate) + '\n' : `Estimated cost of ${pre.shown}:\n${formatEstimate(estimate)}\n${capLines ? capLines + '\n' : ''}`,
      );
      printProviderNote(pre);
      return EXIT.ok;
    }),
  );
}
