/**
 * The pipeline document, version 1 (design.md 1.3). The editor saves exactly this and the CLI
 * runs exactly this. Edges use React Flow's field names; a handle id is the port name.
 */
import { z } from 'zod';
import type { AnyNodeDefinition } from './define-node';
import type { NodeRegistry } from './registry';

const id = z.string().min(1).max(200).regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, "_", "-" and "." only');

export const nodeSchema = z.strictObject({
  /** Unique within the pipeline; used in file names, events and `--set id.param=value`. */
  id,
  /** A registered node type, e.g. flux-flex-generate. */
  type: z.string().min(1),
  /** Checked against the node type's params schema; defaults are applied at run time. */
  params: z.record(z.string(), z.unknown()).default({}),
  /** Canvas position, kept by the editor. */
  position: z.object({ x: z.number(), y: z.number() }).optional(),
});

export const edgeSchema = z.strictObject({
  id: z.string().optional(),
  source: z.string().min(1),
  sourceHandle: z.string().min(1),
  target: z.string().min(1),
  targetHandle: z.string().min(1),
});

export const settingsSchema = z.strictObject({
  /** Provider used by nodes that do not choose one: bfl, kie, novita or crun. */
  provider: z.string().optional(),
  /** Most active tasks per provider, e.g. { "bfl": 24 }. */
  concurrency: z.record(z.string(), z.number().int().min(1).max(1000)).optional(),
  /** Values for {name} placeholders in prompts; `--set name=value` overrides them. */
  variables: z.record(z.string(), z.string()).optional(),
  /** Allow reference URLs on loopback and private networks (off: only public addresses; `--allow-private-urls`). */
  allowPrivateUrls: z.boolean().optional(),
  /** Overall limit per provider task in seconds (default 600). */
  taskTimeoutSec: z.number().positive().max(86_400).optional(),
});

export const PIPELINE_VERSION = 1 as const;

export const pipelineSchema = z.strictObject({
  /** Lets editors find the JSON Schema; ignored by fluxgraph. */
  $schema: z.string().optional(),
  version: z.literal(PIPELINE_VERSION),
  name: z.string().optional(),
  settings: settingsSchema.optional(),
  nodes: z.array(nodeSchema),
  edges: z.array(edgeSchema).default([]),
});

export type Pipeline = z.infer<typeof pipelineSchema>;
export type PipelineInput = z.input<typeof pipelineSchema>;
export type PipelineNode = z.infer<typeof nodeSchema>;
export type PipelineEdge = z.infer<typeof edgeSchema>;
export type PipelineSettings = z.infer<typeof settingsSchema>;

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };

const toJsonSchema = (schema: z.ZodType): JsonSchema => z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;

/**
 * One node of `registry` as a JSON Schema branch: `type` fixed to the node type, `params` its
 * declared params schema (so editors complete param names, ranges, enums and defaults).
 */
function nodeBranch(def: AnyNodeDefinition, base: JsonSchema): JsonSchema {
  const { $schema: _drop, ...params } = toJsonSchema(def.params);
  const needsParams = (params.required?.length ?? 0) > 0;
  return {
    ...base,
    title: def.title,
    description: def.description,
    properties: { ...base.properties, type: { const: def.type, description: `${def.title}: ${def.description}` }, params },
    required: [...(base.required ?? []), ...(needsParams ? ['params'] : [])],
  };
}

/**
 * JSON Schema of the document, for editors that validate and complete pipeline files. With a
 * registry, `nodes` items are a `oneOf` keyed by `type` with each node type's params, derived
 * from the node declarations (nothing here is written by hand).
 */
export function pipelineJsonSchema(registry?: NodeRegistry): Record<string, unknown> {
  const doc = toJsonSchema(pipelineSchema);
  const nodes = doc.properties!.nodes as JsonSchema & { items: JsonSchema };
  if (registry) {
    const { $schema: _drop, ...base } = nodes.items;
    nodes.items = { oneOf: registry.all().map((def) => nodeBranch(def, base)) };
  }
  return { title: `fluxgraph pipeline (version ${PIPELINE_VERSION})`, ...doc };
}
