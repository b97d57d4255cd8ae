import { createHash } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import { unsafeNameReason } from '../engine/core/safe-name';
import { EngineError } from '../engine/core/errors';
import type { ImageAsset } from '../engine/core/ports';
import { createExclusive, isFullDisk } from '../engine/store/exclusive-file';
import { embedProvenanceJson, serializeProvenance } from '../engine/store/provenance';
import type { RowTag } from '../engine/core/rows';

const PLACEHOLDERS = ['run', 'node', 'index', 'seed', 'source', 'row'] as const;
const EXT: Record<ImageAsset['mime'], string> = { 'image/jpeg': '.jpg', 'image/png': '.png', 'image/webp': '.webp' };
const FIELD = /^field:([^{}]+)$/;

/** Problems with a file-name template, or undefined when it is fine. */
export function templateProblem(template: string): string | undefined {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1]) && !FIELD.test(m[1])) {
      return `unknown placeholder {${m[1]}} (allowed: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}, {field:NAME})`;
    }
  }
  if (isAbsolute(template) || /^[A-Za-z]:/.test(template)) return 'must be a path inside the output folder, not an absolute path';
  if (template.split(/[\\/]/).some((part) => part === '..')) return 'must not contain ".." (no path may escape the output folder)';
  if (!template.includes('{index}') && !template.includes('{seed}')) return 'must contain {index} or {seed}, or several images would share one name';
  return undefined;
}

/** `{field:NAME}` names a template uses (checked against the batch's columns in the pre-flight). */
export function templateFields(template: string): string[] {
  return [...template.matchAll(/\{field:([^{}]+)\}/g)].map((m) => m[1]);
}

/** A value made safe as part of a file name: no separators, no leading dots, not too long. */
function sanitise(value: string): string {
  const safe = value.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^\.+/, '_').slice(0, 80);
  return safe || '_';
}

/**
 * The file name for one image. In a batch, a template without {row} writes under `row-{row}/`
 * (after a leading `{run}/`), so rows never overwrite each other.
 */
export function fileName(template: string, values: Record<(typeof PLACEHOLDERS)[number], string>, row?: RowTag): string {
  let t = template;
  if (row && !t.includes('{row}')) t = t.startsWith('{run}/') ? `{run}/row-{row}/${t.slice('{run}/'.length)}` : `row-{row}/${t}`;
  return t.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const field = FIELD.exec(name);
    if (field) return sanitise(row?.fields[field[1]] ?? '');
    return sanitise(values[name as keyof typeof values]);
  });
}

/** Longest value each placeholder can render to (a run id, an index, a seed). */
const WIDEST = { run: 'YYYYMMDD-HHMMSS-xxxxxx', index: '999999', seed: '2147483647', row: '999999' };
/**
 * Problems of the names a template renders to (each folder and the file), with node ids of the
 * given length: reserved device names, control characters, overlong names.
 */
export function renderedNameProblem(template: string, nodeId: string, longestNodeId: number): string | undefined {
  const widest = { ...WIDEST, node: nodeId, source: 'x'.repeat(Math.max(1, longestNodeId)) };
  const segments = template.split(/[\\/]/);
  for (const [i, segment] of segments.entries()) {
    const rendered = segment.replace(/\{([a-z]+)\}/g, (_, name: keyof typeof widest) => widest[name] ?? '');
    const last = i === segments.length - 1;
    if (rendered === '' && !last) continue;
    // The limit leaves room for the "-N" and extension save-image adds.
    const reason = unsafeNameReason(rendered);
    if (reason) return `renders ${last ? 'a file' : 'a folder'} name that ${reason}: "${rendered.length > 60 ? rendered.slice(0, 57) + '...' : rendered}"`;
  }
  return undefined;
}

/** sha-256 of the file at `path`, or undefined when there is none. */
async function fileHash(path: string): Promise<string | undefined> {
  try {
    return createHash('sha256').update(await readFile(path)).digest('hex');
  } catch {
    return undefined;
  }
}

