/**
 * The pipeline document, version 1 (design.md 1.3). The editor saves exactly this and the CLI
 * runs exactly this. Edges use React Flow's field names; a handle id is the port name.
 */
import { z } from 'zod';

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

/** JSON Schema of the document, for editors that validate pipeline files. */
export function pipelineJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(pipelineSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
