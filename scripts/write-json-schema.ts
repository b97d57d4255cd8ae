/**
 * Writes schema/pipeline.schema.json (npm run schema): the document schema with every built-in
 * node type's params, from the node declarations. A test checks the file is current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pipelineJsonSchema } from '../engine/core/pipeline-schema';
import { createRegistry } from '../nodes/index';

export const SCHEMA_PATH = fileURLToPath(new URL('../schema/pipeline.schema.json', import.meta.url));

export function renderJsonSchema(): string {
  return JSON.stringify(pipelineJsonSchema(createRegistry()), null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_PATH, renderJsonSchema());
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
}
