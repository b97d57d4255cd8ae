/**
 * `fluxgraph run`, `validate` and `estimate`: load the pipeline (or a stored run to resume),
 * validate it against the providers, then run it with the ledger, or price it.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EngineError } from '../core/errors';
import type { Pipeline } from '../core/pipeline-schema';
import { newRunId, runPipeline } from '../core/run-pipeline';
import { validatePipeline, type ValidationIssue } from '../core/validate';
import { createProviders } from '../host/create-providers';
import { loadEnv } from '../host/env';
import { estimatePipeline, type Estimate } from '../host/estimate';
import { priceOf } from '../providers/pricing';
import { FileArtifactStore } from '../store/artifacts';
import { Ledger, type StoredRunOptions } from '../store/ledger';
import { createRegistry } from '../../nodes/index';
import { applySets, parseConcurrency } from './args';
import { EXIT, fail } from './exit';
import { USAGE } from './usage';
import { formatSummary, TerminalProgress } from './progress';
import { redactor } from '../host/redact';

const options = {
  out: { type: 'string' },
  provider: { type: 'string' },
  set: { type: 'string', multiple: true },
  concurrency: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  'cache-dir': { type: 'string' },
  json: { type: 'boolean' },
  resume: { type: 'string' },
  'no-cache': { type: 'boolean' },
  only: { type: 'string', multiple: true },
  budget: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function readPipelineText(file: string, shown: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new EngineError('usage', `cannot read ${shown}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

function printIssues(issues: readonly ValidationIssue[], file: string): void {
  for (const i of issues) {
    const where = i.line ? `${file}:${i.line}:${i.column}: ` : `${file}: `;
    process.stderr.write(`${where}${i.severity}: ${i.message} [${i.code}]\n`);
  }
}

export function cacheDirOf(flag: string | undefined, env: Record<string, string | undefined>): string {
  return resolve(flag ?? env.FLUXGRAPH_CACHE_DIR ?? '.fluxgraph');
}

function formatEstimate(e: Estimate): string {
  const lines = e.nodes.map(
    (n) => `  ${n.nodeId.padEnd(16)} ${String(n.calls).padStart(4)} call${n.calls === 1 ? ' ' : 's'}${n.cached ? `, ${n.cached} cached` : ''}  $${n.usd.toFixed(4)}${n.unpriced ? ` (+${n.unpriced} unpriced)` : ''}  [${n.providers.join(', ') || 'cache'}]`,
  );
  lines.push(`  total: $${e.totalUsd.toFixed(4)} for ${e.calls} provider call${e.calls === 1 ? '' : 's'}${e.cached ? ` (${e.cached} more served from cache at $0)` : ''}`);
  for (const w of e.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

export async function commandRun(command: 'run' | 'validate' | 'estimate', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return EXIT.ok;
  }
  const runOnly = command === 'validate' ? (['out', 'concurrency', 'timeout', 'resume', 'no-cache', 'only', 'budget'] as const) : command === 'estimate' ? (['out', 'concurrency', 'timeout', 'resume', 'budget'] as const) : [];
  const misplaced = runOnly.find((flag) => values[flag] !== undefined);
  if (misplaced) return fail(`--${misplaced} is an option of fluxgraph run, not of ${command}`);
  const resumeId = command === 'run' ? values.resume : undefined;
  if (positionals.length > 1 || (positionals.length === 0 && !resumeId)) {
    return fail(`${command} needs one pipeline file, e.g. fluxgraph ${command} examples/draft-then-refine.json${command === 'run' ? ' (or --resume <run id>)' : ''}`);
  }
  const env = loadEnv(process.cwd());
  const registry = createRegistry();
  const cacheDir = cacheDirOf(values['cache-dir'], env);
  const wantsLedger = command !== 'validate';
  const ledger = wantsLedger ? Ledger.open(resolve(cacheDir, 'ledger.sqlite')) : undefined;
  try {
    let doc: Pipeline;
    let variables: Record<string, string>;
    let file: string | undefined;
    let shown: string;
    let stored: StoredRunOptions = {};
    if (resumeId) {
      // These would change the requests, and so abandon the tasks the run already paid for.
      for (const flag of ['provider', 'only', 'set'] as const) {
        if (values[flag] !== undefined) {
          return fail(`--resume ${resumeId}: --${flag} cannot change a run being resumed (it would abandon the tasks it already paid for); start a new run instead`);
        }
      }
      const run = ledger!.getRun(resumeId);
      if (!run) return fail(`--resume ${resumeId}: no such run in ${cacheDir} (fluxgraph runs lists them)`);
      stored = run.options;
      doc = run.pipeline;
      variables = stored.variables ?? {};
      file = run.pipelinePath ?? undefined;
      shown = file ?? resumeId;
      if (positionals[0]) {
        const text = await readPipelineText(resolve(positionals[0]), positionals[0]);
        const given = validatePipeline(text, { registry });
        const now = given.pipeline && applySets(given.pipeline, values.set ?? []);
        if (!now || JSON.stringify(now.doc) !== JSON.stringify(doc)) {
          return fail(`--resume ${resumeId}: ${positionals[0]} differs from the pipeline that run started with; a resume runs the stored pipeline, so leave out the file (or start a new run)`);
        }
      }
    } else {
      file = resolve(positionals[0]);
      shown = positionals[0];
      const first = validatePipeline(await readPipelineText(file, shown), { registry });
      if (!first.pipeline) {
        printIssues(first.issues, shown);
        return EXIT.invalid;
      }
      ({ doc, variables } = applySets(first.pipeline, values.set ?? []));
    }

    const host = await createProviders({ env, onNotice: (line) => (command === 'validate' ? undefined : process.stderr.write(line + '\n')) });
    const redact = redactor(() => host.secrets);
    try {
      const provider = values.provider ?? stored.provider;
      if (provider && !host.providers.get(provider)) return fail(`--provider ${provider}: unknown provider (known: ${host.providers.ids().join(', ')})`);
      const baseDir = stored.baseDir ?? (file ? dirname(file) : process.cwd());
      const only = values.only?.length ? values.only : stored.only;
      const unknownOnly = (only ?? []).filter((id) => !doc.nodes.some((n) => n.id === id));
      if (unknownOnly.length) return fail(`--only ${unknownOnly.join(', ')}: no such node (nodes: ${doc.nodes.map((n) => n.id).join(', ')})`);
      const checked = validatePipeline(doc, { registry, providers: host.providers, ...(provider ? { provider } : {}), variables, baseDir });
      if (command === 'validate') {
        if (values.json) process.stdout.write(JSON.stringify({ ok: checked.ok, issues: checked.issues }) + '\n');
        else {
          printIssues(checked.issues, shown);
          if (checked.ok) process.stdout.write(`${shown}: valid (${doc.nodes.length} nodes, ${doc.edges.length} edges)${checked.issues.length ? `, ${checked.issues.length} warning(s)` : ''}\n`);
        }
        return checked.ok ? EXIT.ok : EXIT.invalid;
      }
      if (!checked.ok) {
        printIssues(checked.issues, shown);
        return EXIT.invalid;
      }
      const pipeline = checked.pipeline!;
      const store = new FileArtifactStore(resolve(cacheDir, 'store'));
      const noCache = values['no-cache'] === true;
      const runId = resumeId ?? newRunId();
      const seedsFrom = only && !resumeId ? ledger!.latestRunOf({ ...(file ? { path: file } : {}), ...(pipeline.name ? { name: pipeline.name } : {}) }, runId)?.runId : undefined;

      let budgetUsd: number | undefined;
      if (values.budget !== undefined) {
        budgetUsd = Number(values.budget);
        if (!Number.isFinite(budgetUsd) || budgetUsd < 0) return fail(`--budget ${values.budget}: expected an amount in USD, e.g. --budget 2.50`);
      }
      if (command === 'estimate' || budgetUsd !== undefined) {
        const estimate = await estimatePipeline(pipeline, {
          registry,
          providers: host.providers,
          store,
          ...(noCache ? {} : { tasks: ledger!.hooks(runId) }),
          ...(seedsFrom || resumeId ? { seeds: ledger!.nodeSeedsOf((seedsFrom ?? resumeId)!) } : {}),
          baseDir,
          variables,
          ...(provider ? { provider } : {}),
          ...(only ? { only } : {}),
        });
        if (command === 'estimate') {
          process.stdout.write(values.json ? JSON.stringify(estimate) + '\n' : `Estimated cost of ${shown}:\n${formatEstimate(estimate)}\n`);
          return EXIT.ok;
        }
        if (estimate.totalUsd > budgetUsd! + 1e-9) {
          return fail(`the estimate is $${estimate.totalUsd.toFixed(4)}, over the budget of $${budgetUsd!.toFixed(2)}; nothing was submitted\n${formatEstimate(estimate)}`);
        }
      }

      const concurrency = { ...stored.concurrency, ...parseConcurrency(values.concurrency ?? [], host.providers.ids()) };
      let taskTimeoutMs: number | undefined;
      if (values.timeout !== undefined) {
        const sec = Number(values.timeout);
        if (!Number.isFinite(sec) || sec <= 0) return fail(`--timeout ${values.timeout}: expected seconds greater than 0`);
        taskTimeoutMs = sec * 1000;
      }
      const outDir = resolve(values.out ?? stored.outDir ?? 'out');
      // Tasks of the embedded emulator die with the process that started it: remaking them is free.
      const hooks = ledger!.hooks(runId, { cache: !noCache, reattach: !host.embedded, ...(seedsFrom ? { seedsFrom } : {}) });
      ledger!.startRun({
        runId,
        pipeline: doc,
        ...(file ? { pipelinePath: file } : {}),
        options: { variables, ...(provider ? { provider } : {}), concurrency, outDir, baseDir, ...(only ? { only } : {}) },
      });

      const json = values.json === true || !process.stdout.isTTY;
      if (!json) process.stderr.write(`Run ${runId}${resumeId ? ' (resumed)' : ''}: if it is interrupted, continue it with: npx fluxgraph run --resume ${runId}\n`);
      const terminal = json ? undefined : new TerminalProgress(process.stdout, redact);
      const controller = new AbortController();
      let finished = false;
      let interrupts = 0;
      const onSignal = () => {
        interrupts++;
        if (interrupts > 1) process.exit(EXIT.interrupted);
        process.stderr.write(`\nInterrupted: no new submissions, stopping polls, writing what is done (Ctrl-C again to quit at once). Resume with: npx fluxgraph run --resume ${runId}\n`);
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const summary = await runPipeline(pipeline, {
          registry,
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
          priceOf,
          ...(budgetUsd !== undefined ? { budgetUsd } : {}),
          ...(only ? { only } : {}),
          onEvent: (e) => (json ? process.stdout.write(redact(JSON.stringify(e)) + '\n') : terminal!.onEvent(e)),
        });
        ledger!.finishRun(summary);
        finished = true;
        if (!json) process.stdout.write(redact(formatSummary(summary, outDir)) + '\n');
        if (summary.status === 'cancelled') return EXIT.interrupted;
        return summary.status === 'done' ? EXIT.ok : EXIT.failed;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (!finished) ledger!.markRun(runId, 'failed');
      }
    } finally {
      await host.close();
    }
  } finally {
    ledger?.close();
  }
}
