/**
 * The emulator's render thread: renders `RenderSpec`s posted by `RenderPool` and posts the bytes
 * back (transferred, not copied), so image work never runs on the host's main thread.
 */
import { parentPort } from 'node:worker_threads';
import { renderImage, type RenderSpec } from './render';

interface Job {
  id: number;
  spec: RenderSpec;
}

const port = parentPort;
if (port) {
  port.on('message', (job: Job) => {
    const spec = { ...job.spec, ...(job.spec.input ? { input: Buffer.from(job.spec.input) } : {}) };
    renderImage(spec).then(
      (image) => {
        const own = image.bytes.byteOffset === 0 && image.bytes.byteLength === image.bytes.buffer.byteLength;
        const buffer = (own ? image.bytes.buffer : image.bytes.buffer.slice(image.bytes.byteOffset, image.bytes.byteOffset + image.bytes.byteLength)) as ArrayBuffer;
        port.postMessage({ id: job.id, mime: image.mime, bytes: buffer }, [buffer]);
      },
      (e: unknown) => port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) }),
    );
  });
}