const sidecarOf = (path: string) => path.slice(0, -extname(path).length) + '.json';

interface RunShared {
  pipeline: unknown;
  /** `{"pipeline": …}` serialized once per run, not once per image. */
  pipelineJson: string;
  /** Creates each output folder once per run. */
  folder(dir: string): Promise<void>;
}

/** What every image of one run shares, keyed by the run's document object. */
const RUNS = new WeakMap<object, { seeds: unknown; shared: RunShared }>();

function perRun(ctx: { pipeline: { document: unknown; seeds: Record<string, number> } }): RunShared {
  const key = ctx.pipeline.document as object;
  const known = RUNS.get(key);
  if (known && known.seeds === ctx.pipeline.seeds) return known.shared;
  const pipeline = reproducibleDocument(ctx.pipeline.document, ctx.pipeline.seeds);
  const made = new Map<string, Promise<unknown>>();
  const shared: RunShared = {
    pipeline,
    pipelineJson: serializeProvenance({ pipeline }),
    folder: async (dir) => {
      let p = made.get(dir);
      if (!p) made.set(dir, (p = mkdir(dir, { recursive: true })));
      await p.catch(async () => {
        made.delete(dir);
        await mkdir(dir, { recursive: true });
      });
    },
  };
  RUNS.set(key, { seeds: ctx.pipeline.seeds, shared });
  return shared;
}

interface DocNode {
  id: string;
  type: string;
  params: Record<string, unknown>;
}

/**
 * The document with every seed the run drew written into the nodes that left `seed` unset, so
 * opening it (from the image or the sidecar) reproduces this run.
 */
export function reproducibleDocument(document: unknown, seeds: Record<string, number>): unknown {
  const doc = document as { nodes?: DocNode[] };
  return {
    ...doc,
    nodes: (doc.nodes ?? []).map((n) => (n.params.seed === undefined && seeds[n.id] !== undefined ? { ...n, params: { ...n.params, seed: seeds[n.id] } } : n)),
  };
}

