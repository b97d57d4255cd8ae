import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../engine/core/errors';
import {
  PROVENANCE_XMP_NS,
  crc32,
  embedProvenance,
  extractProvenance,
  type ProvenanceMime,
  type ProvenanceRecord,
} from '../../engine/store/provenance';

const ROOT = join(__dirname, '..', '..');
const example = JSON.parse(readFileSync(join(ROOT, 'examples', 'draft-then-refine.json'), 'utf8')) as Record<string, unknown>;

const small: ProvenanceRecord = { pipeline: example, runId: 'run-2024-001', nodeId: 'refine', item: 1, seed: 7 };

/** Deterministic words so the large document does not compress to almost nothing. */
function largeRecord(): ProvenanceRecord {
  let state = 12345;
  const rnd = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const words = ['lighthouse', 'dawn', 'fog', 'granite', 'cinematic', '35mm', 'Möwe', '灯台', 'brume', 'teal', 'amber', 'wave', 'rim light'];
  const prompt = () => Array.from({ length: 40 }, () => words[Math.floor(rnd() * words.length)]).join(' ');
  const nodes = Array.from({ length: 500 }, (_, i) => ({
    id: `node-${i}`,
    type: i % 2 ? 'flux-flex-generate' : 'prompt',
    params: { text: `${prompt()} #${i}`, seed: Math.floor(rnd() * 1e9), steps: 6 + (i % 20), guidance: 3.5 },
    position: { x: i * 40, y: (i % 7) * 90 },
  }));
  const edges = nodes.slice(1).map((n, i) => ({ source: nodes[i].id, sourceHandle: 'text', target: n.id, targetHandle: 'prompt' }));
  return { pipeline: { version: 1, name: 'five-hundred', nodes, edges }, runId: 'run-big', nodeId: 'node-499', item: 0, seed: 99 };
}

const large = largeRecord();

const unicode: ProvenanceRecord = {
  pipeline: {
    version: 1,
    nodes: [
      {
        id: 'idea',
        type: 'prompt',
        params: {
          text:
            'Leuchtturm im Morgengrauen 🌅 — phare à l’aube — 夜明けの灯台 — منارة عند الفجر — e\u0301 — ' +
            '</fluxgraph:record> & <b>bold</b> ]]> &amp; "quotes" \'apostrophes\' \\backslash\\ \t\n\r \u0000\u001f\u007f \uFFFE\uFFFF \ud800 𝄞',
        },
      },
    ],
    edges: [],
  },
  runId: 'ラン-1',
  seed: 4294967295,
};

/** A noisy picture, so identical pixels means something. */
async function picture(format: 'png' | 'jpeg' | 'webp', opts: { alpha?: boolean; lossless?: boolean } = {}): Promise<Buffer> {
  const width = 48;
  const height = 32;
  const channels = opts.alpha ? 4 : 3;
  const raw = Buffer.alloc(width * height * channels);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + ((i * i) >> 3)) & 0xff;
  const img = sharp(raw, { raw: { width, height, channels } });
  if (format === 'png') return img.png().toBuffer();
  if (format === 'jpeg') return img.jpeg({ quality: 80 }).toBuffer();
  return img.webp({ lossless: opts.lossless ?? false, quality: 80 }).toBuffer();
}

const pixels = (b: Buffer) => sharp(b).raw().toBuffer();

// Small independent container walkers, so tests do not trust the code under test.

function pngChunks(b: Buffer): { type: string; data: Buffer; crc: number; start: number; end: number }[] {
  const out = [];
  let i = 8;
  while (i < b.length) {
    const len = b.readUInt32BE(i);
    const type = b.toString('latin1', i + 4, i + 8);
    out.push({ type, data: b.subarray(i + 8, i + 8 + len), crc: b.readUInt32BE(i + 8 + len), start: i, end: i + 12 + len });
    i += 12 + len;
    if (type === 'IEND') break;
  }
  return out;
}

