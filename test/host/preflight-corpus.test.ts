/**
 * The pre-flight corpus: malformed or doomed pipelines, each with the code and the culprit
 * (node, port, param) it must be refused with, checked in-process against real files and the
 * emulator over HTTP. For every case the whole path a run takes (pre-flight, then the run if
 * the pre-flight let it through) is tried, and the emulator must have seen no submission.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validatePipeline, type ValidationIssue } from '../../engine/core/validate';
import { runPipeline } from '../../engine/core/run-pipeline';
import { startEmulator } from '../../engine/emulator/server';
import type { Emulator } from '../../engine/emulator/types';
import { createProviders, type HostProviders } from '../../engine/host/create-providers';
import { estimatePipeline } from '../../engine/host/estimate';
import { preflightPipeline, runDownloader, withChecks, type Purpose } from '../../engine/host/preflight';
import { createReferenceDelivery } from '../../engine/refs/host';
import { checkReferenceDelivery } from '../../engine/refs/plan';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { createRegistry } from '../../nodes/index';
import { tempDir } from '../helpers/tmp';

const registry = createRegistry();
let emulator: Emulator;
let poorEmulator: Emulator;
let keyed: HostProviders;
let kieOnly: HostProviders;
let poor: HostProviders;
let png: Buffer;
let server: Server;
let site: string;

const ALL = ['bfl', 'kie', 'novita', 'crun'] as const;
const envFor = (em: Emulator, ids: readonly string[]) =>
  Object.fromEntries(ids.flatMap((id) => [[`${id.toUpperCase()}_API_KEY`, `test-key-${id}`], [`${id.toUpperCase()}_BASE_URL`, em.baseUrl]]));

beforeAll(async () => {
  png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#369' } }).png().toBuffer();
  emulator = await startEmulator({ host: '127.0.0.1', port: 0, pollPort: 0 });
  // 10 credits: $0.10, less than four flex drafts.
  poorEmulator = await startEmulator({ host: '127.0.0.1', port: 0, pollPort: 0, initialCredits: 10 });
  keyed = await createProviders({ env: envFor(emulator, ALL), emulator: 'never', callbacks: 'off' });
  kieOnly = await createProviders({ env: envFor(emulator, ['kie']), emulator: 'never', callbacks: 'off' });
  poor = await createProviders({ env: envFor(poorEmulator, ALL), emulator: 'never', callbacks: 'off' });
  server = createServer((req, res) => {
    if (req.url === '/photo.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    if (req.url === '/page.png') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not an image</html>');
    res.writeHead(404).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  site = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await Promise.all([keyed?.close(), kieOnly?.close(), poor?.close()]);
  await Promise.all([emulator?.close(), poorEmulator?.close()]);
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const e = (source: string, sourceHandle: string, target: string, targetHandle: string) => ({ source, sourceHandle, target, targetHandle });
const prompt = (id = 'idea', text = 'a lighthouse') => ({ id, type: 'prompt', params: { text } });
const flex = (params: Record<string, unknown> = {}, id = 'drafts') => ({ id, type: 'flux-flex-generate', params: { width: 256, height: 256, count: 2, ...params } });
const refine = (params: Record<string, unknown> = {}, id = 'refine') => ({ id, type: 'flux-max-refine', params });
const pick = (params: Record<string, unknown>, id = 'pick') => ({ id, type: 'pick-images', params });
const save = (params: Record<string, unknown> = {}, id = 'save') => ({ id, type: 'save-image', params });
const ref = (source: string, id = 'photo') => ({ id, type: 'reference-image', params: { source } });
const doc = (nodes: unknown[], edges: unknown[], settings?: Record<string, unknown>) => ({ version: 1, name: 'corpus', ...(settings ? { settings } : {}), nodes, edges });

/** prompt → 2 drafts → save: valid, so each case breaks one thing. */
const drafts = (flexParams: Record<string, unknown> = {}, saveParams: Record<string, unknown> = {}, settings?: Record<string, unknown>) =>
  doc([prompt(), flex(flexParams), save(saveParams)], [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'save', 'images')], settings);