/** Writes each image to the output folder with a JSON provenance sidecar beside it. */
export const saveImage = defineNode({
  type: 'save-image',
  title: 'Save image',
  description: 'Writes each image into the output folder (file-name template with {run}, {node}, {index}, {seed}, {source}, and in a batch {row} and {field:NAME}) with a JSON sidecar.',
  version: 1,
  category: 'output',
  inputs: { images: { kind: 'image', required: true, multiple: true } },
  outputs: {},
  params: z.strictObject({
    template: z.string().min(1).default('{run}/{node}-{index}').describe('File name inside the output folder, without extension; {source} is the id of the node that made the image; in a batch {row} is the row (from 1) and {field:NAME} its column NAME, and a template without {row} writes under row-{row}/'),
  }),
  eachItemOf: 'images',
  rowFields: (params) => templateFields(params.template),
  fileNamePattern: (params, nodeId) => params.template.replace(/\{node\}/g, nodeId),
  check(params, env) {
    const problem = templateProblem(params.template) ?? renderedNameProblem(params.template, env.nodeId, env.longestNodeId);
    return problem ? [{ code: 'invalid_param', param: 'template', message: `param "template" ${problem}` }] : [];
  },
  async run({ inputs, params, ctx }) {
    const image = inputs.images[0];
    const problem = templateProblem(params.template);
    if (problem) throw new EngineError('invalid_param', `param "template" ${problem}`, { param: 'template' });
    const name = fileName(
      params.template,
      {
        run: ctx.runId,
        node: ctx.nodeId,
        index: String(ctx.inputItem ?? 0),
        seed: image.meta?.seed !== undefined ? String(image.meta.seed) : 'noseed',
        source: image.meta?.nodeId ?? 'input',
        row: String(ctx.row?.n ?? 0),
      },
      ctx.row,
    );
    const outDir = resolve(ctx.outDir);
    const ext = EXT[image.mime];
    const first = resolve(outDir, name + ext);
    const rel = relative(outDir, first);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new EngineError('invalid_param', `file name "${name}" escapes the output folder`, { param: 'template' });
    const run = perRun(ctx);
    const item = ctx.inputItem ?? 0;
    const json = serializeProvenance(
      { pipeline: run.pipeline, runId: ctx.runId, nodeId: image.meta?.nodeId ?? ctx.nodeId, item, ...(image.meta?.seed !== undefined ? { seed: image.meta.seed } : {}) },
      run.pipelineJson,
    );
    const bytes = embedProvenanceJson(await ctx.store.read(image.hash), image.mime, json);
    const fileSha256 = createHash('sha256').update(bytes).digest('hex');

    // A resume keeps what this run already wrote for this item (the ledger knows), instead of a second copy.
    for (const prior of (await ctx.savedFiles?.()) ?? []) {
      if (prior.imageHash === image.hash && (await fileHash(prior.path)) === prior.fileSha256) {
        await ctx.fileWritten(prior.path, sidecarOf(prior.path));
        return {};
      }
    }
    const source = (run.pipeline as { nodes: DocNode[] }).nodes.find((n) => n.id === image.meta?.nodeId);
    const sidecarText = (path: string) =>
      JSON.stringify(
        {
          pipeline: ctx.pipeline.name ?? null,
          runId: ctx.runId,
          savedBy: ctx.nodeId,
          node: image.meta?.nodeId ?? null,
          nodeType: source?.type ?? null,
          params: source?.params ?? null,
          item,
          /** The batch row that made this image (numbered from 1), with its fields. */
          row: ctx.row ? { n: ctx.row.n, fields: ctx.row.fields } : null,
          file: relative(outDir, path),
          image: { sha256: image.hash, mime: image.mime, width: image.width, height: image.height },
          /** The written file differs from the generated image by its embedded provenance. */
          fileSha256,
          seed: image.meta?.seed ?? null,
          provider: image.meta?.provider ?? null,
          model: image.meta?.model ?? null,
          taskId: image.meta?.taskId ?? null,
          costUsd: image.meta?.costUsd ?? null,
          /** True when the provider reported no cost and `costUsd` is the pricing table's figure. */
          costEstimated: image.meta?.costEstimated === true,
          prompt: image.meta?.prompt ?? null,
          sourceImages: image.meta?.sourceHashes ?? [],
          /** How each reference reached a URL-only provider: route and host, never a signed URL. */
          referenceDelivery: image.meta?.referenceDelivery ?? [],
          warnings: image.meta?.warnings ?? [],
          createdAt: new Date().toISOString(),
        },
        null,
        2,
      ) + '\n';

    // Claim the first free name: the template's, then -1, -2, ... Never overwrite anything.
    let path = first;
    try {
      await run.folder(dirname(first));
      for (let n = 1; ; n++) {
        const sidecar = sidecarOf(path);
        if ((await fileHash(path)) === fileSha256) {
          // Exactly this file is already there (the same run, node, item and image): keep it.
          await createExclusive(sidecar, sidecarText(path));
          break;
        }
        if (await createExclusive(path, bytes)) {
          if (await createExclusive(sidecar, sidecarText(path))) break;
          // The sidecar's name is taken by another file: give the name up, try the next.
          await unlink(path);
        }
        path = resolve(outDir, `${name}-${n}${ext}`);
      }
    } catch (e) {
      if (e instanceof EngineError) throw e;
      const err = e as NodeJS.ErrnoException;
      const why = isFullDisk(err) ? `the folder ${dirname(path)} is full or read-only (${err.code})` : err.message;
      throw new EngineError('io', `could not write ${path}: ${why}; the image is kept in the store (${image.hash.slice(0, 12)}), resume the run to save it`, { resumable: true });
    }
    await ctx.fileWritten(path, sidecarOf(path), { path, imageHash: image.hash, fileSha256 });
    return {};
  },
});
