/**
 * Serializable descriptors of node types, derived from their declarations: what the CLI's
 * `nodes` command prints and what the editor renders its generic node and params form from.
 */
import { z } from 'zod';
import type { AnyNodeDefinition } from './define-node';
import type { InputPort, OutputPort } from './ports';
import type { NodeRegistry } from './registry';

/** One field of a node's params form. */
export interface ParamDescriptor {
  name: string;
  type: 'integer' | 'number' | 'string' | 'boolean' | 'enum' | 'integer-list' | 'json';
  title?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  multipleOf?: number;
  enum?: (string | number)[];
  required: boolean;
  /** Multi-line text (prompts). */
  multiline?: boolean;
  /** The JSON Schema of this param, for anything the fields above do not say. */
  schema: Record<string, unknown>;
}

export interface NodeDescriptor {
  type: string;
  title: string;
  description: string;
  version: number;
  category: AnyNodeDefinition['category'];
  inputs: ({ name: string } & InputPort)[];
  outputs: ({ name: string } & OutputPort)[];
  params: ParamDescriptor[];
  eachItemOf?: string;
  usesProvider: boolean;
}

type JsonSchema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
};

function paramType(s: JsonSchema): ParamDescriptor['type'] {
  if (s.enum) return 'enum';
  if (s.const !== undefined) return 'enum';
  const variants = s.anyOf ?? s.oneOf;
  if (variants) {
    if (variants.every((v) => v.const !== undefined || v.enum)) return 'enum';
    if (variants.some((v) => v.type === 'array')) return 'integer-list';
    return 'json';
  }
  switch (s.type) {
    case 'integer':
      return 'integer';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    case 'array':
      return s.items?.type === 'integer' ? 'integer-list' : 'json';
    default:
      return 'json';
  }
}

function enumValues(s: JsonSchema): (string | number)[] | undefined {
  if (s.enum) return s.enum as (string | number)[];
  if (s.const !== undefined) return [s.const as string | number];
  const variants = s.anyOf ?? s.oneOf;
  if (variants && variants.every((v) => v.const !== undefined || v.enum)) {
    return variants.flatMap((v) => (v.enum as (string | number)[]) ?? [v.const as string | number]);
  }
  return undefined;
}

export function describeParams(schema: z.ZodType): ParamDescriptor[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, s]) => {
    const d: ParamDescriptor = {
      name,
      type: paramType(s),
      required: required.has(name) && s.default === undefined,
      schema: s,
    };
    if (typeof s.title === 'string') d.title = s.title;
    if (typeof s.description === 'string') d.description = s.description;
    if (s.default !== undefined) d.default = s.default;
    if (typeof s.minimum === 'number') d.minimum = s.minimum;
    if (typeof s.maximum === 'number') d.maximum = s.maximum;
    if (typeof s.multipleOf === 'number') d.multipleOf = s.multipleOf;
    const values = enumValues(s);
    if (values) d.enum = values;
    if (s.format === 'multiline' || name === 'text') d.multiline = true;
    return d;
  });
}

export function describeNode(def: AnyNodeDefinition): NodeDescriptor {
  return {
    type: def.type,
    title: def.title,
    description: def.description,
    version: def.version,
    category: def.category,
    inputs: Object.entries(def.inputs).map(([name, p]) => ({ name, ...p })),
    outputs: Object.entries(def.outputs).map(([name, p]) => ({ name, ...p })),
    params: describeParams(def.params),
    ...(def.eachItemOf ? { eachItemOf: def.eachItemOf } : {}),
    usesProvider: def.usesProvider === true,
  };
}

export function describeRegistry(registry: NodeRegistry): NodeDescriptor[] {
  return registry.all().map(describeNode);
}
