/** A real NodeContext (real store, real files) for running one node's `run` in a test. */
import { join } from 'node:path';
import type { NodeContext } from '../../engine/core/define-node';
import { readImageInfo } from '../../engine/core/image-info';
import { readImageFile } from '../../engine/core/image-file';
import { safeFetch } from '../../engine/host/safe-fetch';
import { FileArtifactStore } from '../../engine/store/artifacts';
import { tempDir } from './tmp';

export function nodeContext(overrides: Partial<NodeContext> = {}): NodeContext & { written: string[][]; store: FileArtifactStore } {
  const dir = tempDir();
  const store = new FileArtifactStore(join(dir, 'store'));
  const written: string[][] = [];
  return {
    runId: 'run1',
    nodeId: 'n',
    nodeType: 't',
    item: 0,
    fanIndex: 0,
    nodeSeed: 1,
    signal: new AbortController().signal,
    store,
    baseDir: dir,
    outDir: join(dir, 'out'),
    variables: {},
    pipeline: { name: 'p', document: { nodes: [] }, seeds: {} },
    generate: async () => {
      throw new Error('this test does not call providers');
    },
    // The tests' servers listen on loopback.
    download: async (url) => (await safeFetch(url, { allowPrivate: true })).bytes,
    readImageFile: async (path, maxBytes) => ({ bytes: await readImageFile(path, maxBytes) }),
    putImage: async (bytes, meta) => ({ hash: await store.put(bytes), ...readImageInfo(bytes)!, meta: { nodeId: 'n', ...meta } }),
    fileWritten: (path, sidecar) => written.push([path, sidecar]),
    warn: () => undefined,
    progress: () => undefined,
    ...overrides,
    written,
  } as NodeContext & { written: string[][]; store: FileArtifactStore };
}
