/**
 * The `fluxgraph` command: a composition root that builds the registry, providers, store and
 * ledger, and turns engine results into exit codes (0 done, 1 some items failed, 2 invalid
 * pipeline or usage, 130 interrupted).
 */
import { isEngineError } from '../core/errors';
import { pipelineJsonSchema } from '../core/pipeline-schema';
import { createRegistry } from '../../nodes/index';
import { EXIT, fail } from './exit';
import { USAGE } from './usage';
import { printNodes } from './nodes-command';
import { commandEstimate } from './estimate-command';
import { commandRun } from './run-command';
import { commandPrune, commandRuns } from './runs-command';
import { commandValidate } from './validate-command';



export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await commandRun(rest);
      case 'validate':
        return await commandValidate(rest);
      case 'estimate':
        return await commandEstimate(rest);
      case 'runs':
        return await commandRuns(rest);
      case 'prune':
        return await commandPrune(rest);
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
        return fail(`unknown command "${command}" (commands: run, validate, estimate, runs, prune, nodes, schema, emulator, serve)\n\n${USAGE}`);
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
