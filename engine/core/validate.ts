/**
 * Validation of a pipeline document against the node registry (and, when given, the providers'
 * capabilities). Reports every problem at once; each issue names the node and the port or param.
 */
import { z } from 'zod';
import type { AnyNodeDefinition } from './define-node';
import { describeParams, type ParamDescriptor } from './describe';
import { nodeLabel, type ErrorCode } from './errors';
import { findCycles } from './graph';
import { nullPrototype, parseJsonText } from './parse-text';
import { unsafeNameReason } from './safe-name';
import { arrivingIndices, staticItems, type StaticNode } from './static-items';
import { edgeSchema, nodeSchema, pipelineSchema, settingsSchema, type Pipeline } from './pipeline-schema';
import type { ProviderSet } from './provider';
import type { NodeRegistry } from './registry';

export interface ValidationIssue {
  code: ErrorCode;
  severity: 'error' | 'warning';
  message: string;
  nodeId?: string;
  port?: string;
  param?: string;
  edgeIndex?: number;
  line?: number;
  column?: number;
  /** Line of a batch's rows file (CSV, JSONL, text) the issue is about; the message names the file. */
  rowLine?: number;
}

export interface ValidationResult {
  ok: boolean;
  /** The parsed document (defaults applied to the document shape, not to node params). */
  pipeline?: Pipeline;
  issues: ValidationIssue[];
}

export interface ValidateOptions {
  registry: NodeRegistry;
  /** When given, provider choice and capabilities are checked too. */
  providers?: ProviderSet;
  /** Run-level provider (`--provider`). */
  provider?: string;
  /** Placeholder values from the command line, on top of settings.variables. */
  variables?: Record<string, string>;
  /** Names of the variables given with `--set name=value`: one that no prompt uses is reported. */
  setVariables?: readonly string[];
  baseDir?: string;
}

