/** Writes schema/pipeline.schema.json from the zod schema (npm run schema); a test checks it is current. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pipelineJsonSchema } from '../engine/core/pipeline-schema';

export const SCHEMA_PATH = fileURLToPath(new URL('../schema/pipeline.schema.json', import.meta.url));

export function renderJsonSchema(): string {
  return JSON.stringify({ title: 'fluxgraph pipeline (version 1)', ...pipelineJsonSchema() }, null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_PATH, renderJsonSchema());
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
}