function jpegSegments(b: Buffer): { marker: number; payload: Buffer; start: number; end: number }[] {
  const out = [];
  let i = 2;
  while (b[i] === 0xff && b[i + 1] !== 0xda) {
    const len = b.readUInt16BE(i + 2);
    out.push({ marker: b[i + 1], payload: b.subarray(i + 4, i + 2 + len), start: i, end: i + 2 + len });
    i += 2 + len;
  }
  return out;
}

function riffChunks(b: Buffer): { fourcc: string; data: Buffer }[] {
  const out = [];
  let i = 12;
  while (i < b.length) {
    const size = b.readUInt32LE(i + 4);
    out.push({ fourcc: b.toString('latin1', i, i + 4), data: b.subarray(i + 8, i + 8 + size) });
    i += 8 + size + (size & 1);
  }
  return out;
}

const XMP_SIG = 'http://ns.adobe.com/xap/1.0/\0';
const EXT_SIG = 'http://ns.adobe.com/xmp/extension/\0';
const startsWith = (b: Buffer, s: string) => b.toString('latin1', 0, s.length) === s;
const ourItxt = (b: Buffer) => pngChunks(b).filter((c) => c.type === 'iTXt' && c.data.toString('latin1', 0, 10) === 'fluxgraph\0');
const xmpSegments = (b: Buffer) => jpegSegments(b).filter((s) => s.marker === 0xe1 && startsWith(s.payload, XMP_SIG));
const extSegments = (b: Buffer) => jpegSegments(b).filter((s) => s.marker === 0xe1 && startsWith(s.payload, EXT_SIG));

function pngWithChunkAfterIhdr(png: Buffer, type: string, data: Buffer): Buffer {
  const ihdr = pngChunks(png)[0];
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4), data), 0);
  return Buffer.concat([png.subarray(0, ihdr.end), head, data, crc, png.subarray(ihdr.end)]);
}

/** Recomputes the CRC of the chunk starting at `start` (to corrupt content while keeping the CRC right). */
function fixCrc(png: Buffer, start: number): void {
  const len = png.readUInt32BE(start);
  png.writeUInt32BE(crc32(png.subarray(start + 4, start + 8 + len)), start + 8 + len);
}

let png: Buffer;
let jpeg: Buffer;
let webpLossy: Buffer;
let webpLossless: Buffer;

beforeAll(async () => {
  [png, jpeg, webpLossy, webpLossless] = await Promise.all([picture('png'), picture('jpeg'), picture('webp'), picture('webp', { alpha: true, lossless: true })]);
});

describe('crc32', () => {
  it('computes the standard CRC-32 (check value of "123456789") and agrees with zlib where Node has it', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('1234'), Buffer.from('56789'))).toBe(0xcbf43926);
    const z = (zlib as { crc32?: (data: Buffer) => number }).crc32;
    const sample = Buffer.from(JSON.stringify(large));
    if (z) expect(crc32(sample)).toBe(z(sample));
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });
});