/** A reference image into drafts (as reference-edit.json does). */
const withReference = (source: string, flexParams: Record<string, unknown> = {}) =>
  doc([ref(source), prompt(), flex(flexParams), save()], [e('photo', 'image', 'drafts', 'references'), e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'save', 'images')]);
/** drafts → pick → refine → save. */
const draftPickRefine = (count: number, indices: number[]) =>
  doc(
    [prompt(), flex({ count }), pick({ indices }), refine(), save()],
    [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images'), e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
  );

type Files = Record<string, Buffer | string | { dir: true } | { symlink: string } | { fifo: true }>;

interface Case {
  name: string;
  /** The document as text (a file's bytes) or parsed JSON (what the server receives). */
  doc: unknown;
  files?: Files;
  host?: () => HostProviders;
  purpose?: Purpose;
  out?: string | ((dir: string) => string);
  provider?: string;
  code: ValidationIssue['code'];
  severity?: 'error' | 'warning';
  culprit?: Partial<Pick<ValidationIssue, 'nodeId' | 'port' | 'param'>>;
  message: RegExp;
  setVariables?: string[];
  variables?: Record<string, string>;
}

/** The PNG signature and the start of its IHDR chunk, cut off before the size. */
const truncatedPng = () => Buffer.from('89504e470d0a1a0a0000000d49484452000000', 'hex');

const CASES: Case[] = [
  // The file itself
  { name: 'an empty file', doc: '', code: 'invalid_json', message: /the file is empty/ },
  { name: 'a file of only spaces and newlines', doc: '  \n\n ', code: 'invalid_json', message: /the file is empty/ },
  { name: 'a number too large for JSON', doc: '{"version": 1, "nodes": [{"id": "a", "type": "prompt", "params": {"text": "x"}}], "settings": {"taskTimeoutSec": 1e309}}', code: 'invalid_json', message: /line 1, column \d+: number too large/ },
  { name: 'a missing comma', doc: '{"version": 1 "nodes": []}', code: 'invalid_json', message: /expected ","/ },
  { name: 'a trailing comma', doc: '{"version": 1, "nodes": [],}', code: 'invalid_json', message: /line 1/ },
  { name: 'a comment', doc: '{"version": 1, // hi\n "nodes": []}', code: 'invalid_json', message: /comments are not allowed/ },
  { name: 'an unterminated string', doc: '{"version": 1, "name": "x', code: 'invalid_json', message: /unterminated string/ },
  { name: 'a number too large in parsed JSON (the server path)', doc: { version: 1, nodes: [{ id: 'a', type: 'flux-flex-generate', params: { steps: Infinity } }], edges: [] }, code: 'invalid_document', message: /nodes\[0\]\.params\.steps: number too large/ },
  { name: 'a version from the future', doc: { ...drafts(), version: 2 }, code: 'invalid_document', message: /reads pipeline version 1/ },
  { name: 'no nodes list', doc: { version: 1 }, code: 'invalid_document', message: /nodes/ },
  // Keys that name fields
  { name: 'settings.__proto__.provider', doc: '{"version":1,"settings":{"__proto__":{"provider":"kie"}},"nodes":[{"id":"idea","type":"prompt","params":{"text":"x"}}],"edges":[]}', code: 'invalid_document', message: /settings: unknown field "__proto__" \(allowed: provider, concurrency/ },
  { name: 'a top-level __proto__', doc: '{"version":1,"__proto__":{"name":"x"},"nodes":[],"edges":[]}', code: 'invalid_document', message: /document: unknown field "__proto__"/ },
  { name: 'a node with a constructor field', doc: '{"version":1,"nodes":[{"id":"idea","type":"prompt","params":{"text":"x"},"constructor":{}}],"edges":[]}', code: 'invalid_document', culprit: { nodeId: 'idea' }, message: /unknown field "constructor" \(allowed: id, type, params, position\)/ },
  { name: 'an edge with a prototype field', doc: '{"version":1,"nodes":[{"id":"idea","type":"prompt","params":{"text":"x"}}],"edges":[{"source":"idea","sourceHandle":"text","target":"idea","targetHandle":"x","prototype":1}]}', code: 'invalid_document', message: /edges\[0\]: unknown field "prototype"/ },
  { name: 'params.__proto__', doc: '{"version":1,"nodes":[{"id":"idea","type":"prompt","params":{"text":"x","__proto__":{"text":"y"}}}],"edges":[]}', code: 'invalid_param', culprit: { nodeId: 'idea', param: '__proto__' }, message: /unknown param "__proto__"/ },
  // Graph shape
  { name: 'an unknown node type', doc: doc([prompt(), { id: 'x', type: 'flux-ultra', params: {} }], []), code: 'unknown_node_type', culprit: { nodeId: 'x' }, message: /unknown node type "flux-ultra"/ },
  { name: 'a duplicate node id', doc: doc([prompt(), prompt()], []), code: 'duplicate_id', culprit: { nodeId: 'idea' }, message: /used by more than one node/ },
  { name: 'a node id ".."', doc: doc([prompt('..')], []), code: 'unsafe_name', culprit: { nodeId: '..' }, message: /would point outside its folder/ },
  { name: 'a node id "."', doc: doc([prompt('.')], []), code: 'unsafe_name', culprit: { nodeId: '.' }, message: /would point outside/ },
  { name: 'a node id CON', doc: doc([prompt('CON')], []), code: 'unsafe_name', culprit: { nodeId: 'CON' }, message: /reserved device name on Windows/ },
  { name: 'a node id lpt1.draft', doc: doc([prompt('lpt1.draft')], []), code: 'unsafe_name', culprit: { nodeId: 'lpt1.draft' }, message: /"lpt1" is a reserved device name/ },
  { name: 'a node id ending in a dot', doc: doc([prompt('draft.')], []), code: 'unsafe_name', culprit: { nodeId: 'draft.' }, message: /ends with a dot/ },
  { name: 'a node id over 200 bytes', doc: doc([prompt('a'.repeat(201))], []), code: 'invalid_document', message: /nodes\[0\]\.id/ },
  { name: 'a node id with a NUL byte', doc: doc([prompt('a\u0000b')], []), code: 'invalid_document', message: /use letters, digits/ },
  {
    name: 'a duplicated edge into a refine (it would double the refines and their cost)',
    doc: doc(
      [prompt(), flex(), refine(), save()],
      [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'refine', 'images'), e('drafts', 'images', 'refine', 'images'), e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
    ),
    code: 'duplicate_edge',
    culprit: { nodeId: 'refine', port: 'images' },
    message: /drafts\.images → refine\.images appears twice \(edges 1 and 2\)/,
  },
  {
    name: 'a cycle',
    doc: doc([prompt(), refine(), pick({ all: true })], [e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images')]),
    code: 'cycle',
    culprit: { nodeId: 'refine' },
    message: /is on a cycle/,
  },
  { name: 'a required input left open', doc: doc([flex(), save()], [e('drafts', 'images', 'save', 'images')]), code: 'missing_input', culprit: { nodeId: 'drafts', port: 'prompt' }, message: /required input "prompt"/ },
  { name: 'text wired into an image input', doc: doc([prompt(), flex()], [e('idea', 'text', 'drafts', 'prompt'), e('idea', 'text', 'drafts', 'references')]), code: 'incompatible_edge', culprit: { nodeId: 'drafts', port: 'references' }, message: /takes image, but idea\.text gives text/ },
  { name: 'an edge from a node that does not exist', doc: doc([prompt(), flex()], [e('idea', 'text', 'drafts', 'prompt'), e('ghost', 'images', 'drafts', 'references')]), code: 'unknown_node', message: /source node "ghost" does not exist/ },
  { name: 'an edge to a port that does not exist', doc: doc([prompt(), flex()], [e('idea', 'text', 'drafts', 'prompt'), e('idea', 'words', 'drafts', 'references')]), code: 'unknown_port', culprit: { nodeId: 'idea', port: 'words' }, message: /no output port "words"/ },
  { name: 'two prompts into one prompt input', doc: doc([prompt(), prompt('idea2'), flex()], [e('idea', 'text', 'drafts', 'prompt'), e('idea2', 'text', 'drafts', 'prompt')]), code: 'too_many_edges', culprit: { nodeId: 'drafts', port: 'prompt' }, message: /takes one connection/ },
  // Params
  { name: 'steps above the range', doc: drafts({ steps: 80 }), code: 'invalid_param', culprit: { nodeId: 'drafts', param: 'steps' }, message: /between 1 and 50, got 80/ },
  { name: 'a width not a multiple of 16', doc: drafts({ width: 1000 }), code: 'invalid_param', culprit: { nodeId: 'drafts', param: 'width' }, message: /multiple of 16/ },
  { name: 'a draft count of 0', doc: drafts({ count: 0 }), code: 'invalid_param', culprit: { nodeId: 'drafts', param: 'count' }, message: /count/ },
  { name: 'a misspelled param', doc: drafts({ stpes: 4 }), code: 'invalid_param', culprit: { nodeId: 'drafts', param: 'stpes' }, message: /unknown param "stpes"/ },
  { name: 'a pick with neither indices nor all', doc: doc([prompt(), flex(), pick({})], [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'pick', 'images')]), code: 'invalid_param', culprit: { nodeId: 'pick', param: 'indices' }, message: /set "indices"/ },
  { name: 'a pick of index 9 from 4 drafts', doc: draftPickRefine(4, [0, 9]), code: 'invalid_param', culprit: { nodeId: 'pick', param: 'indices' }, message: /"indices": 9 is out of range; "drafts" gave 4 items \(0-3\)/ },
  { name: 'a pick of index 1 from a single draft', doc: draftPickRefine(1, [1]), code: 'invalid_param', culprit: { nodeId: 'pick', param: 'indices' }, message: /1 is out of range; "drafts" gave 1 item \(0-0\)/ },
  {
    name: 'a pick of an index an earlier pick dropped',
    doc: doc(
      [prompt(), flex({ count: 4 }), pick({ indices: [0, 2] }, 'first'), pick({ indices: [1] }, 'second'), refine(), save()],
      [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'first', 'images'), e('first', 'images', 'second', 'images'), e('second', 'images', 'refine', 'images'), e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
    ),
    code: 'invalid_param',
    culprit: { nodeId: 'second', param: 'indices' },
    message: /1 is out of range; "first" gave items 0, 2/,
  },
  {
    name: 'a pick past two interleaved wires',
    doc: doc(
      [prompt(), flex({ count: 1 }, 'a'), flex({ count: 1 }, 'b'), pick({ indices: [2] }), refine(), save()],
      [e('idea', 'text', 'a', 'prompt'), e('idea', 'text', 'b', 'prompt'), e('a', 'images', 'pick', 'images'), e('b', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images'), e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'save', 'images')],
    ),
    code: 'invalid_param',
    culprit: { nodeId: 'pick', param: 'indices' },
    message: /2 is out of range; "a" \+ "b" gave 2 items/,
  },
  { name: 'a save template with ".."', doc: drafts({}, { template: '../{index}' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /must not contain "\.\."/ },
  { name: 'an absolute save template', doc: drafts({}, { template: '/etc/{index}' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /not an absolute path/ },
  { name: 'a save template with a control character', doc: drafts({}, { template: 'a\u0007{index}' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /control character U\+0007/ },
  { name: 'a save template with a NUL', doc: drafts({}, { template: 'a\u0000{index}' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /U\+0000 \(NUL\)/ },
  { name: 'a save template into a folder named CON', doc: drafts({}, { template: 'CON/{index}' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /folder name that "CON" is a reserved device name/ },
  { name: 'a save template naming files nul.*', doc: drafts({}, { template: 'nul.{index}' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /file name that "nul" is a reserved/ },
  { name: 'a save template rendering names over 200 bytes', doc: drafts({}, { template: `${'x'.repeat(195)}-{index}` }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /bytes long; names may have at most 200/ },
  { name: 'a save template without {index} or {seed}', doc: drafts({}, { template: 'fixed' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /must contain \{index\} or \{seed\}/ },
  { name: 'an unknown save placeholder', doc: drafts({}, { template: '{name}-{index}' }), code: 'invalid_param', culprit: { nodeId: 'save', param: 'template' }, message: /unknown placeholder \{name\}/ },
  {
    name: 'two save nodes writing the same names',
    doc: doc([prompt(), flex(), save({ template: '{run}/{index}' }, 'a'), save({ template: '{run}/{index}' }, 'b')], [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'a', 'images'), e('drafts', 'images', 'b', 'images')]),
    code: 'file_name_clash',
    culprit: { nodeId: 'a', param: 'template' },
    message: /writes the same file names as "b"; add \{node\}/,
  },
  {
    name: 'two save nodes whose names differ only in case',
    doc: doc([prompt(), flex(), save({ template: 'Out-{index}' }, 'a'), save({ template: 'out-{index}' }, 'b')], [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'a', 'images'), e('drafts', 'images', 'b', 'images')]),
    code: 'file_name_clash',
    culprit: { nodeId: 'a', param: 'template' },
    message: /same file names as "b"/,
  },
  {
    name: 'a {seed}-only template fed by two generators',
    doc: doc([prompt(), flex({ seed: 1 }, 'a'), flex({ seed: 1 }, 'b'), save({ template: '{seed}' })], [e('idea', 'text', 'a', 'prompt'), e('idea', 'text', 'b', 'prompt'), e('a', 'images', 'save', 'images'), e('b', 'images', 'save', 'images')]),
    code: 'file_name_clash',
    culprit: { nodeId: 'save', param: 'template' },
    message: /images from "a" and "b" can share a seed/,
  },
  { name: 'a placeholder with no value', doc: doc([prompt('idea', 'a {animal}')], []), code: 'unfilled_placeholder', culprit: { nodeId: 'idea', param: 'text' }, message: /\{animal\} has no value/ },
  // Settings and providers
  { name: 'settings.concurrency for an unknown provider', doc: drafts({}, {}, { concurrency: { bfll: 4 } }), code: 'unknown_provider', culprit: { param: 'settings.concurrency.bfll' }, message: /unknown provider "bfll" \(known: bfl, kie, novita, crun\)/ },
  { name: 'settings.provider unknown', doc: drafts({}, {}, { provider: 'openai' }), code: 'unknown_provider', culprit: { nodeId: 'drafts' }, message: /unknown provider "openai"/ },
  { name: 'a refine on a provider without [max]', doc: draftPickRefine(2, [0]), provider: 'kie', code: 'unsupported_model', culprit: { nodeId: 'refine', param: 'provider' }, message: /has no FLUX\.2 \[max\]; providers that have it: bfl/ },
  { name: 'a negative task timeout', doc: drafts({}, {}, { taskTimeoutSec: -1 }), code: 'invalid_document', message: /settings\.taskTimeoutSec/ },
  // Reference files
  { name: 'a reference file that does not exist', doc: withReference('missing.png'), code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /missing\.png: file not found/ },
  { name: 'a text file renamed .png', doc: withReference('notes.png'), files: { 'notes.png': 'shopping list: eggs' }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /notes\.png is text, not a JPEG, PNG or WebP image/ },
  { name: 'a GIF', doc: withReference('anim.gif'), files: { 'anim.gif': Buffer.from('GIF89a\u0001\u0000\u0001\u0000\u0000\u0000\u0000;', 'latin1') }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /anim\.gif is a GIF image, not a JPEG/ },
  { name: 'an empty image file', doc: withReference('empty.png'), files: { 'empty.png': '' }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /empty\.png is empty \(0 bytes\)/ },
  { name: 'a PNG cut off inside its header', doc: withReference('cut.png'), files: { 'cut.png': truncatedPng() }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /cut\.png is not an image format fluxgraph knows/ },
  { name: 'a folder named as the image', doc: withReference('photos'), files: { photos: { dir: true } }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /photos is a folder, not an image file/ },
  { name: 'a named pipe named as the image', doc: withReference('pipe.png'), files: { 'pipe.png': { fifo: true } }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /pipe\.png is not a regular file/ },
  { name: 'a dangling symbolic link named as the image', doc: withReference('link.png'), files: { 'link.png': { symlink: 'gone.png' } }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /link\.png: file not found/ },
  { name: 'an image file over 20 MB', doc: withReference('huge.png'), files: { 'huge.png': Buffer.alloc(20 * 1024 * 1024 + 1) }, code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /huge\.png is 20\.0 MB; the limit is 20 MB/ },
  { name: 'a file:// reference', doc: withReference('file:///etc/passwd'), code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /file URLs are not allowed/ },
  { name: 'an ftp:// reference', doc: withReference('ftp://example.com/a.png'), code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /ftp URLs are not allowed/ },
  // URL references, fetched at the start of a run only
  { name: 'a reference URL on a private address', doc: () => withReference(`${site}/photo.png`), purpose: 'run', code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /127\.0\.0\.1 is a loopback address; reference URLs must be public/ },
  { name: 'a reference URL answering 404', doc: () => ({ ...withReference(`${site}/gone.png`), settings: { allowPrivateUrls: true } }), purpose: 'run', code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /HTTP 404/ },
  { name: 'a reference URL answering a web page', doc: () => ({ ...withReference(`${site}/page.png`), settings: { allowPrivateUrls: true } }), purpose: 'run', code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /did not answer with a JPEG, PNG or WebP image \(Content-Type: text\/html\)/ },
  { name: 'a reference URL to the cloud metadata address', doc: withReference('http://169.254.169.254/latest/meta-data/iam'), purpose: 'run', code: 'invalid_input', culprit: { nodeId: 'photo', param: 'source' }, message: /cloud metadata address/ },
  // Keys
  { name: 'a BFL pipeline with only a kie key', doc: drafts({}, {}, { provider: 'bfl' }), host: () => kieOnly, code: 'missing_key', culprit: { nodeId: 'drafts', param: 'provider' }, message: /uses provider "bfl", which has no API key: set BFL_API_KEY.*A key is set for kie, so the embedded emulator is off for every provider/ },
  { name: 'a node choosing a provider without a key', doc: drafts({ provider: 'novita' }), host: () => kieOnly, code: 'missing_key', culprit: { nodeId: 'drafts' }, message: /provider "novita", which has no API key: set NOVITA_API_KEY/ },
  // Folders
  { name: '--out under /dev/null', doc: drafts(), out: '/dev/null/x', code: 'unwritable_folder', culprit: { param: 'out' }, message: /\/dev\/null is a file, not a folder/ },
  { name: '--out that is a file', doc: drafts(), files: { 'out.txt': 'x' }, out: (d) => join(d, 'out.txt'), code: 'unwritable_folder', culprit: { param: 'out' }, message: /out\.txt is a file, not a folder/ },
  { name: '--out that is a dangling symlink', doc: drafts(), files: { outlink: { symlink: 'nowhere' } }, out: (d) => join(d, 'outlink'), code: 'unwritable_folder', culprit: { param: 'out' }, message: /outlink is a symbolic link to nowhere, which does not exist/ },
  { name: '--out under /proc', doc: drafts(), out: '/proc/fluxgraph-out', code: 'unwritable_folder', culprit: { param: 'out' }, message: /under \/proc, a kernel file system/ },
  // Delivery: URL-only providers cannot receive a local file
  { name: 'a local reference into novita (no bucket, no public URL)', doc: withReference('photo.png'), files: { 'photo.png': 'PNG' }, provider: 'novita', code: 'needs_public_url', culprit: { nodeId: 'drafts', port: 'references' }, message: /provider "novita" takes reference images only as public URLs, and the local image of .*photo.* has none here\. Ways to give it one: / },
  {
    name: 'a local reference into crun through a pick',
    doc: doc(
      [ref('photo.png'), pick({ all: true }), prompt(), flex({ provider: 'crun' }), save()],
      [e('photo', 'image', 'pick', 'images'), e('pick', 'images', 'drafts', 'references'), e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'save', 'images')],
    ),
    files: { 'photo.png': 'PNG' },
    code: 'needs_public_url',
    culprit: { nodeId: 'drafts', port: 'references' },
    message: /provider "crun" takes reference images only as public URLs/,
  },
  // Balance
  { name: 'a run above the BFL balance', doc: drafts({ count: 4, width: 1024, height: 1024 }), host: () => poor, purpose: 'run', code: 'over_balance', culprit: { param: 'provider' }, message: /Black Forest Labs: this run is estimated at \$0\.\d\d, but the account's balance is \$0\.10/ },
];

const WARNINGS: Case[] = [
  { name: '--set of a variable no prompt uses', doc: drafts(), setVariables: ['animal'], variables: { animal: 'fox' }, code: 'unused_variable', severity: 'warning', message: /--set animal=\.\.\.: no prompt uses \{animal\} \(this pipeline has no placeholders\)/ },
  { name: 'a concurrency above BFL\'s documented limit', doc: drafts({}, {}, { concurrency: { bfl: 50 } }), code: 'concurrency_above_limit', severity: 'warning', culprit: { param: 'settings.concurrency.bfl' }, message: /50 is above Black Forest Labs's documented limit of 24/ },
  { name: 'an estimate above the BFL balance', doc: drafts({ count: 4, width: 1024, height: 1024 }), host: () => poor, purpose: 'estimate', code: 'over_balance', severity: 'warning', message: /balance is \$0\.10/ },
];

function materialise(files: Files | undefined, dir: string): void {
  for (const [name, content] of Object.entries(files ?? {})) {
    const path = join(dir, name);
    if (typeof content === 'string' || Buffer.isBuffer(content)) writeFileSync(path, content);
    else if ('dir' in content) mkdirSync(path);
    else if ('symlink' in content) symlinkSync(content.symlink, path);
    else execFileSync('mkfifo', [path]);
  }
}

async function attempt(c: Case) {
  const dir = tempDir('fluxgraph-corpus-');
  materialise(c.files, dir);
  const host = c.host?.() ?? keyed;
  const document = typeof c.doc === 'function' ? (c.doc as () => unknown)() : c.doc;
  const purpose = c.purpose ?? 'run';
  const store = new FileArtifactStore(join(dir, 'store'));
  const outDir = typeof c.out === 'function' ? c.out(dir) : (c.out ?? join(dir, 'out'));
  const pre = await preflightPipeline({
    document,
    registry,
    host,
    purpose,
    baseDir: dir,
    outDir,
    ...(c.provider ? { provider: c.provider } : {}),
    ...(c.variables ? { variables: c.variables } : {}),
    ...(c.setVariables ? { setVariables: c.setVariables } : {}),
    allowPrivateUrls: (document as { settings?: { allowPrivateUrls?: boolean } })?.settings?.allowPrivateUrls === true,
    // As the CLI does: the delivery routes this host has (no bucket, no public URL here).
    checks: withChecks(async (ctx) => {
      const delivery = createReferenceDelivery({ env: {}, host });
      return checkReferenceDelivery(ctx.pipeline, { registry, providers: host.providers, ...(c.provider ? { provider: c.provider } : {}), availability: (p) => delivery.availability(p) });
    }),
    estimateByProvider: async () => {
      const est = await estimatePipeline(validatePipeline(document, { registry }).pipeline!, { registry, providers: host.providers, store, baseDir: dir, ...(c.provider ? { provider: c.provider } : {}) });
      const by: Record<string, number> = {};
      for (const n of est.nodes) for (const p of n.providers) by[p] = (by[p] ?? 0) + n.usd;
      return by;
    },
  });
  // What a host does next: run only what the pre-flight let through.
  if (pre.ok && pre.pipeline && purpose === 'run') {
    await runPipeline(pre.pipeline, { registry, providers: host.providers, store, baseDir: dir, outDir, download: runDownloader(pre, { trustedOrigins: host.trustedOrigins }), ...(c.provider ? { provider: c.provider } : {}) });
  }
  return pre;
}


const submissions = () => [emulator, poorEmulator].reduce((n, em) => n + Object.values(em.stats().submissions).reduce((a, b) => a + b, 0), 0);

describe('the pre-flight corpus', () => {
  it('has at least 60 refused pipelines', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('refuses %s, naming the culprit, with nothing submitted', async (_name, c) => {
    const before = submissions();
    const pre = await attempt(c);
    expect(pre.ok, JSON.stringify(pre.issues)).toBe(false);
    const found = pre.issues.find((i) => i.code === c.code && i.severity === 'error');
    expect(found, JSON.stringify(pre.issues, null, 1)).toBeDefined();
    expect(found).toMatchObject(c.culprit ?? {});
    expect(found!.message).toMatch(c.message);
    expect(submissions()).toBe(before);
  });

  it.each(WARNINGS.map((c) => [c.name, c] as const))('warns about %s', async (_name, c) => {
    const pre = await attempt({ ...c, purpose: c.purpose ?? 'validate' });
    const found = pre.issues.find((i) => i.code === c.code);
    expect(found, JSON.stringify(pre.issues)).toMatchObject({ severity: 'warning', ...(c.culprit ?? {}) });
    expect(found!.message).toMatch(c.message);
  });
});

describe('what the pre-flight lets through', () => {
  it('accepts a byte-order mark at the start of the file', async () => {
    const pre = await attempt({ name: 'bom', doc: '\ufeff' + JSON.stringify(drafts()), purpose: 'validate', code: 'invalid_json', message: /x/ });
    expect(pre.issues).toEqual([]);
    expect(pre.ok).toBe(true);
  });

  it('keeps __proto__ and constructor inert in free-form maps (settings.variables)', async () => {
    const text = '{"version":1,"settings":{"variables":{"__proto__":{"animal":"cat"},"constructor":"x","animal":"fox"}},"nodes":[{"id":"idea","type":"prompt","params":{"text":"a {animal}"}}],"edges":[]}';
    const pre = await attempt({ name: 'proto', doc: text, purpose: 'validate', code: 'invalid_json', message: /x/ });
    expect(pre.ok, JSON.stringify(pre.issues)).toBe(true);
    expect(Object.getPrototypeOf(pre.pipeline!.settings!.variables)).toBe(Object.prototype);
    expect(pre.pipeline!.settings!.variables!.animal).toBe('fox');
    expect(pre.pipeline!.settings!.provider).toBeUndefined();
  });

  it('never fetches a URL reference for validate or estimate', async () => {
    for (const purpose of ['validate', 'estimate'] as const) {
      const pre = await attempt({ name: 'url', doc: withReference('http://169.254.169.254/x.png'), purpose, code: 'invalid_json', message: /x/ });
      expect(pre.issues.filter((i) => i.severity === 'error')).toEqual([]);
    }
  });

  it('fetches a URL reference at the start of a run and hands the run those bytes', async () => {
    const before = submissions();
    const pre = await attempt({ name: 'url-ok', doc: { ...withReference(`${site}/photo.png`, { count: 1 }), settings: { allowPrivateUrls: true } }, purpose: 'run', code: 'invalid_json', message: /x/ });
    expect(pre.ok, JSON.stringify(pre.issues)).toBe(true);
    expect(pre.prefetched.get(`${site}/photo.png`)).toEqual(png);
    expect(submissions()).toBe(before + 1);
  });
});
