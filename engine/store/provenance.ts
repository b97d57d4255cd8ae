/**
 * Provenance inside saved images: every image fluxgraph writes carries the pipeline document
 * that made it (plus run id, node, item and seed), so that dropping the image onto the editor
 * re-opens that pipeline. The bytes of the picture itself are never touched: metadata is added
 * at the container level (PNG chunks, JPEG segments, WebP RIFF chunks) and nothing is
 * re-encoded, so decoders return exactly the same pixels.
 *
 * Formats, and why:
 *
 * - PNG: one `iTXt` chunk, keyword `fluxgraph`, UTF-8 JSON, zlib-compressed (compression flag 1,
 *   method 0) when the JSON is 1 KiB or more and compression helps. It goes right after `IHDR`.
 *   Text chunks may legally sit anywhere between IHDR and IEND, and iTXt is ancillary and
 *   safe-to-copy (lower-case first and fourth letters), so PNG editors that do not know it are
 *   told to keep it wherever it is; before the image data is where Pillow writes text chunks
 *   (ComfyUI's embedded workflows live there) and where a reader that only has the head of a
 *   large file (a drag-and-drop preview, a `File.slice`) finds it without reading pixel data.
 *   No `tEXt Software` chunk is written: the keyword already says who wrote it, and a second
 *   Software entry would only compete with one the provider may have set.
 *
 * - JPEG: XMP in APP1, the place photo tools read. The record is the JSON text, XML-escaped, in
 *   the `fluxgraph:record` property of our own namespace ({@link PROVENANCE_XMP_NS}), next to
 *   `fluxgraph:sha256` of that text: XMP has no checksum, and a damaged packet must read as "no
 *   provenance", never as a silently altered pipeline. A JPEG segment holds at most 65,533
 *   bytes, so a larger document uses the standard "Extended XMP" layout (XMP specification
 *   part 3): the main packet holds `xmpNote:HasExtendedXMP` = GUID (the MD5 of the extended
 *   packet, upper-case hex) and the extended packet is split over APP1 segments whose header is
 *   signature, GUID, full length and offset. The reader reassembles the pieces by offset,
 *   requires them to cover the packet exactly and checks the MD5, so a lost or damaged piece
 *   reads as "no provenance". The segments go right after SOI, except that a leading JFIF APP0
 *   or Exif/XMP APP1 stays first: the JFIF and Exif specifications want their segment directly
 *   after SOI, and a packet already in the file stays the one photo tools show (ours is then a
 *   second packet, which our reader still finds).
 *
 * - WebP: an `XMP ` chunk holding the same XMP packet (always one chunk: RIFF chunk sizes are
 *   32-bit). A simple (VP8 / VP8L) file is turned into the extended format by adding a `VP8X`
 *   header with the XMP flag and the canvas size read from the bitstream header (and the alpha
 *   flag from the VP8L header); the bitstream chunk is copied unchanged. The chunk goes after
 *   the image data, EXIF and any existing XMP chunk (which is kept), before unknown chunks.
 *
 * Embedding again replaces what an earlier call wrote (found by keyword / namespace) and keeps
 * all other metadata. {@link extractProvenance} never throws: anything unreadable, truncated,
 * failing a CRC or MD5, or not shaped like a record reads as `undefined`.
 *
 * Secrets: {@link embedProvenance} refuses (throws) a record holding a provider credential
 * field (`x-key`, `x-api-key`, `apiKey`, `api_key`, `authorization`, any case and separator)
 * with a non-empty string value, or any string value starting with "Bearer ". It is a last
 * check, not a redactor: callers must not pass secrets in the first place.
 */
import { createHash } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { EngineError } from '../core/errors';

export type ProvenanceMime = 'image/png' | 'image/jpeg' | 'image/webp';

export interface ProvenanceRecord {
  /** The pipeline document (JSON-serializable), exactly as the editor would save it. */
  pipeline: unknown;
  runId?: string;
  nodeId?: string;
  item?: number;
  seed?: number;
  [k: string]: unknown;
}

/** PNG text keyword of the provenance chunk. */
export const PROVENANCE_KEYWORD = 'fluxgraph';
/** XMP namespace of the `fluxgraph:record` property (JPEG and WebP). */
export const PROVENANCE_XMP_NS = 'https://fluxgraph.dev/ns/provenance/1.0/';

