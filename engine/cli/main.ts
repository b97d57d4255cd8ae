/**
 * The `fluxgraph` command: routes to one command's module and turns engine results into exit
 * codes (0 done, 1 some items failed, 2 invalid pipeline or usage, 130 interrupted). Each
 * command's module (and with it zod, sharp, SQLite, the emulator) is imported only when that
 * command runs, so `--help` and `--version` load none of them.
 */
import { isEngineError } from '../core/errors';
import { EXIT, fail, failuresAsJson } from './exit';
import { guardOutput } from './output';
import { COMMAND_HELP, USAGE, wantsHelp } from './usage';

const COMMANDS = ['run', 'validate', 'estimate', 'runs', 'prune', 'nodes', 'schema', 'emulator', 'serve', 'worker', 'queue', 'token', 'cap'];

async function dispatch(command: string, rest: string[]): Promise<number> {
  switch (command) {
    case 'run':
      return (await import('./run-command')).commandRun(rest);
    case 'validate':
      return (await import('./validate-command')).commandValidate(rest);
    case 'estimate':
      return (await import('./estimate-command')).commandEstimate(rest);
    case 'runs':
      return (await import('./runs-command')).commandRuns(rest);
    case 'prune':
      return (await import('./runs-command')).commandPrune(rest);
    case 'nodes':
      return (await import('./nodes-command')).commandNodes(rest);
    case 'schema':
      return (await import('./schema-command')).commandSchema(rest);
    case 'emulator':
      return (await import('./emulator-command')).runEmulatorCommand(rest);
    case 'serve':
      return (await import('./serve-command')).runServeCommand(rest);
    case 'token':
      return (await import('./access-commands')).commandToken(rest);
    case 'cap':
      return (await import('./access-commands')).commandCap(rest);
    case 'worker':
      return (await import('./worker-command')).runWorkerCommand(rest);
    case 'queue':
      return (await import('./queue-command')).commandQueue(rest);
    default:
      return fail(`unknown command "${command}" (commands: ${COMMANDS.join(', ')})\n\n${USAGE}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  // `fluxgraph ... | head`: a closed pipe is never a stack trace.
  guardOutput();
  const [command, ...rest] = argv;
  // Commands that take --json answer their failures in JSON too.
  failuresAsJson(['run', 'validate', 'estimate', 'runs', 'nodes', 'queue'].includes(command ?? '') && rest.includes('--json'));
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return command === undefined ? EXIT.invalid : EXIT.ok;
      case '--version':
      case '-v': {
        const { packageVersion } = await import('../host/package-root');
        process.stdout.write(packageVersion() + '\n');
        return EXIT.ok;
      }
    }
    // serve and emulator print their own option lists.
    if (Object.hasOwn(COMMAND_HELP, command) && wantsHelp(rest)) {
      process.stdout.write(COMMAND_HELP[command] + '\n');
      return EXIT.ok;
    }
    return await dispatch(command, rest);
  } catch (e) {
    if (isEngineError(e)) return fail(e.message, e.code);
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return fail((e as Error).message);
    // Never a stack trace: one line, and the way to see more.
    const detail = e instanceof Error ? `${e.message}${code ? ` (${code})` : ''}` : String(e);
    if (process.env.FLUXGRAPH_DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    return fail(`unexpected error: ${detail}; this is a bug in fluxgraph (set FLUXGRAPH_DEBUG=1 for the stack trace)`, 'internal');
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
