/**
 * The CLI's stdout and stderr when the reader goes away (`fluxgraph run ... | head -1`): a write
 * to a closed pipe fails with EPIPE, asynchronously, as an 'error' event that would otherwise
 * crash the process with a stack trace. Installed once at start: the first EPIPE on a stream
 * marks it closed, later writes to it are dropped, and whoever listens (a run) stops as for Ctrl-C.
 */
type Stream = 'stdout' | 'stderr';

const closed = new Set<Stream>();
const listeners = new Set<(stream: Stream) => void>();
let installed = false;

export function guardOutput(): void {
  if (installed) return;
  installed = true;
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = process[name];
    // EPIPE above all; any other write error (a full disk behind a redirect) loses the output just the same.
    stream.on('error', () => {
      if (closed.has(name)) return;
      closed.add(name);
      for (const l of listeners) l(name);
    });
  }
}

/** Calls `listener` when a stream's reader has gone away; returns the way to stop listening. */
export function onOutputClosed(listener: (stream: Stream) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function isClosed(stream: Stream): boolean {
  return closed.has(stream);
}

/** Writes unless the stream's reader has gone away. */
export function write(stream: Stream, text: string): void {
  if (closed.has(stream)) return;
  process[stream].write(text);
}
