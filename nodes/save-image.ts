import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import { EngineError } from '../engine/core/errors';
import type { ImageAsset } from '../engine/core/ports';
import { embedProvenance } from '../engine/store/provenance';

const PLACEHOLDERS = ['run', 'node', 'index', 'seed', 'source'] as const;
const EXT: Record<ImageAsset['mime'], string> = { 'image/jpeg': '.jpg', 'image/png': '.png', 'image/webp': '.webp' };

/** Problems with a file-name template, or undefined when it is fine. */
export function templateProblem(template: string): string | undefined {
  for (const m of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1])) return `unknown placeholder {${m[1]}} (allowed: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`;
  }
  if (isAbsolute(template) || /^[A-Za-z]:/.test(template)) return 'must be a path inside the output folder, not an absolute path';
  if (template.split(/[\\/]/).some((part) => part === '..')) return 'must not contain ".." (no path may escape the output folder)';
  if (!template.includes('{index}') && !template.includes('{seed}')) return 'must contain {index} or {seed}, or several images would share one name';
  return undefined;
}

function fill(template: string, values: Record<(typeof PLACEHOLDERS)[number], string>): string {
  return template.replace(/\{([a-z]+)\}/g, (_, name: keyof typeof values) => values[name].replace(/[^A-Za-z0-9_.-]/g, '_'));
}

async function sameBytes(path: string, bytes: Buffer): Promise<boolean | undefined> {
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  return (await readFile(path)).equals(bytes);
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
  description: 'Writes each image into the output folder (file-name template with {run}, {node}, {index}, {seed}, {source}) with a JSON sidecar.',
  version: 1,
  category: 'output',
  inputs: { images: { kind: 'image', required: true, multiple: true } },
  outputs: {},
  params: z.strictObject({
    template: z.string().min(1).default('{run}/{node}-{index}').describe('File name inside the output folder, without extension; {source} is the id of the node that made the image'),
  }),
  eachItemOf: 'images',
  check(params) {
    const problem = templateProblem(params.template);
    return problem ? [{ code: 'invalid_param', param: 'template', message: `param "template" ${problem}` }] : [];
  },
  async run({ inputs, params, ctx }) {
    const image = inputs.images[0];
    const problem = templateProblem(params.template);
    if (problem) throw new EngineError('invalid_param', `param "template" ${problem}`, { param: 'template' });
    const name = fill(params.template, {
      run: ctx.runId,
      node: ctx.nodeId,
      index: String(ctx.inputItem ?? 0),
      seed: image.meta?.seed !== undefined ? String(image.meta.seed) : 'noseed',
      source: image.meta?.nodeId ?? 'input',
    });
    const outDir = resolve(ctx.outDir);
    let path = resolve(outDir, name + EXT[image.mime]);
    const rel = relative(outDir, path);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new EngineError('invalid_param', `file name "${name}" escapes the output folder`, { param: 'template' });
    const pipeline = reproducibleDocument(ctx.pipeline.document, ctx.pipeline.seeds);
    const bytes = embedProvenance(await ctx.store.read(image.hash), image.mime, {
      pipeline,
      runId: ctx.runId,
      nodeId: image.meta?.nodeId ?? ctx.nodeId,
      item: ctx.inputItem ?? 0,
      ...(image.meta?.seed !== undefined ? { seed: image.meta.seed } : {}),
    });
    // Never overwrite an earlier, different image: add -1, -2, ... instead.
    for (let n = 1; (await sameBytes(path, bytes)) === false; n++) {
      path = resolve(outDir, `${name}-${n}${EXT[image.mime]}`);
    }
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
    const source = (pipeline as { nodes: DocNode[] }).nodes.find((n) => n.id === image.meta?.nodeId);
    const sidecar = path.slice(0, -extname(path).length) + '.json';
    const record = {
      pipeline: ctx.pipeline.name ?? null,
      runId: ctx.runId,
      savedBy: ctx.nodeId,
      node: image.meta?.nodeId ?? null,
      nodeType: source?.type ?? null,
      params: source?.params ?? null,
      item: ctx.inputItem ?? 0,
      file: relative(outDir, path),
      image: { sha256: image.hash, mime: image.mime, width: image.width, height: image.height },
      /** The written file differs from the generated image by its embedded provenance. */
      fileSha256: createHash('sha256').update(bytes).digest('hex'),
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
    };
    await writeFile(sidecar, JSON.stringify(record, null, 2) + '\n');
    ctx.fileWritten(path, sidecar);
    return {};
  },
});
