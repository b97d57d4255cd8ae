import { open, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { defineNode, type RowEnv, type RowSourceScan } from '../engine/core/define-node';
import { EngineError } from '../engine/core/errors';
import { readImageInfo } from '../engine/core/image-info';
import type { Row } from '../engine/core/rows';
import { listImages } from '../engine/batch/image-files';
import { MAX_REFERENCE_BYTES, MAX_REFERENCE_SIDE } from './reference-image';

const params = z.strictObject({
  path: z.string().min(1).describe('A folder (its .jpg, .jpeg, .png and .webp files) or a glob such as "photos/*.jpg", relative to the pipeline file'),
});

type Params = z.output<typeof params>;

/** Enough of a file for its size header; a JPEG with a large EXIF block is read further. */
async function header(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    for (const size of [64 * 1024, 1024 * 1024]) {
      const buf = Buffer.alloc(size);
      const { bytesRead } = await file.read(buf, 0, size, 0);
      const head = buf.subarray(0, bytesRead);
      if (readImageInfo(head) || bytesRead < size) return head;
    }
    return Buffer.alloc(0);
  } finally {
    await file.close();
  }
}

/** Why this file cannot be sent as an image, from its header alone; undefined when it can. */
async function headerProblem(path: string): Promise<string | undefined> {
  const size = (await stat(path)).size;
  if (size > MAX_REFERENCE_BYTES) return `is ${(size / 1048576).toFixed(1)} MB; the limit is ${MAX_REFERENCE_BYTES / 1048576} MB`;
  const info = readImageInfo(await header(path));
  if (!info) return 'is not a JPEG, PNG or WebP image';
  if (Math.max(info.width, info.height) > MAX_REFERENCE_SIDE) return `is ${info.width}×${info.height}; sides up to ${MAX_REFERENCE_SIDE} px are accepted`;
  return undefined;
}

function fieldsOf(file: string, baseDir: string): Record<string, string> {
  return { file: relative(baseDir, file).split('\\').join('/'), name: basename(file, extname(file)) };
}

async function scan(p: Params, env: RowEnv): Promise<RowSourceScan> {
  const baseDir = env.baseDir ?? process.cwd();
  const { files, problem } = await listImages(p.path, baseDir, env.confineTo);
  if (problem) return { count: 0, columns: ['file', 'name'], issues: [{ param: 'path', message: `param "path": ${problem}` }], preview: [] };
  const issues: RowSourceScan['issues'] = [];
  for (const file of files) {
    const why = await headerProblem(file).catch((e: Error) => `cannot be read: ${e.message}`);
    if (why && issues.length < 20) issues.push({ param: 'path', message: `${fieldsOf(file, baseDir).file} ${why}` });
  }
  return { count: files.length, columns: ['file', 'name'], issues, preview: files.slice(0, 3).map((f) => fieldsOf(f, baseDir).file) };
}

async function* rows(p: Params, env: RowEnv & { baseDir: string }): AsyncGenerator<Row> {
  const { files, problem } = await listImages(p.path, env.baseDir);
  if (problem) throw new EngineError('invalid_input', `param "path": ${problem}`, { param: 'path' });
  for (const [i, file] of files.entries()) yield { n: i + 1, line: 0, fields: fieldsOf(file, env.baseDir) };
}

/** The images of a folder or glob, in natural name order, each read and decoded only when its row is taken. */
export const imageFolder = defineNode({
  type: 'image-folder',
  title: 'Image folder',
  description:
    'A batch of images: the JPEG, PNG and WebP files of a folder or glob, in natural name order (img2 before img10). Each image is a row; nodes it feeds run once per image.',
  version: 1,
  category: 'input',
  inputs: {},
  outputs: {
    images: { kind: 'image', list: true, iterates: true, description: 'One image per row; into a single-valued input or as the only edge into references, the node runs once per image' },
  },
  params,
  rowSource: { scan, rows, paths: (p) => [{ param: 'path', path: p.path }] },
  async run({ params: p, ctx }) {
    const row = ctx.row;
    if (!row) throw new EngineError('internal', 'image-folder runs once per row, but got no row');
    const path = isAbsolute(row.fields.file) ? row.fields.file : resolve(ctx.baseDir, row.fields.file);
    const file = await ctx.readImageFile(path, MAX_REFERENCE_BYTES);
    const { bytes } = file;
    const info = readImageInfo(bytes);
    const why = !info ? 'is not a JPEG, PNG or WebP image' : Math.max(info.width, info.height) > MAX_REFERENCE_SIDE ? `is ${info.width}×${info.height}; sides up to ${MAX_REFERENCE_SIDE} px are accepted` : undefined;
    if (why) throw new EngineError('invalid_input', `${row.fields.file} ${why}`, { param: 'path' });
    if (file.standIn) return { images: await ctx.putImage(bytes, { source: row.fields.file }) };
    // Decoded in full now, just before its submit: a truncated file fails this row, not a paid call.
    // Loaded when needed, so `validate` (which never decodes) starts without the native library.
    const { default: sharp } = await import('sharp');
    try {
      await sharp(bytes, { failOn: 'truncated' }).raw().toBuffer();
    } catch (e) {
      throw new EngineError('invalid_input', `${row.fields.file} cannot be decoded: ${(e as Error).message}`, { param: 'path' });
    }
    const asset = await ctx.putImage(bytes, { source: row.fields.file });
    return { images: asset };
  },
});
