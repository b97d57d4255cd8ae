import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/core/events';
import { TerminalProgress } from '../../engine/cli/progress';

describe('terminal progress', () => {
  it('draws a 200,000-node run, one line per node', () => {
    let written = '';
    const out = { columns: 80, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    const progress = new TerminalProgress(out, (s) => s);
    const n = 200_000;
    const at = Date.now();
    progress.onEvent({ type: 'runStart', runId: 'r', at, nodes: Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type: 'prompt' })) });
    progress.onEvent({ type: 'nodeStart', runId: 'r', at, nodeId: 'n199999' });
    progress.onEvent({ type: 'nodeDone', runId: 'r', at, nodeId: 'n199999', status: 'done', items: 3, failed: 0, elapsedMs: 1500 });
    progress.onEvent({ type: 'runDone', runId: 'r', at, summary: {} as Extract<RunEvent, { type: 'runDone' }>['summary'] });
    const lines = written.split('\n');
    expect(lines).toHaveLength(n + 1);
    expect(lines[n - 1]).toContain('n199999  done      3 done');
    expect(lines[0]).toContain('n0 ');
  });
});
