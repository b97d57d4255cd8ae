/**
 * Reading image files a pipeline names: regular files only, never more than the byte cap (a
 * size taken from one open file descriptor, so a file that grows meanwhile is cut off, not read
 * whole), and a header check that reads only the first bytes.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { EngineError } from './errors';
import { readImageInfo, type ImageInfo } from './image-info';

/** Largest image file read or downloaded (BFL and resellers quote 10–20 MB). */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
/** Enough for the JPEG, PNG or WebP header of nearly every file (large EXIF/ICC blocks come first in JPEG). */
const HEADER_BYTES = 256 * 1024;

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

function ioProblem(path: string, e: unknown): EngineError {
  const code = (e as { code?: string }).code;
  const why =
    code === 'ENOENT' ? 'file not found' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ELOOP' ? 'too many symbolic links' : code === 'ENOTDIR' ? 'a part of the path is not a folder' : (code ?? String(e));
  return new EngineError('invalid_input', `${path}: ${why}`, { param: 'source' }, { cause: e });
}

/** Reads up to `limit` bytes of a regular file; the whole file when `limit` is the cap. */
async function readCapped(path: string, limit: number | 'all', maxBytes: number): Promise<{ bytes: Buffer; size: number }> {
  let handle;
  try {
    // Non-blocking, so a FIFO named as an image cannot hang the pre-flight.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw ioProblem(path, e);
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) throw new EngineError('invalid_input', `${path} is a folder, not an image file`, { param: 'source' });
    if (!st.isFile()) throw new EngineError('invalid_input', `${path} is not a regular file (devices, pipes and sockets are not images)`, { param: 'source' });
    if (st.size === 0) throw new EngineError('invalid_input', `${path} is empty (0 bytes); a JPEG, PNG or WebP image is expected`, { param: 'source' });
    if (st.size > maxBytes) throw new EngineError('invalid_input', `${path} is ${mb(st.size)}; the limit is ${maxBytes / 1048576} MB`, { param: 'source' });
    const want = limit === 'all' ? st.size : Math.min(limit, st.size);
    const bytes = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(bytes, got, want - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { bytes: got === want ? bytes : bytes.subarray(0, got), size: st.size };
  } catch (e) {
    throw e instanceof EngineError ? e : ioProblem(path, e);
  } finally {
    await handle.close();
  }
}

/** What the first bytes say a file is, for messages: "a GIF", "text", ... */
function describeBytes(b: Buffer): string {
  if (b.toString('ascii', 0, 4) === 'GIF8') return 'a GIF image';
  if (b.toString('ascii', 0, 2) === 'BM') return 'a BMP image';
  if (b.toString('ascii', 4, 8) === 'ftyp') return 'a HEIC/AVIF or video file';
  if (b.toString('ascii', 0, 5) === '%PDF-') return 'a PDF document';
  if (b.readUInt32BE(0) === 0x49492a00 || b.readUInt32BE(0) === 0x4d4d002a) return 'a TIFF image';
  const sample = b.subarray(0, 512);
  // eslint-disable-next-line no-control-regex
  if (sample.length && !/[\u0000-\u0008\u000e-\u001f]/.test(sample.toString('latin1'))) return 'text';
  return 'not an image format fluxgraph knows';
}

export function notAnImage(shown: string, bytes: Buffer): EngineError {
  return new EngineError('invalid_input', `${shown} is ${describeBytes(bytes)}, not a JPEG, PNG or WebP image`, { param: 'source' });
}

/** Format and size from the header of a local image file: the pre-flight's check, no decoding. */
export async function readImageFileHeader(path: string, maxBytes = MAX_IMAGE_BYTES): Promise<ImageInfo & { bytes: number }> {
  let { bytes, size } = await readCapped(path, HEADER_BYTES, maxBytes);
  let info = readImageInfo(bytes);
  // A JPEG whose frame header sits behind large metadata blocks: read the rest (still capped).
  if (!info && bytes[0] === 0xff && bytes[1] === 0xd8 && size > bytes.length) {
    ({ bytes } = await readCapped(path, 'all', maxBytes));
    info = readImageInfo(bytes);
  }
  if (!info) throw notAnImage(path, bytes);
  if (!info.width || !info.height) throw new EngineError('invalid_input', `${path}: the ${info.mime.slice(6).toUpperCase()} header says the image is ${info.width}×${info.height}`, { param: 'source' });
  return { ...info, bytes: size };
}

/** The whole file, under the cap. */
export async function readImageFile(path: string, maxBytes = MAX_IMAGE_BYTES): Promise<Buffer> {
  return (await readCapped(path, 'all', maxBytes)).bytes;
}