/** PNG: JSON at least this long is deflated (when that makes it smaller). */
const COMPRESS_FROM = 1024;
/** Largest JSON text a reader will accept, also the cap for inflating (zip bombs). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------- public API

/**
 * Embeds `record` (the pipeline document plus run id/node/item/seed) into the image bytes
 * without re-encoding pixels. Returns new bytes; `bytes` is not modified. Throws an
 * `invalid_input` EngineError when the bytes are not a well-formed image of `mime`, when the
 * record is not JSON-serializable or has no `pipeline`, or when it looks like it holds a secret.
 */
export function embedProvenance(bytes: Buffer, mime: ProvenanceMime, record: ProvenanceRecord): Buffer {
  return embedProvenanceJson(bytes, mime, serializeRecord(record));
}

/**
 * The record's JSON text, checked for secrets, for {@link embedProvenanceJson}. `pipelineJson`
 * is the text of `{"pipeline": …}` from an earlier call (the document is the same for every image
 * of a run): then only the small per-image fields are serialized again.
 */
export function serializeProvenance(record: ProvenanceRecord, pipelineJson?: string): string {
  if (pipelineJson === undefined) return serializeRecord(record);
  const { pipeline: _same, ...rest } = record;
  const restJson = serializeRecord({ pipeline: 0, ...rest }).replace(/^\{"pipeline":0,?/, '');
  return restJson === '}' ? pipelineJson : `${pipelineJson.slice(0, -1)},${restJson}`;
}

/** {@link embedProvenance} for JSON text made by {@link serializeProvenance}. */
export function embedProvenanceJson(bytes: Buffer, mime: ProvenanceMime, json: string): Buffer {
  switch (mime) {
    case 'image/png':
      return embedPng(bytes, json);
    case 'image/jpeg':
      return embedJpeg(bytes, json);
    case 'image/webp':
      return embedWebp(bytes, json);
    default:
      throw new EngineError('invalid_input', `provenance: unsupported image type "${String(mime)}"`);
  }
}

/** Reads the record back; undefined when the image carries none, or it is corrupt. Never throws. */
export function extractProvenance(bytes: Buffer): ProvenanceRecord | undefined {
  try {
    const u: unknown = bytes;
    if (!(u instanceof Uint8Array)) return undefined;
    const b = Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
    let json: string | undefined;
    if (isPng(b)) json = extractPng(b);
    else if (isJpeg(b)) json = extractJpeg(b);
    else if (isWebp(b)) json = extractWebp(b);
    return json === undefined ? undefined : parseRecord(json);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- record

const SECRET_KEYS = new Set(['xkey', 'xapikey', 'apikey', 'authorization']);
const normalizeKey = (key: string) => key.toLowerCase().replace(/[-_.\s]/g, '');

/** JSON text of the record, refusing anything that looks like a credential. */
function serializeRecord(record: ProvenanceRecord): string {
  if (record === null || typeof record !== 'object' || Array.isArray(record) || !('pipeline' in record) || record.pipeline === undefined) {
    throw new EngineError('invalid_input', 'provenance: the record must be an object with a "pipeline"');
  }
  let json: string | undefined;
  try {
    // The replacer sees every key and value exactly as they are serialized (after toJSON).
    json = JSON.stringify(record, (key, value: unknown) => {
      if (typeof value === 'string' && value !== '') {
        if (key !== '' && SECRET_KEYS.has(normalizeKey(key))) {
          throw new EngineError('invalid_input', `provenance: refusing to embed a record with a credential field "${key.slice(0, 80)}"`);
        }
        if (/^bearer\s+\S/i.test(value)) {
          throw new EngineError('invalid_input', `provenance: refusing to embed a record with a bearer token${key ? ` in "${key.slice(0, 80)}"` : ''}`);
        }
      }
      return value;
    });
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('invalid_input', `provenance: the record is not JSON-serializable (${(e as Error).message})`);
  }
  if (typeof json !== 'string') throw new EngineError('invalid_input', 'provenance: the record is not JSON-serializable');
  return json;
}

function parseRecord(json: string): ProvenanceRecord | undefined {
  if (json.length > MAX_JSON_BYTES) return undefined;
  const value: unknown = JSON.parse(json);
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('pipeline' in value)) return undefined;
  return value as ProvenanceRecord;
}

/** Strict UTF-8: damaged text throws (and reads as "no provenance") instead of turning into U+FFFD. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------- CRC-32 (PNG)

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309 / PNG), unsigned. `zlib.crc32` only exists from Node 20.15, so it is done here. */
export function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) c = CRC_TABLE[(c ^ part[i]) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------- PNG

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface PngChunk {
  type: string;
  start: number;
  dataStart: number;
  dataEnd: number;
  /** End of the CRC: the next chunk starts here. */
  end: number;
}

const isPng = (b: Buffer) => b.length >= 8 && b.subarray(0, 8).equals(PNG_SIGNATURE);

/** Chunks in order up to and including IEND; throws on a malformed or truncated stream. */
function* pngChunks(b: Buffer): Generator<PngChunk> {
  let i = 8;
  for (;;) {
    if (i + 12 > b.length) throw new Error('truncated PNG chunk');
    const length = b.readUInt32BE(i);
    if (length > 0x7fffffff) throw new Error('PNG chunk length out of range');
    const dataStart = i + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > b.length) throw new Error('truncated PNG chunk');
    const type = b.toString('latin1', i + 4, i + 8);
    yield { type, start: i, dataStart, dataEnd, end: dataEnd + 4 };
    if (type === 'IEND') return;
    i = dataEnd + 4;
  }
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4, 8), data), 0);
  return Buffer.concat([head, data, crc]);
}

