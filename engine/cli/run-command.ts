/**
 * `fluxgraph run`: the pre-flight, the budget check, then the run with the ledger (so it can be
 * resumed without paying twice), its progress on the terminal (or JSON events) and its summary.
 */
import { resolve } from 'node:path';
import { newRunId, runPipeline } from '../core/run-pipeline';
import { runDownloader } from '../host/preflight';
import { priceOf } from '../providers/pricing';
import { FileArtifactStore } from '../store/artifacts';
import { parseConcurrency } from './args';
import { withCliHost } from './cli-host';
import { identityFromEnv } from './identity';
import { priceRun, seedsOfEarlierRun } from './estimate-command';
import { EXIT, fail } from './exit';
import { parsePipelineArgs } from './pipeline-args';
import { preflight, validOrPrint } from './preflight';
import { formatEstimate } from './print';
import { formatSummary, TerminalProgress } from './progress';
import { createReferenceDelivery } from '../refs/host';
import { applyMoney } from '../core/run/summarise';
import { formatUsd, toMicros } from '../core/money';
import { confirmResubmit, formatAmbiguous } from './ambiguous';
import { isBatch } from '../core/batch-plan';
import { ResultsManifest } from '../host/results-manifest';
import { join } from 'node:path';
import { onOutputClosed, write } from './output';
import { providerLines } from './provider-lines';

