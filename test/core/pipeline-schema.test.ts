import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { describe, expect, it } from 'vitest';
import { pipelineJsonSchema, pipelineSchema } from '../../engine/core/pipeline-schema';
import { createRegistry } from '../../nodes/index';
import { renderJsonSchema, SCHEMA_PATH } from '../../scripts/write-json-schema';

const EXAMPLES = join(__dirname, '..', '..', 'examples');
const published = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
const validate = new Ajv2020({ allErrors: true, strict: false }).compile(published);
const doc = (node: Record<string, unknown>) => ({ version: 1, nodes: [{ id: 'n', ...node }], edges: [] });

describe('pipeline schema', () => {
  it('has a checked-in JSON Schema that matches the zod schema and the node declarations (run npm run schema after a change)', () => {
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

describe('the published JSON Schema', () => {
  it('has one branch per registered node type, keyed by a constant type, with that type’s params', () => {
    const branches = (pipelineJsonSchema(createRegistry()) as { properties: { nodes: { items: { oneOf: { properties: { type: { const: string }; params: { properties: Record<string, unknown> } } }[] } } } })
      .properties.nodes.items.oneOf;
    expect(branches.map((b) => b.properties.type.const)).toEqual(createRegistry().types());
    const flex = branches.find((b) => b.properties.type.const === 'flux-flex-generate')!;
    expect(flex.properties.params.properties.steps).toMatchObject({ type: 'integer', minimum: 1, maximum: 50, default: 50 });
    expect(flex.properties.params.properties.outputFormat).toMatchObject({ enum: ['jpeg', 'png', 'webp'] });
  });

  it.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.json')))('accepts the example %s', (file) => {
    const ok = validate(JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it.each([
    ['an unknown node type', doc({ type: 'flux-ultra', params: {} })],
    ['a param out of range', doc({ type: 'flux-flex-generate', params: { steps: 80 } })],
    ['an unknown param', doc({ type: 'flux-flex-generate', params: { stpes: 8 } })],
    ['a value outside an enum', doc({ type: 'flux-flex-generate', params: { outputFormat: 'gif' } })],
    ['a missing required param', doc({ type: 'prompt', params: {} })],
    ['another node type’s param', doc({ type: 'flux-pro-generate', params: { steps: 8 } })],
  ])('refuses %s, as the CLI does', (_, pipeline) => {
    expect(validate(pipeline)).toBe(false);
  });

  it('accepts a node without a canvas position', () => {
    expect(validate(doc({ type: 'prompt', params: { text: 'a fox' } }))).toBe(true);
  });
});
