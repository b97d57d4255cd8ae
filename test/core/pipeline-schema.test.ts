import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../engine/core/pipeline-schema';
import { renderJsonSchema, SCHEMA_PATH } from '../../scripts/write-json-schema';

describe('pipeline schema', () => {
  it('has a checked-in JSON Schema that matches the zod schema (run npm run schema after a change)', () => {
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(renderJsonSchema());
  });

  it('refuses unknown fields instead of dropping them silently', () => {
    const r = pipelineSchema.safeParse({ version: 1, nodes: [{ id: 'a', type: 'prompt', params: {}, colour: 'red' }], edges: [] });
    expect(r.success).toBe(false);
  });

  it('fills document defaults: empty params and edges', () => {
    expect(pipelineSchema.parse({ version: 1, nodes: [{ id: 'a', type: 'prompt' }] })).toEqual({ version: 1, nodes: [{ id: 'a', type: 'prompt', params: {} }], edges: [] });
  });
});