/** Keyword of a tEXt / zTXt / iTXt chunk (Latin-1, up to the first NUL). */
function textKeyword(b: Buffer, c: PngChunk): string | undefined {
  if (c.type !== 'tEXt' && c.type !== 'zTXt' && c.type !== 'iTXt') return undefined;
  const nul = b.indexOf(0, c.dataStart);
  if (nul < 0 || nul >= c.dataEnd) return undefined;
  return b.toString('latin1', c.dataStart, nul);
}

function provenanceItxt(json: string): Buffer {
  const text = Buffer.from(json, 'utf8');
  let flag = 0;
  let payload = text;
  if (text.length >= COMPRESS_FROM) {
    const z = deflateSync(text, { level: 9 });
    if (z.length < text.length) {
      flag = 1;
      payload = z;
    }
  }
  // keyword NUL, compression flag, compression method 0 (zlib), empty language tag NUL, empty translated keyword NUL
  const header = Buffer.concat([Buffer.from(`${PROVENANCE_KEYWORD}\0`, 'latin1'), Buffer.from([flag, 0, 0, 0])]);
  return pngChunk('iTXt', Buffer.concat([header, payload]));
}

function embedPng(b: Buffer, json: string): Buffer {
  if (!isPng(b)) throw new EngineError('invalid_input', 'provenance: the bytes are not a PNG image');
  let chunks: PngChunk[];
  try {
    chunks = [...pngChunks(b)];
  } catch (e) {
    throw new EngineError('invalid_input', `provenance: malformed PNG (${(e as Error).message})`);
  }
  if (chunks[0]?.type !== 'IHDR') throw new EngineError('invalid_input', 'provenance: malformed PNG (IHDR is not the first chunk)');
  const iend = chunks[chunks.length - 1];
  const parts: Buffer[] = [PNG_SIGNATURE];
  for (const c of chunks) {
    if (textKeyword(b, c) === PROVENANCE_KEYWORD) continue; // replaced, never duplicated
    parts.push(b.subarray(c.start, c.end));
    if (c.type === 'IHDR') parts.push(provenanceItxt(json));
  }
  parts.push(b.subarray(iend.end)); // anything after IEND stays as it was
  return Buffer.concat(parts);
}