export async function commandRun(argv: string[]): Promise<number> {
  const args = parsePipelineArgs('run', argv);
  if (typeof args === 'number') return args;
  const { values, resumeId } = args;
  // Team mode: the run goes to the shared queue and this process follows its events.
  if (values.queue) return (await import('./run-queued')).commandRunQueued(args);
  for (const flag of ['detach', 'priority'] as const) if (values[flag] !== undefined) return fail(`--${flag} is an option of run --queue (team mode)`);
  return withCliHost(args, (cli) =>
    preflight(args, cli, async (pre, host) => {
      const pipeline = validOrPrint(pre);
      if (!pipeline) return EXIT.invalid;
      const ledger = cli.ledger!;
      const { doc, file, variables, stored, provider, baseDir, only } = pre;
      const store = new FileArtifactStore(resolve(cli.cacheDir, 'store'));
      // A resume keeps the run's --no-cache: its requests were meant to be made anew.
      const noCache = values['no-cache'] === true || stored.noCache === true;
      const runId = resumeId ?? newRunId();
      const seedsFrom = resumeId ? undefined : seedsOfEarlierRun(cli, pre, pipeline, runId);
      const batch = pre.batch !== undefined && isBatch(pre.batch.plan);
      const retryFailed = values['retry-failed'] === true;
      if (retryFailed && !resumeId) return fail('--retry-failed sends the failed rows of a run again: use it with --resume <run id>');
      if (retryFailed) {
        const failed = ledger.failedTasksOf(resumeId!);
        const usd = failed.reduce((sum, t) => {
          const r = t.request as { model: 'flex' | 'max' | 'pro'; width?: number; height?: number; referenceHashes?: string[] };
          const size = { width: r.width ?? 1024, height: r.height ?? 1024 };
          return sum + (priceOf(t.provider, { ...r, references: (r.referenceHashes ?? []).map(() => ({ asset: size })) }) ?? 0);
        }, 0);
        process.stderr.write(`Retrying ${failed.length} failed provider call${failed.length === 1 ? '' : 's'} of run ${resumeId}: about $${usd.toFixed(4)}\n`);
      }

      let budgetUsd: number | undefined;
      if (values.budget !== undefined) {
        budgetUsd = Number(values.budget);
        if (!Number.isFinite(budgetUsd) || budgetUsd < 0) return fail(`--budget ${values.budget}: expected an amount in USD, e.g. --budget 2.50`);
        const from = seedsFrom ?? resumeId;
        const estimate = await priceRun(pipeline, pre, cli, host, { store, runId, noCache, ...(from ? { seedsFrom: from } : {}) });
        if (estimate.totalUsd > budgetUsd + 1e-9) {
          return fail(`the estimate is ${formatUsd(toMicros(estimate.totalUsd), true)}, over the budget of ${formatUsd(toMicros(budgetUsd))}; nothing was submitted\n${formatEstimate(estimate)}`);
        }
      }

      const concurrency = { ...stored.concurrency, ...parseConcurrency(values.concurrency ?? [], host.providers.ids()) };
      let taskTimeoutMs: number | undefined;
      if (values.timeout !== undefined) {
        const sec = Number(values.timeout);
        if (!Number.isFinite(sec) || sec <= 0) return fail(`--timeout ${values.timeout}: expected seconds greater than 0`);
        taskTimeoutMs = sec * 1000;
      }
      const outDir = pre.outDir ?? resolve(values.out ?? stored.outDir ?? 'out');
      const resubmit = resumeId && values['resubmit-ambiguous'] ? await confirmResubmit(ledger, resumeId, values.yes === true, budgetUsd) : false;
      if (typeof resubmit === 'number') return resubmit;
      // Tasks of the embedded emulator die with the process that started it: remaking them is free.
      // A resumed batch leaves its failed rows failed, unless --retry-failed says otherwise.
      const keepFailed = Boolean(resumeId && (stored.batch ?? batch) && !retryFailed);
      // FLUXGRAPH_TOKEN: the run is this person's, and their spending caps hold it.
      const who = await identityFromEnv(cli.env, ledger.access);
      const owner = who ? { person: who.person, ...(who.team ? { team: who.team } : {}) } : undefined;
      const hooks = ledger.hooks(runId, {
        ...(owner ? { owner } : {}),
        cache: !noCache,
        reattach: !host.embedded,
        ...(seedsFrom ? { seedsFrom } : {}),
        ...(resubmit ? { resubmitAmbiguous: true } : {}),
        ...(keepFailed ? { keepFailed } : {}),
      });
      const { inputs } = pre;
      ledger.startRun({
        runId,
        ...(owner ? { owner } : {}),
        pipeline: doc,
        ...(file ? { pipelinePath: file } : {}),
        options: {
          variables,
          ...(provider ? { provider } : {}),
          concurrency,
          outDir,
          baseDir,
          ...(only ? { only } : {}),
          ...(inputs ? { inputs: inputs.path, ...(inputs.range ? { rows: inputs.range } : {}) } : {}),
          ...(batch ? { batch } : {}),
          ...(noCache ? { noCache } : {}),
          ...(host.embedded ? { emulator: true } : {}),
        },
      });
      const manifest = batch ? new ResultsManifest(join(outDir, runId, 'results.csv'), [...pre.batch!.sources.values()].flatMap((src) => src.columns), host.redact) : undefined;

      const { redact } = host;
      const json = values.json === true || !process.stdout.isTTY;
      const resumeLine = `Resume with: npx fluxgraph run --resume ${runId}`;
      if (!json) process.stderr.write(`Run ${runId}${resumeId ? ' (resumed)' : ''}: if it is interrupted, continue it with: npx fluxgraph run --resume ${runId}\n`);
      // Where the money goes, before any of it is spent (in JSON mode too: stderr is for people).
      for (const line of providerLines(pre.providersUsed, host, pre.providerNote)) process.stderr.write(redact(line) + '\n');
      const terminal = json ? undefined : new TerminalProgress(process.stdout, redact);
      const controller = new AbortController();
      let finished = false;
      let interrupts = 0;
      // Ctrl-C and SIGTERM: no new submits, the ones on the wire recorded, then the summary.
      const onSignal = () => {
        interrupts++;
        if (interrupts > 1) {
          ledger.markRun(runId, 'interrupted');
          process.stderr.write(`\nStopped at once; submits still on the wire are ambiguous.\n${resumeLine}\n`);
          process.exit(EXIT.interrupted);
        }
        process.stderr.write(`\nInterrupted: no new submissions, stopping polls, writing what is done (Ctrl-C again to quit at once).\n`);
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // Piped output closed (`| head`): stop as for Ctrl-C, and the run reads as interrupted.
      let pipeClosed = false;
      const stopListening = onOutputClosed((stream) => {
        if (stream !== 'stdout' || pipeClosed) return;
        pipeClosed = true;
        controller.abort();
      });
      try {
        const summary = await runPipeline(pipeline, {
          registry: cli.registry,
          providers: host.providers,
          store,
          baseDir,
          outDir,
          runId,
          signal: controller.signal,
          variables,
          ...(provider ? { provider } : {}),
          concurrency,
          ...(taskTimeoutMs ? { taskTimeoutMs } : {}),
          tasks: hooks,
          // Other processes on this ledger (the editor, another terminal) share each account's cap.
          ...(host.embedded ? {} : { slots: ledger.slots }),
          priceOf,
          references: createReferenceDelivery({ env: cli.env, host, store, ledger }),
          ...(budgetUsd !== undefined ? { budgetUsd } : {}),
          ...(only ? { only } : {}),
          checked: pre.checked,
          ...(inputs ? { inputs } : {}),
          download: runDownloader(pre.host, { allowPrivateUrls: pre.allowPrivateUrls, trustedOrigins: host.trustedOrigins }),
          onEvent: (e) => {
            manifest?.onEvent(e);
            if (json) write('stdout', redact(JSON.stringify(e)) + '\n');
            else terminal!.onEvent(e);
          },
        });
        await manifest?.close();
        applyMoney(summary, ledger.finishRun({ ...summary, status: pipeClosed ? 'interrupted' : summary.status }));
        finished = true;
        if (pipeClosed) {
          process.stderr.write(`Output closed (nothing reads stdout any more): run ${runId} stopped as if interrupted; what was done is recorded.\n${resumeLine}\n`);
          return EXIT.interrupted;
        }
        const ambiguous = ledger.ambiguousOf(runId);
        const stopped = summary.status === 'cancelled';
        if (!json) {
          write('stdout', redact(formatSummary(summary, outDir) + formatAmbiguous(runId, ambiguous)) + '\n');
          if (manifest) write('stdout', `Results: ${manifest.path}\n`);
          if (stopped) write('stdout', resumeLine + '\n');
        } else {
          if (ambiguous.length) process.stderr.write(formatAmbiguous(runId, ambiguous).trimStart() + '\n');
          if (stopped) process.stderr.write(resumeLine + '\n');
        }
        if (stopped) return EXIT.interrupted;
        return summary.status === 'done' && ambiguous.length === 0 ? EXIT.ok : EXIT.failed;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        stopListening();
        if (!finished) {
          ledger.markRun(runId, 'interrupted');
          await manifest?.close();
        }
      }
    }),
  );
}
