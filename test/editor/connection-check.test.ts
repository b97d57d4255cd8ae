import { describe, expect, it } from 'vitest';
import { checkConnection, connectionFromHandles, type GraphView } from '../../editor/flow/connection-check';
import { edgeId } from '../../editor/flow/flow-mapping';
import type { EdgeEnds } from '../../editor/flow/types';
import { catalog } from './catalog';

const types: Record<string, string> = {
  idea: 'prompt',
  style: 'prompt',
  photo: 'reference-image',
  drafts: 'flux-flex-generate',
  pick: 'pick-images',
  refine: 'flux-max-refine',
  save: 'save-image',
};

function graph(edges: EdgeEnds[]): GraphView {
  return { typeOf: (id) => types[id], edges: edges.map((e) => ({ ...e, id: edgeId(e) })) };
}

const e = (source: string, sourceHandle: string, target: string, targetHandle: string): EdgeEnds => ({ source, sourceHandle, target, targetHandle });

const base = [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images')];

describe('connection checks', () => {
  it.each([
    ['text → text input', e('idea', 'text', 'refine', 'prompt')],
    ['image list → multiple image input', e('drafts', 'images', 'save', 'images')],
    ['single image → multiple image input', e('photo', 'image', 'drafts', 'references')],
  ])('accepts %s', (_, c) => {
    expect(checkConnection(c, graph(base), catalog)).toEqual({ ok: true, replaces: [] });
  });

  it.each([
    ['kind', 'an image output into a text input', e('drafts', 'images', 'refine', 'prompt'), /port kinds must match.*gives image.*takes text/],
    ['kind', 'a text output into an image input', e('idea', 'text', 'save', 'images'), /port kinds must match/],
    ['cycle', 'a connection that closes a loop', e('refine', 'images', 'drafts', 'references'), /would make a cycle/],
    ['self', 'a node to itself', e('drafts', 'images', 'drafts', 'references'), /itself/],
    ['duplicate', 'the same edge twice', e('idea', 'text', 'drafts', 'prompt'), /already connected/],
    ['direction', 'an input used as a source', e('drafts', 'prompt', 'refine', 'prompt'), /output .* to an input/],
    ['unknown_port', 'a port the node does not have', e('idea', 'nope', 'drafts', 'prompt'), /no output "nope"/],
    ['unknown_node', 'a node that does not exist', e('ghost', 'text', 'drafts', 'prompt'), /unknown type/],
  ])('refuses %s: %s', (code, _, c, reason) => {
    const verdict = checkConnection(c, graph(base), catalog);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.code).toBe(code);
      expect(verdict.reason).toMatch(reason);
    }
  });

  it('refuses a list into an input that takes one item', () => {
    const withSingle = new Map(catalog);
    withSingle.set('upscale', { ...catalog.get('save-image')!, type: 'upscale', inputs: [{ name: 'image', kind: 'image' }] });
    types.up = 'upscale';
    const verdict = checkConnection(e('drafts', 'images', 'up', 'image'), graph([]), withSingle);
    expect(verdict).toMatchObject({ ok: false, code: 'list' });
    expect(checkConnection(e('photo', 'image', 'up', 'image'), graph([]), withSingle).ok).toBe(true);
  });

  it('replaces the old edge of an input that takes one connection', () => {
    const verdict = checkConnection(e('style', 'text', 'drafts', 'prompt'), graph(base), catalog);
    expect(verdict).toEqual({ ok: true, replaces: [edgeId(base[0])] });
  });

  it('keeps the other edges of an input that takes several', () => {
    const edges = [...base, e('photo', 'image', 'drafts', 'references')];
    types.photo2 = 'reference-image';
    expect(checkConnection(e('photo2', 'image', 'drafts', 'references'), graph(edges), catalog)).toEqual({ ok: true, replaces: [] });
  });
});

describe('orienting a drag', () => {
  it('turns a drag that starts on an input into source → target', () => {
    expect(connectionFromHandles({ nodeId: 'drafts', id: 'prompt', type: 'target' }, { nodeId: 'idea', id: 'text', type: 'source' })).toEqual(
      e('idea', 'text', 'drafts', 'prompt'),
    );
  });

  it('refuses output to output', () => {
    const c = connectionFromHandles({ nodeId: 'idea', id: 'text', type: 'source' }, { nodeId: 'drafts', id: 'images', type: 'source' });
    expect(c).toMatchObject({ code: 'direction' });
  });
});
