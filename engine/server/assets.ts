/**
 * Reference images from the browser: written as files into an `assets/` folder beside the
 * document (inside --base-dir), so the saved pipeline names a file the CLI finds. The name is
 * sanitised, an existing file is never replaced (a free name is taken instead), the size is
 * bounded and the bytes must be a JPEG, PNG or WebP image.
 */
import { open } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import { dirname, extname, join, relative, sep } from 'node:path';
import sharp from 'sharp';
import { MAX_REFERENCE_BYTES, MAX_REFERENCE_SIDE } from '../../nodes/reference-image';
import type { AssetResponse, DocumentSource } from '../../editor/api/types';
import type { DocumentFolders } from './documents';
import { HttpError } from './http-util';
import { sniffMime } from './images';

const EXTENSIONS: Record<string, string> = { 'image/png': '.png', 'image/jpeg': '.jpg', 'image/webp': '.webp' };

/** "My Photo (1).JPEG" → "my-photo-1.jpg": letters, digits, "-" and "_", the extension the bytes have. */
export function sanitiseAssetName(name: string, mime: string): string {
  const ext = EXTENSIONS[mime];
  const base = name
    .replace(/^.*[\\/]/, '')
    .replace(/\.[^.]*$/, '')
    .normalize('NFKD')
    .replace(/[^\w-]+/g, '-')
    .replace(/^[-_.]+|[-_.]+$/g, '')
    .toLowerCase()
    .slice(0, 80);
  return `${base || 'image'}${ext}`;
}

export async function saveAsset(documents: DocumentFolders, bytes: Buffer, name: string, source: DocumentSource | undefined): Promise<AssetResponse> {
  if (bytes.length === 0) throw new HttpError(400, 'invalid_body', 'send the image bytes');
  if (bytes.length > MAX_REFERENCE_BYTES) throw new HttpError(413, 'payload_too_large', `the image is ${(bytes.length / 1048576).toFixed(1)} MB; reference images are limited to ${MAX_REFERENCE_BYTES / 1048576} MB`);
  const mime = sniffMime(bytes.subarray(0, 16));
  if (!mime) throw new HttpError(415, 'not_an_image', `${name || 'the file'} is not a JPEG, PNG or WebP image`);
  let meta;
  try {
    meta = await sharp(bytes).metadata();
  } catch {
    throw new HttpError(415, 'not_an_image', `${name || 'the file'} could not be read as an image`);
  }
  if (!meta.width || !meta.height) throw new HttpError(415, 'not_an_image', `${name || 'the file'} has no size`);
  if (Math.max(meta.width, meta.height) > MAX_REFERENCE_SIDE) {
    throw new HttpError(422, 'image_too_large', `the image is ${meta.width}×${meta.height}; reference images may have sides up to ${MAX_REFERENCE_SIDE} px`);
  }
  // Beside the opened file; for a template or a document with no file, in the base folder.
  const docFolder = source?.kind === 'file' ? dirname(await documents.inside(source.path, 'document')) : documents.baseDir;
  const folder = join(docFolder, 'assets');
  await documents.inside(documents.relativeName(folder) || '.', 'assets folder');
  await mkdir(folder, { recursive: true });
  const fileName = sanitiseAssetName(name, mime);
  const ext = extname(fileName);
  const stem = fileName.slice(0, -ext.length);
  for (let n = 1; n < 1000; n++) {
    const candidate = join(folder, n === 1 ? fileName : `${stem}-${n}${ext}`);
    let handle;
    try {
      // "wx": fails if the file exists, so two uploads can never replace one another.
      handle = await open(candidate, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    try {
      await handle.writeFile(bytes);
    } finally {
      await handle.close();
    }
    const fromDoc = relative(docFolder, candidate).split(sep).join('/');
    return {
      // What the reference-image node's source becomes: relative to the document's folder.
      source: source?.kind === 'template' ? candidate : fromDoc,
      path: documents.relativeName(candidate),
      width: meta.width,
      height: meta.height,
      bytes: bytes.length,
    };
  }
  throw new HttpError(409, 'file_exists', `no free file name for ${fileName} in ${documents.relativeName(folder)}`);
}