describe('PNG provenance', () => {
  it('round-trips a small record in an uncompressed iTXt chunk right after IHDR', () => {
    const tiny: ProvenanceRecord = { pipeline: { version: 1, nodes: [{ id: 'idea', type: 'prompt', params: { text: 'a fox' } }], edges: [] }, runId: 'r1', nodeId: 'idea', item: 0, seed: 3 };
    const out = embedProvenance(png, 'image/png', tiny);
    expect(extractProvenance(out)).toEqual(tiny);
    const chunks = pngChunks(out);
    expect(chunks[0].type).toBe('IHDR');
    expect(chunks[1].type).toBe('iTXt');
    const data = chunks[1].data;
    // keyword NUL, compression flag 0, method 0, empty language NUL, empty translated keyword NUL, text
    expect(data.subarray(0, 14)).toEqual(Buffer.from('fluxgraph\0\0\0\0\0', 'latin1'));
    expect(JSON.parse(data.subarray(14).toString('utf8'))).toEqual(tiny);
    for (const c of chunks) expect(c.crc).toBe(crc32(out.subarray(c.start + 4, c.end - 4)));
    expect(chunks.at(-1)?.type).toBe('IEND');
  });

  it('round-trips a 500-node pipeline over 200 KB as a deflated iTXt chunk with the compression flag set', () => {
    expect(JSON.stringify(large).length).toBeGreaterThan(200_000);
    const out = embedProvenance(png, 'image/png', large);
    expect(extractProvenance(out)).toEqual(large);
    const [chunk] = ourItxt(out);
    expect(chunk.data[10]).toBe(1); // compression flag
    expect(chunk.data[11]).toBe(0); // method: zlib deflate
    expect(JSON.parse(zlib.inflateSync(chunk.data.subarray(14)).toString('utf8'))).toEqual(large);
    expect(chunk.data.length).toBeLessThan(JSON.stringify(large).length);
  });

  it('leaves pixels identical and is read by libpng as a valid text chunk (CRC and deflate checked there)', async () => {
    for (const record of [small, large]) {
      const out = embedProvenance(png, 'image/png', record);
      expect((await pixels(out)).equals(await pixels(png))).toBe(true);
      const meta = await sharp(out).metadata();
      expect([meta.width, meta.height]).toEqual([48, 32]);
      const comment = meta.comments?.find((c) => c.keyword === 'fluxgraph');
      expect(comment && JSON.parse(comment.text)).toEqual(record);
    }
  });

  it('keeps text chunks written by others', () => {
    const withComment = pngWithChunkAfterIhdr(png, 'tEXt', Buffer.from('Comment\0made elsewhere', 'latin1'));
    const out = embedProvenance(withComment, 'image/png', small);
    expect(pngChunks(out).filter((c) => c.type === 'tEXt').map((c) => c.data.toString('latin1'))).toEqual(['Comment\0made elsewhere']);
    expect(extractProvenance(out)).toEqual(small);
  });

  it('reads a flipped byte inside the chunk as no provenance (CRC mismatch)', () => {
    for (const record of [small, large]) {
      const out = Buffer.from(embedProvenance(png, 'image/png', record));
      const [chunk] = ourItxt(out);
      out[chunk.start + 8 + 20] ^= 0x01;
      expect(extractProvenance(out)).toBeUndefined();
    }
  });

  it('reads damaged text or a damaged deflate stream with a correct CRC as no provenance', () => {
    const plain = Buffer.from(embedProvenance(png, 'image/png', small));
    const [p] = ourItxt(plain);
    plain[p.start + 8 + 14] = 0x7b ^ 0xff; // first byte of the JSON becomes invalid UTF-8
    fixCrc(plain, p.start);
    expect(extractProvenance(plain)).toBeUndefined();

    const deflated = Buffer.from(embedProvenance(png, 'image/png', large));
    const [d] = ourItxt(deflated);
    deflated.fill(0xaa, d.start + 8 + 30, d.start + 8 + 60);
    fixCrc(deflated, d.start);
    expect(extractProvenance(deflated)).toBeUndefined();
  });
});