const paramInfoCache = new WeakMap<AnyNodeDefinition, Map<string, ParamDescriptor>>();
function paramInfo(def: AnyNodeDefinition): Map<string, ParamDescriptor> {
  let info = paramInfoCache.get(def);
  if (!info) {
    info = new Map(describeParams(def.params).map((p) => [p.name, p]));
    paramInfoCache.set(def, info);
  }
  return info;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const s = JSON.stringify(value);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function rangeText(p: ParamDescriptor | undefined): string | undefined {
  if (!p) return undefined;
  if (p.minimum !== undefined && p.maximum !== undefined) return `between ${p.minimum} and ${p.maximum}`;
  if (p.minimum !== undefined) return `at least ${p.minimum}`;
  if (p.maximum !== undefined) return `at most ${p.maximum}`;
  return undefined;
}

/** Turns one zod issue about a node's params into a sentence naming the param and what is allowed. */
function describeParamIssue(issue: z.core.$ZodIssue, def: AnyNodeDefinition, params: Record<string, unknown>): { param?: string; text: string } {
  const param = issue.path.length ? String(issue.path[0]) : undefined;
  const info = param ? paramInfo(def).get(param) : undefined;
  const got = param !== undefined ? params[param] : undefined;
  const subject = param ? `param "${issue.path.join('.')}"` : 'params';
  switch (issue.code) {
    case 'too_big':
    case 'too_small': {
      const range = issue.path.length === 1 ? rangeText(info) : undefined;
      const bound = issue.code === 'too_big' ? `at most ${String(issue.maximum)}` : `at least ${String(issue.minimum)}`;
      if (issue.origin === 'array') return { param, text: `${subject} must have ${bound} items, got ${Array.isArray(got) ? got.length : show(got)}` };
      if (issue.origin === 'string') return { param, text: `${subject} must be ${bound} characters long` };
      return { param, text: `${subject} must be ${range ?? bound}, got ${show(got)}` };
    }
    case 'not_multiple_of':
      return { param, text: `${subject} must be a multiple of ${String(issue.divisor)}, got ${show(got)}` };
    case 'invalid_type': {
      if (got === undefined && param) return { param, text: `${subject} is required (${issue.expected})` };
      const expected = issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`;
      return { param, text: `${subject} must be ${expected}, got ${show(got)}` };
    }
    case 'invalid_value':
      return { param, text: `${subject} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(got)}` };
    case 'unrecognized_keys': {
      const allowed = [...paramInfo(def).keys()].join(', ');
      return { param: issue.keys[0], text: `unknown param${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (allowed: ${allowed})` };
    }
    case 'invalid_union':
      return { param, text: `${subject} ${info?.description ? `must be ${info.description}` : 'has an invalid value'}, got ${show(got)}` };
    default:
      return { param, text: param ? `${subject}: ${issue.message}` : issue.message };
  }
}

function documentIssue(issue: z.core.$ZodIssue, raw: unknown): ValidationIssue {
  const path = issue.path;
  let nodeId: string | undefined;
  if (path[0] === 'nodes' && typeof path[1] === 'number') {
    const node = (raw as { nodes?: { id?: unknown }[] }).nodes?.[path[1]];
    if (node && typeof node.id === 'string') nodeId = node.id;
  }
  const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  const text =
    issue.code === 'unrecognized_keys'
      ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${allowedFields(path) ? ` (allowed: ${allowedFields(path)})` : ''}`
      : issue.message;
  const issueOut: ValidationIssue = {
    code: 'invalid_document',
    severity: 'error',
    message: `${where || 'document'}: ${text}${issue.code === 'invalid_value' && path[0] === 'version' ? ' (this fluxgraph reads pipeline version 1)' : ''}`,
  };
  if (nodeId) issueOut.nodeId = nodeId;
  if (path[0] === 'edges' && typeof path[1] === 'number') issueOut.edgeIndex = path[1];
  return issueOut;
}

/** The fields an object at this document path may have, for "unknown field" messages. */
function allowedFields(path: readonly PropertyKey[]): string | undefined {
  const shape =
    path.length === 0
      ? pipelineSchema.shape
      : path.length === 1 && path[0] === 'settings'
        ? settingsSchema.shape
        : path.length === 2 && path[0] === 'nodes'
          ? nodeSchema.shape
          : path.length === 2 && path[0] === 'edges'
            ? edgeSchema.shape
            : undefined;
  return shape ? Object.keys(shape).join(', ') : undefined;
}

/** Paths of numbers JSON cannot carry (1e309 parses to Infinity). */
function nonFinitePaths(value: unknown, path = '', out: string[] = []): string[] {
  const todo: [unknown, string][] = [[value, path]];
  while (todo.length && out.length < 10) {
    const [v, p] = todo.pop()!;
    if (typeof v === 'number' && !Number.isFinite(v)) out.push(p || 'document');
    else if (Array.isArray(v)) v.forEach((x, i) => todo.push([x, `${p}[${i}]`]));
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) todo.push([(v as Record<string, unknown>)[k], p ? `${p}.${k}` : k]);
  }
  return out;
}

/**
 * The document's shape only (JSON syntax, then the pipeline schema), without checking its nodes:
 * for a host that applies overrides (`--set`) before the one full check.
 */
export function parsePipeline(input: unknown): ValidationResult {
  if (typeof input !== 'string') {
    const huge = nonFinitePaths(input);
    if (huge.length) return { ok: false, issues: huge.map((p) => ({ code: 'invalid_document', severity: 'error', message: `${p}: number too large` })) };
    // Null-prototype copies: "__proto__" in a document is a key like any other.
    input = nullPrototype(input);
  }
  if (typeof input === 'string') {
    const parsed = parseJsonText(input);
    if (parsed.issues.length) {
      return {
        ok: false,
        issues: parsed.issues.map((i) => ({
          code: 'invalid_json',
          severity: 'error',
          message: `malformed JSON at line ${i.line}, column ${i.column}: ${i.message}`,
          line: i.line,
          column: i.column,
        })),
      };
    }
    input = parsed.value;
  }
  const shape = pipelineSchema.safeParse(input);
  if (!shape.success) return { ok: false, issues: shape.error.issues.map((i) => documentIssue(i, input)) };
  // The params map drops "__proto__" (zod will not assign it); it names a param, so refuse it.
  const issues: ValidationIssue[] = [];
  for (const raw of (input as { nodes?: { id?: unknown; type?: unknown; params?: object }[] }).nodes ?? []) {
    if (raw?.params && Object.prototype.hasOwnProperty.call(raw.params, '__proto__')) {
      issues.push({ code: 'invalid_param', severity: 'error', message: `${nodeLabel(String(raw.id), String(raw.type))}: unknown param "__proto__"`, nodeId: String(raw.id), param: '__proto__' });
    }
  }
  return { ok: issues.length === 0, pipeline: shape.data, issues };
}

export function validatePipeline(input: unknown, options: ValidateOptions): ValidationResult {
  const parsed = parsePipeline(input);
  if (!parsed.pipeline) return parsed;
  const pipeline = parsed.pipeline;
  const issues = [...parsed.issues, ...checkPipeline(pipeline, options)];
  return { ok: !issues.some((i) => i.severity === 'error'), pipeline, issues };
}


function checkPipeline(pipeline: Pipeline, options: ValidateOptions): ValidationIssue[] {
  const { registry } = options;
  const issues: ValidationIssue[] = [];
  const error = (code: ErrorCode, message: string, at: Partial<ValidationIssue> = {}) =>
    issues.push({ code, severity: 'error', message, ...at });

  const variables = { ...pipeline.settings?.variables, ...options.variables };
  const byId = new Map<string, { type: string; def?: AnyNodeDefinition; params: Record<string, unknown>; parsed?: unknown }>();
  const longestNodeId = pipeline.nodes.reduce((m, n) => Math.max(m, Buffer.byteLength(n.id)), 0);
  const used = new Set<string>();
  for (const node of pipeline.nodes) {
    if (byId.has(node.id)) {
      error('duplicate_id', `node id "${node.id}" is used by more than one node; ids must be unique`, { nodeId: node.id });
      continue;
    }
    // Ids become file and folder names ({node} in save templates).
    const unsafe = unsafeNameReason(node.id);
    if (unsafe) error('unsafe_name', `node id "${node.id}" ${unsafe}; ids are used in file names`, { nodeId: node.id });
    const def = registry.get(node.type);
    byId.set(node.id, { type: node.type, def, params: node.params });
    if (!def) {
      error('unknown_node_type', `${nodeLabel(node.id)}: unknown node type "${node.type}" (known: ${registry.types().join(', ')})`, { nodeId: node.id });
      continue;
    }
    const parsed = def.params.safeParse(node.params);
    if (!parsed.success) {
      for (const zi of parsed.error.issues) {
        const { param, text } = describeParamIssue(zi, def, node.params);
        error('invalid_param', `${nodeLabel(node.id, node.type)}: ${text}`, { nodeId: node.id, ...(param ? { param } : {}) });
      }
      continue;
    }
    byId.get(node.id)!.parsed = parsed.data;
    for (const name of def.placeholders?.(parsed.data) ?? []) used.add(name);
    for (const ci of def.check?.(parsed.data, { variables, nodeId: node.id, longestNodeId, ...(options.baseDir !== undefined ? { baseDir: options.baseDir } : {}) }) ?? []) {
      issues.push({
        code: ci.code,
        severity: ci.severity ?? 'error',
        message: `${nodeLabel(node.id, node.type)}: ${ci.message}`,
        nodeId: node.id,
        ...(ci.param ? { param: ci.param } : {}),
      });
    }
    if (options.providers && def.providerRequest) checkProvider(pipeline, node.id, def, parsed.data, Object.keys(node.params), options, issues);
  }

  const incoming = new Map<string, number>();
  const validEdges: { source: string; target: string; targetHandle: string }[] = [];
  const seenEdges = new Map<string, number>();
  pipeline.edges.forEach((edge, edgeIndex) => {
    const src = byId.get(edge.source);
    const dst = byId.get(edge.target);
    const at = { edgeIndex };
    const edgeKey = [edge.source, edge.sourceHandle, edge.target, edge.targetHandle].join('\u0000');
    const first = seenEdges.get(edgeKey);
    if (first !== undefined) {
      // A second copy of a wire would send every item twice (and pay twice for what it feeds).
      error('duplicate_edge', `edge ${edge.source}.${edge.sourceHandle} → ${edge.target}.${edge.targetHandle} appears twice (edges ${first} and ${edgeIndex}); remove one`, {
        ...at,
        nodeId: edge.target,
        port: edge.targetHandle,
      });
      return;
    }
    seenEdges.set(edgeKey, edgeIndex);
    if (!src) error('unknown_node', `edge ${edge.source}.${edge.sourceHandle} → ${edge.target}.${edge.targetHandle}: source node "${edge.source}" does not exist`, { ...at, nodeId: edge.target });
    if (!dst) error('unknown_node', `edge ${edge.source}.${edge.sourceHandle} → ${edge.target}.${edge.targetHandle}: target node "${edge.target}" does not exist`, { ...at, nodeId: edge.source });
    if (!src?.def || !dst?.def) return;
    const out = src.def.outputs[edge.sourceHandle];
    const inp = dst.def.inputs[edge.targetHandle];
    if (!out) {
      error('unknown_port', `${nodeLabel(edge.source, src.type)} has no output port "${edge.sourceHandle}" (outputs: ${Object.keys(src.def.outputs).join(', ') || 'none'})`, { ...at, nodeId: edge.source, port: edge.sourceHandle });
    }
    if (!inp) {
      error('unknown_port', `${nodeLabel(edge.target, dst.type)} has no input port "${edge.targetHandle}" (inputs: ${Object.keys(dst.def.inputs).join(', ') || 'none'})`, { ...at, nodeId: edge.target, port: edge.targetHandle });
    }
    if (!out || !inp) return;
    if (out.kind !== inp.kind) {
      error(
        'incompatible_edge',
        `${nodeLabel(edge.target, dst.type)}: input "${edge.targetHandle}" takes ${inp.kind}, but ${edge.source}.${edge.sourceHandle} gives ${out.kind}`,
        { ...at, nodeId: edge.target, port: edge.targetHandle },
      );
      return;
    }
    if (out.list && !inp.multiple && !out.iterates) {
      error('incompatible_edge', `${nodeLabel(edge.target, dst.type)}: input "${edge.targetHandle}" takes one ${inp.kind}, but ${edge.source}.${edge.sourceHandle} gives a list`, {
        ...at,
        nodeId: edge.target,
        port: edge.targetHandle,
      });
      return;
    }
    const key = `${edge.target}\u0000${edge.targetHandle}`;
    const count = (incoming.get(key) ?? 0) + 1;
    incoming.set(key, count);
    if (!inp.multiple && count === 2) {
      error('too_many_edges', `${nodeLabel(edge.target, dst.type)}: input "${edge.targetHandle}" takes one connection, but has several`, { ...at, nodeId: edge.target, port: edge.targetHandle });
    }
    if (inp.max !== undefined && !out.list && count === inp.max + 1) {
      error('too_many_edges', `${nodeLabel(edge.target, dst.type)}: input "${edge.targetHandle}" takes at most ${inp.max} items`, { ...at, nodeId: edge.target, port: edge.targetHandle });
    }
    validEdges.push({ source: edge.source, target: edge.target, targetHandle: edge.targetHandle });
  });

  for (const [id, node] of byId) {
    if (!node.def) continue;
    for (const [port, spec] of Object.entries(node.def.inputs)) {
      if (spec.required && !incoming.has(`${id}\u0000${port}`)) {
        error('missing_input', `${nodeLabel(id, node.type)}: required input "${port}" (${spec.kind}) is not connected`, { nodeId: id, port });
      }
    }
  }

  const cycles = findCycles([...byId.keys()], validEdges);
  for (const cycle of cycles) {
    // A long cycle is named by its ends: each of its nodes gets this message.
    const shown = cycle.length <= 8 ? [...cycle, cycle[0]] : [...cycle.slice(0, 3), `… ${cycle.length - 5} more …`, ...cycle.slice(-2), cycle[0]];
    const path = shown.map((id) => (id.startsWith('… ') ? id : `"${id}"`)).join(' → ');
    for (const id of cycle) error('cycle', `node "${id}" is on a cycle: ${path}; pipelines must flow one way`, { nodeId: id });
  }
  if (!cycles.length) checkStaticItems(byId, validEdges, issues);
  checkFileNames(byId, validEdges, issues);
  checkSettings(pipeline, options, issues);
  for (const name of options.setVariables ?? []) {
    if (!used.has(name)) {
      const known = [...used];
      issues.push({
        code: 'unused_variable',
        severity: 'warning',
        message: `--set ${name}=...: no prompt uses {${name}}${known.length ? ` (placeholders in this pipeline: ${known.map((k) => `{${k}}`).join(', ')})` : ' (this pipeline has no placeholders)'}; to set a node's param, write --set node.param=value`,
      });
    }
  }
  return issues;
}

function groupByTarget<E extends { target: string }>(edges: readonly E[]): Map<string, E[]> {
  const out = new Map<string, E[]>();
  for (const e of edges) {
    const list = out.get(e.target);
    if (list) list.push(e);
    else out.set(e.target, [e]);
  }
  return out;
}

type CheckedNodes = Map<string, { type: string; def?: AnyNodeDefinition; params: Record<string, unknown>; parsed?: unknown }>;

/** Picks of indices that a node upstream will never produce, where the document fixes the count. */
function checkStaticItems(byId: CheckedNodes, edges: readonly { source: string; target: string; targetHandle: string }[], issues: ValidationIssue[]): void {
  const nodes = new Map<string, StaticNode>();
  for (const [id, n] of byId) if (n.def && n.parsed !== undefined) nodes.set(id, { id, def: n.def, params: n.parsed });
  // Downstream of an invalid node the counts are unknown: its error is the one to report, not a pick of what it would have made.
  const out = new Map<string, string[]>();
  for (const e of edges) {
    const list = out.get(e.source);
    if (list) list.push(e.target);
    else out.set(e.source, [e.target]);
  }
  const unknown = [...new Set(edges.map((e) => e.source))].filter((id) => !nodes.has(id));
  while (unknown.length) {
    for (const next of out.get(unknown.pop()!) ?? []) {
      if (nodes.delete(next)) unknown.push(next);
    }
  }
  const usable = edges.filter((e) => nodes.has(e.source) && nodes.has(e.target));
  const known = staticItems(nodes, usable);
  const into = groupByTarget(usable);
  for (const n of nodes.values()) {
    if (!n.def.afterItems || !n.def.eachItemOf) continue;
    const wires = into.get(n.id) ?? [];
    const arriving = arrivingIndices(n, wires, known);
    if (!arriving) continue;
    const upstream = wires.filter((w) => w.targetHandle === n.def.eachItemOf).map((w) => `"${w.source}"`).join(' + ');
    const problem = n.def.afterItems(n.params as never, arriving, upstream);
    if (problem) issues.push({ code: 'invalid_param', severity: 'error', message: `${nodeLabel(n.id, n.def.type)}: ${problem}`, nodeId: n.id, param: 'indices' });
  }
}

/** Two nodes writing the same file names would overwrite (or shadow) each other's images. */
function checkFileNames(byId: CheckedNodes, edges: readonly { source: string; target: string; targetHandle: string }[], issues: ValidationIssue[]): void {
  let intoSave: Map<string, { source: string; target: string; targetHandle: string }[]> | undefined;
  const byPattern = new Map<string, string[]>();
  for (const [id, n] of byId) {
    if (!n.def?.fileNamePattern || n.parsed === undefined) continue;
    const pattern = n.def.fileNamePattern(n.parsed as never, id);
    // Case-insensitive file systems (macOS, Windows) treat A.png and a.png as one file.
    const key = pattern.toLowerCase();
    byPattern.set(key, [...(byPattern.get(key) ?? []), id]);
    const wires = (intoSave ??= groupByTarget(edges)).get(id)?.filter((e) => e.targetHandle === n.def!.eachItemOf) ?? [];
    const sources = [...new Set(wires.map((w) => w.source))];
    if (!/\{index\}/.test(pattern) && !/\{source\}/.test(pattern) && sources.length > 1) {
      issues.push({
        code: 'file_name_clash',
        severity: 'error',
        message: `${nodeLabel(id, n.type)}: param "template" names files by {seed} only, but images from ${sources.map((s) => `"${s}"`).join(' and ')} can share a seed; add {index} or {source}`,
        nodeId: id,
        param: 'template',
      });
    }
  }
  for (const ids of byPattern.values()) {
    if (ids.length < 2) continue;
    for (const id of ids) {
      issues.push({
        code: 'file_name_clash',
        severity: 'error',
        message: `${nodeLabel(id, byId.get(id)!.type)}: param "template" writes the same file names as ${ids.filter((o) => o !== id).map((o) => `"${o}"`).join(', ')}; add {node} to the template (or make them differ)`,
        nodeId: id,
        param: 'template',
      });
    }
  }
}

function checkSettings(pipeline: Pipeline, options: ValidateOptions, issues: ValidationIssue[]): void {
  const providers = options.providers;
  if (!providers) return;
  for (const [id, cap] of Object.entries(pipeline.settings?.concurrency ?? {})) {
    const provider = providers.get(id);
    if (!provider) {
      issues.push({ code: 'unknown_provider', severity: 'error', message: `settings.concurrency.${id}: unknown provider "${id}" (known: ${providers.ids().join(', ')})`, param: `settings.concurrency.${id}` });
      continue;
    }
    const documented = provider.capabilities.documentedConcurrency;
    if (documented !== undefined && cap > documented) {
      issues.push({
        code: 'concurrency_above_limit',
        severity: 'warning',
        message: `settings.concurrency.${id}: ${cap} is above ${provider.title}'s documented limit of ${documented} active tasks per account; submits past it are refused with 429 and retried`,
        param: `settings.concurrency.${id}`,
      });
    }
  }
}

/** The provider each node that calls one will use: its own param, else the run's, the pipeline's, the default. */
export function providerOfNodes(pipeline: Pipeline, registry: NodeRegistry, providers: ProviderSet, runProvider?: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const node of pipeline.nodes) {
    const def = registry.get(node.type);
    if (!def?.providerRequest) continue;
    const parsed = def.params.safeParse(node.params);
    if (!parsed.success) continue;
    const plan = def.providerRequest(parsed.data, Object.keys(node.params));
    out.set(node.id, plan.provider ?? runProvider ?? pipeline.settings?.provider ?? providers.defaultId);
  }
  return out;
}

function checkProvider(
  pipeline: Pipeline,
  nodeId: string,
  def: AnyNodeDefinition,
  params: unknown,
  explicit: readonly string[],
  options: ValidateOptions,
  issues: ValidationIssue[],
): void {
  const providers = options.providers!;
  const plan = def.providerRequest!(params, explicit);
  const label = nodeLabel(nodeId, def.type);
  const providerId = plan.provider ?? options.provider ?? pipeline.settings?.provider ?? providers.defaultId;
  const provider = providers.get(providerId);
  const param = plan.provider ? 'provider' : undefined;
  if (!provider) {
    issues.push({ code: 'unknown_provider', severity: 'error', message: `${label}: unknown provider "${providerId}" (known: ${providers.ids().join(', ')})`, nodeId, ...(param ? { param } : {}) });
    return;
  }
  const caps = provider.capabilities;
  if (!caps.models.includes(plan.model)) {
    const having = providers.ids().filter((id) => providers.get(id)?.capabilities.models.includes(plan.model));
    issues.push({
      code: 'unsupported_model',
      severity: 'error',
      message: `${label}: provider "${providerId}" has no FLUX.2 [${plan.model}]${having.length ? `; providers that have it: ${having.join(', ')}` : ''}`,
      nodeId,
      param: 'provider',
    });
    return;
  }
  const honoured = new Set(caps.honours[plan.model] ?? []);
  for (const field of plan.setFields) {
    if (!honoured.has(field)) {
      issues.push({ code: 'unsupported_param', severity: 'warning', message: `${label}: provider "${providerId}" ignores "${field}" for FLUX.2 [${plan.model}]`, nodeId, param: field });
    }
  }
  if (plan.references !== undefined && plan.references > caps.maxReferences) {
    issues.push({
      code: 'unsupported_param',
      severity: 'error',
      message: `${label}: provider "${providerId}" takes at most ${caps.maxReferences} reference images, this node has ${plan.references}`,
      nodeId,
      port: 'references',
    });
  }
  if (plan.width !== undefined && plan.height !== undefined) {
    const mapped = caps.mapSize(plan.width, plan.height);
    if (mapped.width !== plan.width || mapped.height !== plan.height) {
      issues.push({
        code: 'size_adjusted',
        severity: 'warning',
        message: `${label}: provider "${providerId}" does not take ${plan.width}×${plan.height}; it will be sent as ${mapped.width}×${mapped.height}${mapped.note ? ` (${mapped.note})` : ''}`,
        nodeId,
        param: 'width',
      });
    }
  }
}
