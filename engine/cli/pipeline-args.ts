/** The flags of `run`, `validate` and `estimate`, parsed once, and the ones only `run` takes. */
import { parseArgs } from 'node:util';
import { EXIT, fail } from './exit';
import { COMMAND_HELP } from './usage';

export type PipelineCommand = 'run' | 'validate' | 'estimate';

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
  'resubmit-ambiguous': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  inputs: { type: 'string' },
  rows: { type: 'string' },
  'retry-failed': { type: 'boolean' },
  'allow-private-urls': { type: 'boolean' },
  queue: { type: 'boolean' },
  detach: { type: 'boolean' },
  priority: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const RUN_ONLY = {
  run: [],
  validate: ['concurrency', 'timeout', 'resume', 'no-cache', 'only', 'budget', 'resubmit-ambiguous', 'yes', 'retry-failed', 'queue', 'detach', 'priority'],
  estimate: ['concurrency', 'timeout', 'resume', 'budget', 'resubmit-ambiguous', 'yes', 'retry-failed', 'queue', 'detach', 'priority'],
} as const;

function parse(argv: string[]) {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
}

export type PipelineFlags = ReturnType<typeof parse>['values'];

export interface PipelineArgs {
  command: PipelineCommand;
  values: PipelineFlags;
  positionals: string[];
  /** `run --resume <id>`: the stored run to continue. */
  resumeId?: string;
}

/** The parsed arguments, or the exit code when there is nothing to run (`--help`, a usage error). */
export function parsePipelineArgs(command: PipelineCommand, argv: string[]): PipelineArgs | number {
  const { values, positionals } = parse(argv);
  if (values.help) {
    process.stdout.write(COMMAND_HELP[command] + '\n');
    return EXIT.ok;
  }
  const misplaced = RUN_ONLY[command].find((flag) => values[flag] !== undefined);
  if (misplaced) return fail(`--${misplaced} is an option of fluxgraph run, not of ${command}`);
  const resumeId = command === 'run' ? values.resume : undefined;
  if (values['resubmit-ambiguous'] && !resumeId) return fail('--resubmit-ambiguous sends the ambiguous submits of a run again: use it with --resume <run id>');
  if (resumeId && positionals.length) {
    return fail(`--resume ${resumeId} runs the pipeline stored with that run: leave out "${positionals[0]}" (to run that file, start a new run without --resume)`);
  }
  if (positionals.length > 1 || (positionals.length === 0 && !resumeId)) {
    return fail(`${command} needs one pipeline file, e.g. fluxgraph ${command} examples/draft-then-refine.json${command === 'run' ? ' (or --resume <run id>)' : ''}`);
  }
  return { command, values, positionals, ...(resumeId ? { resumeId } : {}) };
}