describe('JPEG provenance', () => {
  it('round-trips a small record in one XMP APP1 segment right after SOI, visible to XMP readers', async () => {
    expect(jpegSegments(jpeg)[0].marker).toBe(0xdb); // sharp writes no JFIF header
    const out = embedProvenance(jpeg, 'image/jpeg', small);
    expect(extractProvenance(out)).toEqual(small);
    const segments = jpegSegments(out);
    expect(segments[0].marker).toBe(0xe1);
    expect(startsWith(segments[0].payload, XMP_SIG)).toBe(true);
    expect(extSegments(out)).toHaveLength(0);
    const xmp = (await sharp(out).metadata()).xmp?.toString('utf8') ?? '';
    expect(xmp).toContain(`xmlns:fluxgraph="${PROVENANCE_XMP_NS}"`);
    expect(xmp).toContain('<fluxgraph:record>');
  });

  it('splits a 500-node pipeline over 200 KB across Extended XMP segments and reassembles it', () => {
    const out = embedProvenance(jpeg, 'image/jpeg', large);
    expect(extractProvenance(out)).toEqual(large);
    const [main] = xmpSegments(out);
    const guid = /xmpNote:HasExtendedXMP="([0-9A-F]{32})"/.exec(main.payload.toString('utf8'))?.[1];
    expect(guid).toBeDefined();
    const ext = extSegments(out);
    expect(ext.length).toBeGreaterThanOrEqual(4);
    let expected = 0;
    const parts: Buffer[] = [];
    for (const s of ext) {
      expect(s.end - s.start - 2).toBeLessThanOrEqual(65_535); // the length field's range
      const p = s.payload;
      expect(p.toString('latin1', 35, 67)).toBe(guid);
      expect(p.readUInt32BE(71)).toBe(expected); // offset
      parts.push(p.subarray(75));
      expected += p.length - 75;
    }
    const packet = Buffer.concat(parts);
    expect(ext.every((s) => s.payload.readUInt32BE(67) === packet.length)).toBe(true);
    expect(createHash('md5').update(packet).digest('hex').toUpperCase()).toBe(guid);
  });

  it('leaves pixels identical', async () => {
    for (const record of [small, large]) {
      const out = embedProvenance(jpeg, 'image/jpeg', record);
      expect((await pixels(out)).equals(await pixels(jpeg))).toBe(true);
    }
  });

  it('keeps Exif and an existing XMP packet ahead of its own, and still finds its own', async () => {
    const foreign = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:source>camera</dc:source></rdf:Description></rdf:RDF></x:xmpmeta>';
    const tagged = await sharp(await pixels(jpeg), { raw: { width: 48, height: 32, channels: 3 } })
      .jpeg()
      .withExif({ IFD0: { Copyright: 'someone' } })
      .withXmp(foreign)
      .toBuffer();
    const out = embedProvenance(tagged, 'image/jpeg', large);
    expect(extractProvenance(out)).toEqual(large);
    const meta = await sharp(out).metadata();
    expect(meta.exif?.toString('latin1')).toContain('someone');
    expect(meta.xmp?.toString('utf8')).toContain('<dc:source>camera</dc:source>');
    const kind = (s: { marker: number; payload: Buffer }) =>
      s.marker !== 0xe1 ? s.marker.toString(16) : startsWith(s.payload, 'Exif\0') ? 'exif' : startsWith(s.payload, EXT_SIG) ? 'ext' : s.payload.includes(PROVENANCE_XMP_NS) ? 'ours' : 'xmp';
    expect(jpegSegments(tagged).map(kind).slice(0, 3)).toEqual(['exif', 'xmp', 'db']);
    expect(jpegSegments(out).map(kind).slice(0, 5)).toEqual(['exif', 'xmp', 'ours', 'ext', 'ext']);
    expect((await pixels(out)).equals(await pixels(tagged))).toBe(true);
  });

  it('keeps a JFIF header directly after SOI', async () => {
    const jfif = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
    const withJfif = Buffer.concat([jpeg.subarray(0, 2), jfif, jpeg.subarray(2)]);
    const out = embedProvenance(withJfif, 'image/jpeg', small);
    expect(out.subarray(0, 2 + jfif.length)).toEqual(withJfif.subarray(0, 2 + jfif.length));
    expect(xmpSegments(out)[0].start).toBe(2 + jfif.length);
    expect(extractProvenance(out)).toEqual(small);
    expect((await pixels(out)).equals(await pixels(jpeg))).toBe(true);
  });

  it('reads a damaged or missing Extended XMP piece as no provenance', () => {
    const out = embedProvenance(jpeg, 'image/jpeg', large);
    const ext = extSegments(out);

    const flipped = Buffer.from(out);
    flipped[ext[1].start + 500] ^= 0x20;
    expect(extractProvenance(flipped)).toBeUndefined();

    const missing = Buffer.concat([out.subarray(0, ext[2].start), out.subarray(ext[2].end)]);
    expect(extractProvenance(missing)).toBeUndefined();

    const badOffset = Buffer.from(out);
    badOffset.writeUInt32BE(7, ext[1].start + 4 + 71);
    expect(extractProvenance(badOffset)).toBeUndefined();
  });

  it('reads a damaged single packet as no provenance rather than an altered pipeline', () => {
    const out = Buffer.from(embedProvenance(jpeg, 'image/jpeg', small));
    const at = out.indexOf('refine"'); // inside the JSON
    out[at] = 'x'.charCodeAt(0);
    expect(extractProvenance(out)).toBeUndefined();
  });
});

