/**
 * The `fluxgraph` command: a composition root that builds the registry, providers and store,
 * and turns engine results into exit codes (0 done, 1 some items failed, 2 invalid pipeline or
 * usage, 130 interrupted).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeRegistry } from '../core/describe';
import { EngineError, isEngineError } from '../core/errors';
import { pipelineJsonSchema } from '../core/pipeline-schema';
import { runPipeline } from '../core/run-pipeline';
import { validatePipeline, type ValidationIssue } from '../core/validate';
import { createProviders } from '../host/create-providers';
import { loadEnv } from '../host/env';
import { FileArtifactStore } from '../store/artifacts';
import { createRegistry } from '../../nodes/index';
import { applySets, parseConcurrency } from './args';
import { formatSummary, TerminalProgress } from './progress';
import { redactor } from './redact';
import { printNodes } from './nodes-command';

const USAGE = `fluxgraph: node-based pipelines for FLUX.2 image generation

Usage:
  fluxgraph run <pipeline.json> [--out DIR] [--provider NAME] [--set node.param=value | name=value]...
                [--concurrency provider=N]... [--timeout SEC] [--cache-dir DIR] [--json]
  fluxgraph validate <pipeline.json> [--provider NAME] [--set ...] [--json]
  fluxgraph nodes [--json]
  fluxgraph schema                      print the pipeline JSON Schema
  fluxgraph emulator [--port N] [...]   serve the local provider emulator (--help for flags)
  fluxgraph serve [--port N] [--open]   the editor on http://127.0.0.1

Providers: bfl, kie, novita, crun. Keys come from BFL_API_KEY, KIE_API_KEY, NOVITA_API_KEY,
CRUN_API_KEY (environment or ./.env). With no key set, runs use the embedded emulator.
Exit codes: 0 done, 1 some items failed, 2 invalid pipeline or usage, 130 interrupted.`;

const EXIT = { ok: 0, failed: 1, invalid: 2, interrupted: 130 } as const;

function fail(message: string): number {
  process.stderr.write(`fluxgraph: ${message}\n`);
  return EXIT.invalid;
}

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

const runOptions = {
  out: { type: 'string' },
  provider: { type: 'string' },
  set: { type: 'string', multiple: true },
  concurrency: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  'cache-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function commandRunOrValidate(command: 'run' | 'validate', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: runOptions, allowPositionals: true, strict: true });
  if (values.help) return (process.stdout.write(USAGE + '\n'), EXIT.ok);
  if (positionals.length !== 1) return fail(`${command} needs one pipeline file, e.g. fluxgraph ${command} examples/draft-then-refine.json`);
  const file = resolve(positionals[0]);
  const registry = createRegistry();
  const text = await readPipelineText(file, positionals[0]);

  // Structure first, so a broken file is reported without starting any provider.
  const first = validatePipeline(text, { registry });
  if (!first.pipeline) {
    printIssues(first.issues, positionals[0]);
    return EXIT.invalid;
  }
  const { doc, variables } = applySets(first.pipeline, values.set ?? []);
  const env = loadEnv(process.cwd());
  const notices: string[] = [];
  const host = await createProviders({ env, onNotice: (line) => (command === 'run' ? process.stderr.write(line + '\n') : notices.push(line)) });
  const redact = redactor(host.secrets);
  try {
    const baseDir = dirname(file);
    const checked = validatePipeline(doc, { registry, providers: host.providers, ...(values.provider ? { provider: values.provider } : {}), variables, baseDir });
    if (values.provider && !host.providers.get(values.provider)) {
      return fail(`--provider ${values.provider}: unknown provider (known: ${host.providers.ids().join(', ')})`);
    }
    if (command === 'validate') {
      if (values.json) process.stdout.write(JSON.stringify({ ok: checked.ok, issues: checked.issues }) + '\n');
      else {
        printIssues(checked.issues, positionals[0]);
        if (checked.ok) process.stdout.write(`${positionals[0]}: valid (${doc.nodes.length} nodes, ${doc.edges.length} edges)${checked.issues.length ? `, ${checked.issues.length} warning(s)` : ''}\n`);
      }
      return checked.ok ? EXIT.ok : EXIT.invalid;
    }
    if (!checked.ok) {
      printIssues(checked.issues, positionals[0]);
      return EXIT.invalid;
    }
    const concurrency = parseConcurrency(values.concurrency ?? [], host.providers.ids());
    let taskTimeoutMs: number | undefined;
    if (values.timeout !== undefined) {
      const sec = Number(values.timeout);
      if (!Number.isFinite(sec) || sec <= 0) return fail(`--timeout ${values.timeout}: expected seconds greater than 0`);
      taskTimeoutMs = sec * 1000;
    }
    const outDir = resolve(values.out ?? 'out');
    const store = new FileArtifactStore(resolve(values['cache-dir'] ?? env.FLUXGRAPH_CACHE_DIR ?? '.fluxgraph', 'store'));

    const json = values.json === true || !process.stdout.isTTY;
    const terminal = json ? undefined : new TerminalProgress(process.stdout, redact);
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts > 1) process.exit(EXIT.interrupted);
      process.stderr.write('\nInterrupted: no new submissions, stopping polls, writing what is done (Ctrl-C again to quit at once)\n');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      const summary = await runPipeline(checked.pipeline!, {
        registry,
        providers: host.providers,
        store,
        baseDir,
        outDir,
        signal: controller.signal,
        variables,
        ...(values.provider ? { provider: values.provider } : {}),
        concurrency,
        ...(taskTimeoutMs ? { taskTimeoutMs } : {}),
        onEvent: (e) => (json ? process.stdout.write(redact(JSON.stringify(e)) + '\n') : terminal!.onEvent(e)),
      });
      if (!json) process.stdout.write(redact(formatSummary(summary, outDir)) + '\n');
      if (summary.status === 'cancelled') return EXIT.interrupted;
      return summary.status === 'done' ? EXIT.ok : EXIT.failed;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    }
  } finally {
    await host.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
      case 'validate':
        return await commandRunOrValidate(command, rest);
      case 'nodes':
        return printNodes(createRegistry(), rest.includes('--json'));
      case 'schema':
        process.stdout.write(JSON.stringify(pipelineJsonSchema(), null, 2) + '\n');
        return EXIT.ok;
      case 'emulator': {
        const { runEmulatorCommand } = await import('./emulator-command');
        return await runEmulatorCommand(rest);
      }
      case 'serve': {
        const { runServeCommand } = await import('./serve-command');
        return await runServeCommand(rest);
      }
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return command === undefined ? EXIT.invalid : EXIT.ok;
      default:
        return fail(`unknown command "${command}" (commands: run, validate, nodes, schema, emulator, serve)\n\n${USAGE}`);
    }
  } catch (e) {
    if (isEngineError(e)) return fail(e.message);
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return fail((e as Error).message);
    throw e;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
