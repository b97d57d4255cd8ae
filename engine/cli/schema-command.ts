/** `fluxgraph schema`: the pipeline JSON Schema with every node type's params, from the registry. */
import { parseArgs } from 'node:util';
import { pipelineJsonSchema } from '../core/pipeline-schema';
import { createRegistry } from '../../nodes/index';
import { EXIT } from './exit';

export function commandSchema(argv: string[]): number {
  parseArgs({ args: argv, options: {}, strict: true, allowPositionals: false });
  process.stdout.write(JSON.stringify(pipelineJsonSchema(createRegistry()), null, 2) + '\n');
  return EXIT.ok;
}
