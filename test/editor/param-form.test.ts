import { describe, expect, it } from 'vitest';
import { controlFor, fieldFor, fieldsFor, humanize, parseFieldInput } from '../../editor/inspector/param-form';
import { descriptor, descriptors, param } from './catalog';

describe('descriptor → form fields', () => {
  it('derives a field for every param of every node type, with a known control', () => {
    for (const d of descriptors) {
      const fields = fieldsFor(d.params, {});
      expect(fields.map((f) => f.name)).toEqual(d.params.map((p) => p.name));
      for (const f of fields) expect(['integer', 'number', 'text', 'textarea', 'checkbox', 'select', 'integer-list', 'json']).toContain(f.control);
    }
  });

  it.each([
    ['flux-flex-generate', 'width', 'integer'],
    ['flux-flex-generate', 'guidance', 'number'],
    ['flux-flex-generate', 'promptUpsampling', 'checkbox'],
    ['flux-flex-generate', 'outputFormat', 'select'],
    ['flux-flex-generate', 'provider', 'select'],
    ['prompt', 'text', 'textarea'],
    ['reference-image', 'source', 'text'],
    ['pick-images', 'indices', 'integer-list'],
    ['pick-images', 'all', 'checkbox'],
  ])('%s.%s is a %s field', (type, name, control) => {
    expect(controlFor(param(type, name))).toBe(control);
  });

  it('carries ranges, step, default and help into the field', () => {
    const f = fieldFor(param('flux-flex-generate', 'width'), {});
    expect(f).toMatchObject({ label: 'Width', min: 64, max: 4096, step: 16, defaultValue: 1024, isSet: false, value: 1024, text: '', placeholder: '1024' });
    expect(f.hint).toBe('64–4096 · multiple of 16 · default 1024');
    expect(f.help).toMatch(/Multiple of 16/);
  });

  it('shows a set value and offers enum options', () => {
    const steps = fieldFor(param('flux-flex-generate', 'steps'), { steps: 6 });
    expect(steps).toMatchObject({ isSet: true, value: 6, text: '6' });
    const format = fieldFor(param('flux-flex-generate', 'outputFormat'), {});
    expect(format.options?.map((o) => o.value)).toEqual(['jpeg', 'png', 'webp']);
    expect(fieldFor(param('pick-images', 'indices'), { indices: [0, 2] }).text).toBe('0, 2');
  });

  it('gives flux-pro-generate (FLUX.2 [pro]) its own fields from its descriptor: no steps or guidance', () => {
    const fields = fieldsFor(descriptor('flux-pro-generate').params, { count: 2 });
    expect(fields.map((f) => f.name)).toEqual(expect.arrayContaining(['width', 'height', 'seed', 'count', 'outputFormat', 'provider']));
    expect(fields.map((f) => f.name)).not.toContain('steps');
    expect(fields.map((f) => f.name)).not.toContain('guidance');
    expect(fields.find((f) => f.name === 'count')).toMatchObject({ control: 'integer', isSet: true, value: 2 });
  });

  it('humanizes camelCase names', () => {
    expect(humanize('promptUpsampling')).toBe('Prompt upsampling');
    expect(humanize('taskTimeoutSec')).toBe('Task timeout sec');
  });
});

describe('typed text → param value', () => {
  it.each([
    ['flux-flex-generate', 'steps', '6', { ok: true, value: 6 }],
    ['flux-flex-generate', 'steps', '', { ok: true, value: undefined }],
    ['flux-flex-generate', 'steps', '80', { ok: false, error: 'must be between 1 and 50', value: 80 }],
    ['flux-flex-generate', 'steps', '2.5', { ok: false, error: 'must be a whole number', value: 2.5 }],
    ['flux-flex-generate', 'steps', 'abc', { ok: false, error: 'must be a number', value: 'abc' }],
    ['flux-flex-generate', 'width', '1000', { ok: false, error: 'must be a multiple of 16', value: 1000 }],
    ['flux-flex-generate', 'guidance', '3.5', { ok: true, value: 3.5 }],
    ['flux-flex-generate', 'outputFormat', 'png', { ok: true, value: 'png' }],
    ['flux-flex-generate', 'outputFormat', 'gif', { ok: false, error: 'must be one of jpeg, png, webp', value: 'gif' }],
    ['flux-flex-generate', 'promptUpsampling', true, { ok: true, value: true }],
    ['pick-images', 'indices', '0, 2 3', { ok: true, value: [0, 2, 3] }],
    ['pick-images', 'indices', '0, x', { ok: false, error: 'must be whole numbers separated by commas', value: '0, x' }],
    ['pick-images', 'indices', '-1', { ok: false, error: 'numbers must be at least 0', value: [-1] }],
    ['prompt', 'text', 'a cat', { ok: true, value: 'a cat' }],
    ['prompt', 'text', '', { ok: false, error: 'must not be empty', value: '' }],
  ] as const)('%s.%s: %j', (type, name, raw, expected) => {
    expect(parseFieldInput(param(type, name), raw)).toEqual(expected);
  });
});