describe('WebP provenance', () => {
  it('turns a simple lossy file into VP8X with an XMP chunk and the right canvas size', async () => {
    expect(riffChunks(webpLossy)[0].fourcc).toBe('VP8 ');
    const out = embedProvenance(webpLossy, 'image/webp', small);
    expect(extractProvenance(out)).toEqual(small);
    const chunks = riffChunks(out);
    expect(chunks.map((c) => c.fourcc)).toEqual(['VP8X', 'VP8 ', 'XMP ']);
    const vp8x = chunks[0].data;
    expect(vp8x[0]).toBe(0x04); // XMP flag only
    expect([1 + vp8x.readUIntLE(4, 3), 1 + vp8x.readUIntLE(7, 3)]).toEqual([48, 32]);
    expect(out.readUInt32LE(4)).toBe(out.length - 8);
    const meta = await sharp(out).metadata();
    expect([meta.width, meta.height, meta.hasAlpha]).toEqual([48, 32, false]);
    expect(meta.xmp?.toString('utf8')).toContain(PROVENANCE_XMP_NS);
    expect((await pixels(out)).equals(await pixels(webpLossy))).toBe(true);
  });

  it('keeps alpha of a lossless file and its pixels', async () => {
    expect(riffChunks(webpLossless)[0].fourcc).toBe('VP8L');
    const out = embedProvenance(webpLossless, 'image/webp', large);
    expect(extractProvenance(out)).toEqual(large);
    expect(riffChunks(out)[0].data[0]).toBe(0x04 | 0x10); // XMP and alpha
    expect((await sharp(out).metadata()).hasAlpha).toBe(true);
    expect((await pixels(out)).equals(await pixels(webpLossless))).toBe(true);
  });

  it('adds its XMP chunk to an extended file and keeps the XMP that was there', async () => {
    const foreign = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>';
    const extended = await sharp(webpLossy).webp().withXmp(foreign).toBuffer();
    expect(riffChunks(extended)[0].fourcc).toBe('VP8X');
    const out = embedProvenance(extended, 'image/webp', small);
    expect(extractProvenance(out)).toEqual(small);
    const xmp = riffChunks(out).filter((c) => c.fourcc === 'XMP ');
    expect(xmp).toHaveLength(2);
    expect(xmp[0].data.toString('utf8')).toContain('<rdf:RDF');
    expect(xmp[0].data.toString('utf8')).not.toContain(PROVENANCE_XMP_NS);
    expect((await pixels(out)).equals(await pixels(extended))).toBe(true);
  });
});

