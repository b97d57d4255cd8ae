import { describe, expect, it } from 'vitest';
import { validatePipeline } from '../../engine/core/validate';
import { createRegistry } from '../../nodes/index';
import { fakeProvider, providerSet } from '../helpers/fake-provider';

const registry = createRegistry();

const prompt = { id: 'idea', type: 'prompt', params: { text: 'a fox' } };
const flex = (params: Record<string, unknown> = {}) => ({ id: 'drafts', type: 'flux-flex-generate', params });
const save = { id: 'save', type: 'save-image', params: {} };
const e = (source: string, sourceHandle: string, target: string, targetHandle: string) => ({ source, sourceHandle, target, targetHandle });
const good = {
  version: 1,
  nodes: [prompt, flex({ count: 2 }), save],
  edges: [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'save', 'images')],
};
const withNodes = (nodes: unknown[], edges: unknown[] = good.edges) => ({ version: 1, nodes, edges });

describe('validatePipeline', () => {
  it('names only the invalid node, not a pick downstream of it whose item count it leaves unknown', () => {
    const pick = { id: 'pick', type: 'pick-images', params: { indices: [0, 2] } };
    const pickSave = [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'images', 'pick', 'images'), e('pick', 'images', 'save', 'images')];
    const r = validatePipeline(withNodes([prompt, flex({ count: 4, steps: 80 }), pick, save], pickSave), { registry });
    expect(r.issues.map((i) => `${i.nodeId}.${i.param}`)).toEqual(['drafts.steps']);
    // With the draft count known again, the pick of a missing index is still refused.
    const missing = validatePipeline(withNodes([prompt, flex({ count: 2 }), pick, save], pickSave), { registry });
    expect(missing.issues.map((i) => `${i.nodeId}.${i.param}`)).toEqual(['pick.indices']);
  });

  it('accepts a well-formed draft pipeline', () => {
    const r = validatePipeline(good, { registry });
    expect(r.issues).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it.each([
    ['unknown node type', withNodes([prompt, { id: 'x', type: 'flux-ultra' }], []), { code: 'unknown_node_type', nodeId: 'x' }, /unknown node type "flux-ultra" \(known: prompt, /],
    ['steps above the range', withNodes([prompt, flex({ steps: 80 }), save]), { code: 'invalid_param', nodeId: 'drafts', param: 'steps' }, /node "drafts" \(flux-flex-generate\): param "steps" must be between 1 and 50, got 80/],
    ['width not a multiple of 16', withNodes([prompt, flex({ width: 1000 }), save]), { code: 'invalid_param', nodeId: 'drafts', param: 'width' }, /param "width" must be a multiple of 16, got 1000/],
    ['more than 4 megapixels', withNodes([prompt, flex({ width: 4096, height: 2048 }), save]), { code: 'invalid_param', param: 'width' }, /at most 4 megapixels/],
    ['a misspelled param', withNodes([prompt, flex({ stpes: 4 }), save]), { code: 'invalid_param', param: 'stpes' }, /unknown param "stpes" \(allowed: width, height, steps/],
    ['a bad enum', withNodes([prompt, flex({ outputFormat: 'gif' }), save]), { code: 'invalid_param', param: 'outputFormat' }, /must be one of "jpeg", "png", "webp", got "gif"/],
    ['a param of the wrong type', withNodes([prompt, flex({ count: 'four' }), save]), { code: 'invalid_param', param: 'count' }, /param "count" must be a number, got "four"/],
    ['a missing required input', withNodes([prompt, flex(), save], [e('drafts', 'images', 'save', 'images')]), { code: 'missing_input', nodeId: 'drafts', port: 'prompt' }, /required input "prompt" \(text\) is not connected/],
    ['an edge between incompatible kinds', withNodes([prompt, flex(), save], [...good.edges, e('idea', 'text', 'drafts', 'references')]), { code: 'incompatible_edge', nodeId: 'drafts', port: 'references' }, /input "references" takes image, but idea.text gives text/],
    ['an edge to a missing node', withNodes([prompt, flex(), save], [...good.edges, e('ghost', 'text', 'drafts', 'prompt')]), { code: 'unknown_node' }, /source node "ghost" does not exist/],
    ['an edge to a missing port', withNodes([prompt, flex(), save], [e('idea', 'text', 'drafts', 'prompt'), e('drafts', 'pictures', 'save', 'images')]), { code: 'unknown_port', nodeId: 'drafts', port: 'pictures' }, /has no output port "pictures" \(outputs: images\)/],
    ['two edges into a single input', withNodes([prompt, { ...prompt, id: 'idea2' }, flex(), save], [...good.edges, e('idea2', 'text', 'drafts', 'prompt')]), { code: 'too_many_edges', port: 'prompt' }, /takes one connection/],
    ['duplicate ids', withNodes([prompt, prompt, flex(), save]), { code: 'duplicate_id', nodeId: 'idea' }, /node id "idea" is used by more than one node/],
    [
      'a cycle',
      withNodes(
        [prompt, flex(), { id: 'pick', type: 'pick-images', params: { all: true } }, { id: 'refine', type: 'flux-max-refine', params: {} }],
        [e('idea', 'text', 'drafts', 'prompt'), e('idea', 'text', 'refine', 'prompt'), e('refine', 'images', 'pick', 'images'), e('pick', 'images', 'refine', 'images')],
      ),
      { code: 'cycle', nodeId: 'refine' },
      /is on a cycle: "(refine|pick)" → "(refine|pick)" → "(refine|pick)"/,
    ],
    ['pick with neither indices nor all', withNodes([{ id: 'pick', type: 'pick-images', params: {} }], []), { code: 'invalid_param', param: 'indices' }, /set "indices" \(e.g. \[0, 2\]\) or "all": true/],
    ['a save template escaping the output folder', withNodes([{ id: 's', type: 'save-image', params: { template: '../{index}' } }], []), { code: 'invalid_param', param: 'template' }, /must not contain "\.\."/],
    ['an unfilled placeholder', withNodes([{ id: 'p', type: 'prompt', params: { text: 'a {animal}' } }], []), { code: 'unfilled_placeholder', param: 'text' }, /\{animal\} has no value: pass --set animal=/],
    ['a wrong version', { ...good, version: 2 }, { code: 'invalid_document' }, /version/],
  ])('reports %s', (_name, doc, expected, message) => {
    const r = validatePipeline(doc, { registry });
    expect(r.ok).toBe(false);
    const issue = r.issues.find((i) => i.code === expected.code);
    expect(issue, JSON.stringify(r.issues)).toMatchObject(expected);
    expect(issue!.message).toMatch(message);
  });

  it('reports every problem at once', () => {
    const doc = withNodes([prompt, flex({ steps: 0, guidance: 20 }), { id: 'y', type: 'nope' }], [e('drafts', 'images', 'nowhere', 'images')]);
    const codes = validatePipeline(doc, { registry }).issues.map((i) => `${i.code}:${i.param ?? i.port ?? ''}`);
    expect(codes).toEqual(expect.arrayContaining(['invalid_param:steps', 'invalid_param:guidance', 'unknown_node_type:', 'unknown_node:']));
  });

  it('reports malformed JSON with line and column', () => {
    const r = validatePipeline('{\n  "version": 1,\n  "nodes": [\n    { "id": "a" "type": "prompt" }\n  ]\n}', { registry });
    expect(r.issues[0]).toMatchObject({ code: 'invalid_json', line: 4, column: 17 });
    expect(r.issues[0].message).toMatch(/line 4, column 17: expected ","/);
  });

  it('fills placeholders from variables given on the command line', () => {
    const doc = withNodes([{ id: 'p', type: 'prompt', params: { text: 'a {animal}' } }], []);
    expect(validatePipeline(doc, { registry, variables: { animal: 'fox' } }).ok).toBe(true);
  });

  describe('with providers', () => {
    const bfl = fakeProvider({ id: 'bfl' });
    const flexOnly = fakeProvider({ id: 'kie' });
    flexOnly.capabilities.models = ['flex'];
    flexOnly.capabilities.honours = { flex: ['prompt', 'width', 'height'] };
    flexOnly.capabilities.mapSize = () => ({ width: 1024, height: 1024, note: 'kie takes aspect ratio and 1K/2K' });
    const providers = providerSet(bfl, flexOnly);

    it('refuses max on a provider without it and names the providers that have it', () => {
      const doc = withNodes(
        [prompt, flex(), { id: 'refine', type: 'flux-max-refine', params: { provider: 'kie' } }],
        [e('idea', 'text', 'drafts', 'prompt'), e('idea', 'text', 'refine', 'prompt'), e('drafts', 'images', 'refine', 'images')],
      );
      const issue = validatePipeline(doc, { registry, providers }).issues.find((i) => i.code === 'unsupported_model');
      expect(issue).toMatchObject({ severity: 'error', nodeId: 'refine' });
      expect(issue!.message).toMatch(/provider "kie" has no FLUX.2 \[max\]; providers that have it: bfl/);
    });

    it('warns about a param the provider ignores and a size it maps', () => {
      const r = validatePipeline(withNodes([prompt, flex({ steps: 4, width: 512, height: 512 }), save]), { registry, providers, provider: 'kie' });
      expect(r.ok).toBe(true);
      expect(r.issues.map((i) => [i.code, i.severity, i.param])).toEqual(
        expect.arrayContaining([
          ['unsupported_param', 'warning', 'steps'],
          ['size_adjusted', 'warning', 'width'],
        ]),
      );
    });

    it('does not warn about params left at their defaults', () => {
      const r = validatePipeline(withNodes([prompt, flex({ width: 1024, height: 1024 }), save]), { registry, providers, provider: 'kie' });
      expect(r.issues.filter((i) => i.param === 'steps')).toEqual([]);
    });
  });
});