function extractPng(b: Buffer): string | undefined {
  for (const c of pngChunks(b)) {
    if (c.type !== 'iTXt' || textKeyword(b, c) !== PROVENANCE_KEYWORD) continue;
    if (crc32(b.subarray(c.start + 4, c.dataEnd)) !== b.readUInt32BE(c.dataEnd)) return undefined;
    let i = c.dataStart + PROVENANCE_KEYWORD.length + 1;
    const flag = b[i];
    const method = b[i + 1];
    i += 2;
    const langEnd = b.indexOf(0, i);
    if (langEnd < 0 || langEnd >= c.dataEnd) return undefined;
    const transEnd = b.indexOf(0, langEnd + 1);
    if (transEnd < 0 || transEnd >= c.dataEnd) return undefined;
    const payload = b.subarray(transEnd + 1, c.dataEnd);
    if (flag === 0) return utf8.decode(payload);
    if (flag === 1 && method === 0) return utf8.decode(inflateSync(payload, { maxOutputLength: MAX_JSON_BYTES }));
    return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------- XMP (JPEG and WebP)

const XMP_SIGNATURE = Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1');
const XMP_EXT_SIGNATURE = Buffer.from('http://ns.adobe.com/xmp/extension/\0', 'latin1');
const NS_ATTR = `xmlns:fluxgraph="${PROVENANCE_XMP_NS}"`;
const RECORD_RE = /<fluxgraph:record>([^<]*)<\/fluxgraph:record>/;
const SHA_RE = /fluxgraph:sha256\s*=\s*["']([0-9a-f]{64})["']/;
const GUID_RE = /xmpNote:HasExtendedXMP\s*=\s*["']([0-9A-Fa-f]{32})["']/;

/**
 * The same JSON with U+FFFE and U+FFFF (not XML characters) as `\u` escapes, which is valid
 * because JSON.stringify only lets non-ASCII characters appear inside strings. Control
 * characters and lone surrogates are already `\u` escapes in JSON.stringify output, so the
 * result only holds characters XML allows.
 */
const xmlSafeJson = (json: string) => json.replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

/** XML character data: `&`, `<` and `>` become entities. */
const escapeXml = (text: string) => text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));

function unescapeXml(text: string): string {
  return text.replace(/&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g, (_m, hex: string, dec: string, named: string) => {
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    if (dec) return String.fromCodePoint(parseInt(dec, 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[named as 'amp'];
  });
}

const RDF_OPEN = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">';
const RDF_CLOSE = '</rdf:RDF></x:xmpmeta>';
const wrapPacket = (body: string) => `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n${body}\n<?xpacket end="w"?>`;

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/**
 * The rdf:Description that carries the record. XMP has no checksum of its own, so the SHA-256
 * of the JSON text rides along and a damaged packet reads as "no provenance", never as an
 * altered pipeline.
 */
function recordDescription(json: string): string {
  const safe = xmlSafeJson(json);
  return (
    `<rdf:Description rdf:about="" ${NS_ATTR} fluxgraph:format="1" fluxgraph:sha256="${sha256(safe)}">` +
    `<fluxgraph:record>${escapeXml(safe)}</fluxgraph:record></rdf:Description>`
  );
}

/** A complete XMP packet holding the record (WebP, and JPEG when it fits one segment). */
function recordPacket(json: string): Buffer {
  return Buffer.from(wrapPacket(RDF_OPEN + recordDescription(json) + RDF_CLOSE), 'utf8');
}

/** The record's JSON from an XMP packet of ours; undefined when absent or its SHA-256 does not match. */
function recordFromPacket(text: string): string | undefined {
  const m = RECORD_RE.exec(text);
  const sum = SHA_RE.exec(text)?.[1];
  if (!m || !sum) return undefined;
  const json = unescapeXml(m[1]);
  return sha256(json) === sum ? json : undefined;
}

// ---------------------------------------------------------------- JPEG

/** Largest payload of one JPEG marker segment (the 16-bit length counts itself). */
const JPEG_MAX_PAYLOAD = 65_533;
const XMP_MAX_PACKET = JPEG_MAX_PAYLOAD - XMP_SIGNATURE.length;
/** Signature, 32-byte GUID, 4-byte full length, 4-byte offset. */
const XMP_EXT_HEADER = XMP_EXT_SIGNATURE.length + 32 + 4 + 4;
const XMP_EXT_MAX_CHUNK = JPEG_MAX_PAYLOAD - XMP_EXT_HEADER;

interface JpegSegment {
  marker: number;
  start: number;
  /** First payload byte (after marker and length); equals `end` for standalone markers. */
  payloadStart: number;
  end: number;
}

const isJpeg = (b: Buffer) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
const isApp1 = (b: Buffer, s: JpegSegment, sig: Buffer) =>
  s.marker === 0xe1 && s.end - s.payloadStart >= sig.length && b.subarray(s.payloadStart, s.payloadStart + sig.length).equals(sig);

/** Marker segments after SOI up to (not including) SOS/EOI; throws when malformed. */
function jpegHeader(b: Buffer): { segments: JpegSegment[]; bodyStart: number } {
  const segments: JpegSegment[] = [];
  let i = 2;
  for (;;) {
    if (i + 2 > b.length || b[i] !== 0xff) throw new Error('expected a JPEG marker');
    let marker = b[i + 1];
    while (marker === 0xff) {
      // fill bytes before a marker
      i++;
      if (i + 2 > b.length) throw new Error('truncated JPEG');
      marker = b[i + 1];
    }
    if (marker === 0xda || marker === 0xd9) return { segments, bodyStart: i };
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      segments.push({ marker, start: i, payloadStart: i + 2, end: i + 2 });
      i += 2;
      continue;
    }
    if (i + 4 > b.length) throw new Error('truncated JPEG');
    const length = b.readUInt16BE(i + 2);
    if (length < 2 || i + 2 + length > b.length) throw new Error('JPEG segment length out of range');
    segments.push({ marker, start: i, payloadStart: i + 4, end: i + 2 + length });
    i += 2 + length;
  }
}

function jpegSegment(marker: number, payload: Buffer): Buffer {
  if (payload.length > JPEG_MAX_PAYLOAD) throw new Error('JPEG segment too large');
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/** APP1 segments holding the record: one XMP packet, or a main packet plus Extended XMP pieces. */
function provenanceApp1(json: string): Buffer[] {
  const single = recordPacket(json);
  if (single.length <= XMP_MAX_PACKET) return [jpegSegment(0xe1, Buffer.concat([XMP_SIGNATURE, single]))];

  const extended = Buffer.from(RDF_OPEN + recordDescription(json) + RDF_CLOSE, 'utf8');
  const guid = createHash('md5').update(extended).digest('hex').toUpperCase();
  const main = Buffer.from(
    wrapPacket(
      `${RDF_OPEN}<rdf:Description rdf:about="" ${NS_ATTR} fluxgraph:format="1" xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmpNote:HasExtendedXMP="${guid}"/>${RDF_CLOSE}`,
    ),
    'utf8',
  );
  const out = [jpegSegment(0xe1, Buffer.concat([XMP_SIGNATURE, main]))];
  for (let offset = 0; offset < extended.length; offset += XMP_EXT_MAX_CHUNK) {
    const head = Buffer.alloc(XMP_EXT_HEADER);
    XMP_EXT_SIGNATURE.copy(head, 0);
    head.write(guid, XMP_EXT_SIGNATURE.length, 'latin1');
    head.writeUInt32BE(extended.length, XMP_EXT_SIGNATURE.length + 32);
    head.writeUInt32BE(offset, XMP_EXT_SIGNATURE.length + 36);
    out.push(jpegSegment(0xe1, Buffer.concat([head, extended.subarray(offset, offset + XMP_EXT_MAX_CHUNK)])));
  }
  return out;
}

/** Our main XMP packets (text) and the Extended XMP GUIDs they point to. */
function ourXmp(b: Buffer, segments: JpegSegment[]): { ours: Set<JpegSegment>; guids: Set<string>; packets: string[] } {
  const ours = new Set<JpegSegment>();
  const guids = new Set<string>();
  const packets: string[] = [];
  for (const s of segments) {
    if (!isApp1(b, s, XMP_SIGNATURE)) continue;
    const data = b.subarray(s.payloadStart + XMP_SIGNATURE.length, s.end);
    if (!data.includes(NS_ATTR)) continue;
    ours.add(s);
    const text = data.toString('utf8');
    packets.push(text);
    const guid = GUID_RE.exec(text)?.[1];
    if (guid) guids.add(guid.toUpperCase());
  }
  for (const s of segments) {
    if (!isApp1(b, s, XMP_EXT_SIGNATURE) || s.end - s.payloadStart < XMP_EXT_HEADER) continue;
    const guid = b.toString('latin1', s.payloadStart + XMP_EXT_SIGNATURE.length, s.payloadStart + XMP_EXT_SIGNATURE.length + 32).toUpperCase();
    if (guids.has(guid)) ours.add(s);
  }
  return { ours, guids, packets };
}

function embedJpeg(b: Buffer, json: string): Buffer {
  if (!isJpeg(b)) throw new EngineError('invalid_input', 'provenance: the bytes are not a JPEG image');
  let header: ReturnType<typeof jpegHeader>;
  try {
    header = jpegHeader(b);
  } catch (e) {
    throw new EngineError('invalid_input', `provenance: malformed JPEG (${(e as Error).message})`);
  }
  const { ours } = ourXmp(b, header.segments);
  const kept = header.segments.filter((s) => !ours.has(s));
  // JFIF APP0 and Exif / XMP APP1 that lead the file stay first.
  let at = 0;
  while (at < kept.length && (kept[at].marker === 0xe0 || kept[at].marker === 0xe1)) at++;
  const slice = (s: JpegSegment) => b.subarray(s.start, s.end);
  return Buffer.concat([
    b.subarray(0, 2),
    ...kept.slice(0, at).map(slice),
    ...provenanceApp1(json),
    ...kept.slice(at).map(slice),
    b.subarray(header.bodyStart),
  ]);
}

function extractJpeg(b: Buffer): string | undefined {
  const { segments } = jpegHeader(b);
  const { packets } = ourXmp(b, segments);
  for (const text of packets) {
    const inline = recordFromPacket(text);
    if (inline !== undefined) return inline;
    const guid = GUID_RE.exec(text)?.[1]?.toUpperCase();
    if (!guid) continue;
    const extended = assembleExtendedXmp(b, segments, guid);
    return extended === undefined ? undefined : recordFromPacket(utf8.decode(extended));
  }
  return undefined;
}

/** The Extended XMP packet `guid`, when its pieces cover it exactly and its MD5 matches. */
function assembleExtendedXmp(b: Buffer, segments: JpegSegment[], guid: string): Buffer | undefined {
  const pieces: { full: number; offset: number; data: Buffer }[] = [];
  const g = XMP_EXT_SIGNATURE.length;
  for (const s of segments) {
    if (!isApp1(b, s, XMP_EXT_SIGNATURE) || s.end - s.payloadStart < XMP_EXT_HEADER) continue;
    if (b.toString('latin1', s.payloadStart + g, s.payloadStart + g + 32).toUpperCase() !== guid) continue;
    pieces.push({
      full: b.readUInt32BE(s.payloadStart + g + 32),
      offset: b.readUInt32BE(s.payloadStart + g + 36),
      data: b.subarray(s.payloadStart + XMP_EXT_HEADER, s.end),
    });
  }
  if (!pieces.length) return undefined;
  const full = pieces[0].full;
  if (full > MAX_JSON_BYTES || pieces.some((p) => p.full !== full)) return undefined;
  pieces.sort((x, y) => x.offset - y.offset);
  let cursor = 0;
  for (const p of pieces) {
    if (p.offset !== cursor) return undefined;
    cursor += p.data.length;
  }
  if (cursor !== full) return undefined;
  const packet = Buffer.concat(pieces.map((p) => p.data));
  return createHash('md5').update(packet).digest('hex').toUpperCase() === guid ? packet : undefined;
}

// ---------------------------------------------------------------- WebP

interface RiffChunk {
  fourcc: string;
  start: number;
  dataStart: number;
  size: number;
}

const isWebp = (b: Buffer) => b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP';

function riffChunks(b: Buffer): RiffChunk[] {
  const riffEnd = 8 + b.readUInt32LE(4);
  if (riffEnd > b.length) throw new Error('truncated RIFF');
  const out: RiffChunk[] = [];
  let i = 12;
  while (i < riffEnd) {
    if (i + 8 > riffEnd) throw new Error('truncated RIFF chunk');
    const size = b.readUInt32LE(i + 4);
    if (i + 8 + size > riffEnd) throw new Error('RIFF chunk size out of range');
    out.push({ fourcc: b.toString('latin1', i, i + 4), start: i, dataStart: i + 8, size });
    i += 8 + size + (size & 1);
  }
  return out;
}

/** A chunk's bytes, always with its pad byte. */
function riffChunkBytes(fourcc: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(fourcc, 0, 'latin1');
  head.writeUInt32LE(data.length, 4);
  return Buffer.concat(data.length & 1 ? [head, data, Buffer.alloc(1)] : [head, data]);
}

/** The VP8X header a simple-format file gets, from its VP8 / VP8L bitstream header. */
function vp8xFor(b: Buffer, c: RiffChunk): Buffer {
  let width: number;
  let height: number;
  let alpha = false;
  const d = c.dataStart;
  if (c.fourcc === 'VP8 ') {
    if (c.size < 10 || b[d + 3] !== 0x9d || b[d + 4] !== 0x01 || b[d + 5] !== 0x2a) throw new Error('bad VP8 header');
    width = b.readUInt16LE(d + 6) & 0x3fff;
    height = b.readUInt16LE(d + 8) & 0x3fff;
  } else {
    if (c.size < 5 || b[d] !== 0x2f) throw new Error('bad VP8L header');
    const bits = b.readUInt32LE(d + 1);
    width = 1 + (bits & 0x3fff);
    height = 1 + ((bits >>> 14) & 0x3fff);
    alpha = ((bits >>> 28) & 1) === 1;
  }
  const data = Buffer.alloc(10);
  data[0] = alpha ? 0x10 : 0;
  data.writeUIntLE(width - 1, 4, 3);
  data.writeUIntLE(height - 1, 7, 3);
  return data;
}

const WEBP_XMP_FLAG = 0x04;
/** Chunks the XMP chunk follows (WebP container spec order: ... image data, EXIF, XMP, unknown). */
const WEBP_KNOWN = new Set(['VP8X', 'ICCP', 'ANIM', 'ANMF', 'ALPH', 'VP8 ', 'VP8L', 'EXIF', 'XMP ']);

function embedWebp(b: Buffer, json: string): Buffer {
  if (!isWebp(b)) throw new EngineError('invalid_input', 'provenance: the bytes are not a WebP image');
  let chunks: RiffChunk[];
  let vp8x: Buffer;
  try {
    chunks = riffChunks(b);
    const first = chunks[0];
    if (!first) throw new Error('no chunks');
    if (first.fourcc === 'VP8X') {
      if (first.size < 10) throw new Error('bad VP8X header');
      vp8x = Buffer.from(b.subarray(first.dataStart, first.dataStart + first.size));
      chunks = chunks.slice(1);
    } else if (first.fourcc === 'VP8 ' || first.fourcc === 'VP8L') {
      vp8x = vp8xFor(b, first);
    } else {
      throw new Error(`unexpected first chunk "${first.fourcc}"`);
    }
  } catch (e) {
    throw new EngineError('invalid_input', `provenance: malformed WebP (${(e as Error).message})`);
  }
  vp8x[0] |= WEBP_XMP_FLAG;
  const kept = chunks.filter((c) => !(c.fourcc === 'XMP ' && b.toString('utf8', c.dataStart, c.dataStart + c.size).includes(NS_ATTR)));
  let at = 0;
  kept.forEach((c, i) => {
    if (WEBP_KNOWN.has(c.fourcc)) at = i + 1;
  });
  const bytesOf = (c: RiffChunk) => riffChunkBytes(c.fourcc, b.subarray(c.dataStart, c.dataStart + c.size));
  const body = Buffer.concat([
    riffChunkBytes('VP8X', vp8x),
    ...kept.slice(0, at).map(bytesOf),
    riffChunkBytes('XMP ', recordPacket(json)),
    ...kept.slice(at).map(bytesOf),
  ]);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + body.length, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}

function extractWebp(b: Buffer): string | undefined {
  for (const c of riffChunks(b)) {
    if (c.fourcc !== 'XMP ') continue;
    const data = b.subarray(c.dataStart, c.dataStart + c.size);
    if (!data.includes(NS_ATTR)) continue; // someone else's XMP (which need not even be UTF-8)
    return recordFromPacket(utf8.decode(data));
  }
  return undefined;
}
