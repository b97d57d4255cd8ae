import { z } from 'zod';
import { defineNode } from '../engine/core/define-node';
import { EngineError } from '../engine/core/errors';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

function missing(text: string, variables: Record<string, string>): string[] {
  return placeholders(text).filter((name) => !(name in variables));
}

/** Text out; `{name}` placeholders are filled from `--set name=value` or `settings.variables`. */
export const promptNode = defineNode({
  type: 'prompt',
  title: 'Prompt',
  description: 'A text prompt. {name} placeholders are filled from --set name=value or settings.variables.',
  version: 1,
  category: 'input',
  inputs: {},
  outputs: { text: { kind: 'text' } },
  params: z.strictObject({
    text: z.string().min(1).describe('The prompt; {name} placeholders are filled from variables'),
  }),
  staticText: (params, variables) => (missing(params.text, variables).length ? undefined : params.text.replace(PLACEHOLDER, (_, name: string) => variables[name])),
  placeholders: (params) => placeholders(params.text),
  check(params, env) {
    const names = missing(params.text, env.variables);
    return names.length
      ? [{ code: 'unfilled_placeholder', param: 'text', message: `placeholder ${names.map((n) => `{${n}}`).join(', ')} has no value: pass --set ${names[0]}=... or add it to settings.variables` }]
      : [];
  },
  async run({ params, ctx }) {
    const names = missing(params.text, ctx.variables);
    if (names.length) throw new EngineError('unfilled_placeholder', `placeholder {${names[0]}} has no value`, { param: 'text' });
    return { text: params.text.replace(PLACEHOLDER, (_, name: string) => ctx.variables[name]) };
  },
});