describe('provenance in any format', () => {
  const formats: [string, () => Buffer, ProvenanceMime][] = [
    ['png', () => png, 'image/png'],
    ['jpeg', () => jpeg, 'image/jpeg'],
    ['webp', () => webpLossy, 'image/webp'],
  ];

  it.each(formats)('an %s image without provenance reads as undefined', (_name, bytes) => {
    expect(extractProvenance(bytes())).toBeUndefined();
  });

  it('bytes that are no image, empty or truncated read as undefined', () => {
    expect(extractProvenance(Buffer.alloc(0))).toBeUndefined();
    expect(extractProvenance(Buffer.from('{"pipeline":{}}'))).toBeUndefined();
    expect(extractProvenance(Buffer.from([0x89, 0x50, 0x4e, 0x47]))).toBeUndefined();
    const out = embedProvenance(png, 'image/png', small);
    const [chunk] = ourItxt(out);
    expect(extractProvenance(out.subarray(0, chunk.end - 10))).toBeUndefined();
    expect(extractProvenance(embedProvenance(jpeg, 'image/jpeg', large).subarray(0, 90_000))).toBeUndefined();
  });

  it.each(formats)('unicode and XML/JSON special characters in prompts survive in %s', (_name, bytes, mime) => {
    const out = embedProvenance(bytes(), mime, unicode);
    expect(extractProvenance(out)).toEqual(unicode);
  });

  it.each(formats)('embedding twice into %s replaces the record instead of adding a second one', (_name, bytes, mime) => {
    const count = (b: Buffer) =>
      mime === 'image/png'
        ? ourItxt(b).length
        : mime === 'image/jpeg'
          ? xmpSegments(b).length + extSegments(b).length
          : riffChunks(b).filter((c) => c.fourcc === 'XMP ').length;
    const once = embedProvenance(bytes(), mime, small);
    const bigThenSmall = embedProvenance(embedProvenance(bytes(), mime, large), mime, small);
    expect(extractProvenance(bigThenSmall)).toEqual(small);
    expect(count(bigThenSmall)).toBe(count(once));
    expect(bigThenSmall.equals(once)).toBe(true);
    const smallThenBig = embedProvenance(once, mime, large);
    expect(extractProvenance(smallThenBig)).toEqual(large);
    expect(smallThenBig.equals(embedProvenance(bytes(), mime, large))).toBe(true);
  });

  it.each(formats)('damage anywhere in a %s file never throws and never yields an altered record', (_name, bytes, mime) => {
    let state = 7;
    const rnd = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (const record of [small, large]) {
      const out = embedProvenance(bytes(), mime, record);
      for (let n = 0; n < 150; n++) {
        const damaged = Buffer.from(out);
        damaged[Math.floor(rnd() * damaged.length)] ^= 1 + Math.floor(rnd() * 255);
        const got = extractProvenance(damaged);
        if (got !== undefined) expect(got).toEqual(record);
        const cut = extractProvenance(out.subarray(0, Math.floor(rnd() * out.length)));
        if (cut !== undefined) expect(cut).toEqual(record);
      }
    }
  });

  it.each(formats)('does not modify the %s bytes it is given', (_name, bytes, mime) => {
    const input = bytes();
    const copy = Buffer.from(input);
    embedProvenance(input, mime, large);
    expect(input.equals(copy)).toBe(true);
  });

  it.each([
    ['x-key', { pipeline: {}, headers: { 'x-key': 'bfl-secret-123456' } }],
    ['X-Key', { pipeline: { settings: { 'X-Key': 'bfl-secret-123456' } } }],
    ['apiKey', { pipeline: { nodes: [{ id: 'a', type: 'prompt', params: { apiKey: 'bfl-secret-123456' } }] } }],
    ['api_key', { pipeline: {}, provider: { api_key: 'bfl-secret-123456' } }],
    ['Authorization', { pipeline: {}, request: { Authorization: 'Token bfl-secret-123456' } }],
    ['a bearer value', { pipeline: {}, note: 'Bearer bfl-secret-123456' }],
  ])('refuses to embed a record holding a credential (%s) without echoing it', (_label, record) => {
    let error: unknown;
    try {
      embedProvenance(png, 'image/png', record as ProvenanceRecord);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe('invalid_input');
    expect((error as Error).message).not.toContain('bfl-secret-123456');
  });

  it('accepts fields that only resemble credential names', () => {
    const record = { pipeline: { nodes: [{ id: 'a', type: 'prompt', params: { keyframe: 3, key: 'value', apiKeyName: 'BFL_API_KEY', apiKey: '' } }] } };
    expect(extractProvenance(embedProvenance(png, 'image/png', record))).toEqual(record);
  });

  it('rejects bytes that are not the declared type and records that cannot be embedded', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof EngineError ? e.code : 'other';
      }
      return 'no error';
    };
    expect(code(() => embedProvenance(jpeg, 'image/png', small))).toBe('invalid_input');
    expect(code(() => embedProvenance(png, 'image/jpeg', small))).toBe('invalid_input');
    expect(code(() => embedProvenance(png, 'image/webp', small))).toBe('invalid_input');
    expect(code(() => embedProvenance(png.subarray(0, 40), 'image/png', small))).toBe('invalid_input');
    expect(code(() => embedProvenance(png, 'image/png', {} as ProvenanceRecord))).toBe('invalid_input');
    const circular: ProvenanceRecord = { pipeline: {} };
    (circular.pipeline as Record<string, unknown>).self = circular;
    expect(code(() => embedProvenance(png, 'image/png', circular))).toBe('invalid_input');
    expect(code(() => embedProvenance(png, 'image/png', { pipeline: 1n } as unknown as ProvenanceRecord))).toBe('invalid_input');
  });
});
