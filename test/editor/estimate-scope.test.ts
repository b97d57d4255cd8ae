import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { validPart } from '../../editor/flow/estimate-scope';
import type { Pipeline } from '../../engine/core/pipeline-schema';

const doc = JSON.parse(readFileSync(new URL('../../examples/draft-then-refine.json', import.meta.url), 'utf8')) as Pipeline;
const error = (nodeId?: string) => ({ severity: 'error' as const, code: 'invalid_param' as const, message: 'steps: must be at most 50', ...(nodeId ? { nodeId } : {}) });

describe('the priceable part of a document with errors', () => {
  it('leaves out the invalid node and everything it feeds, keeps the rest', () => {
    const scope = validPart(doc, [error('pick')])!;
    expect(scope.invalid).toEqual(['pick']);
    expect(new Set(scope.left)).toEqual(new Set(['pick', 'refine', 'save']));
    expect(scope.pipeline.nodes.map((n) => n.id)).toEqual(['idea', 'drafts', 'save-drafts']);
    expect(scope.pipeline.edges.every((e) => !scope.left.includes(e.source) && !scope.left.includes(e.target))).toBe(true);
  });

  it('keeps everything for warnings only, and gives up on an error that names no node', () => {
    expect(validPart(doc, [{ ...error('pick'), severity: 'warning' as const }])!.left).toEqual([]);
    expect(validPart(doc, [error()])).toBeUndefined();
  });
});
