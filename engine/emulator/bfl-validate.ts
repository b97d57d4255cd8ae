/**
 * BFL request validation with FastAPI/pydantic v2 error items (providers.md 1.3, 1.8):
 * `{"detail":[{"type","loc":["body",field],"msg","input","ctx"?}]}` with HTTP 422.
 */
import { isPlainObject } from './http';

/** One pydantic v2 error item, as FastAPI puts it in `detail`. */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** Which BFL schema applies: flex takes steps/guidance/prompt_upsampling, max and pro do not. */
export type BflModel = 'flex' | 'max' | 'pro';

/** The fields the emulator uses, after validation (nulls and absences folded to undefined). */
export interface BflInputs {
  prompt: string;
  promptUpsampling?: boolean;
  disablePup?: boolean;
  inputImages: { field: string; value: string }[];
  seed?: number;
  width?: number;
  height?: number;
  guidance?: number;
  steps?: number;
  safetyTolerance: number;
  outputFormat: 'jpeg' | 'png' | 'webp';
  webhookUrl?: string;
  webhookSecret?: string;
}

export const OUTPUT_FORMATS = ['jpeg', 'png', 'webp'] as const;
export const INPUT_IMAGE_FIELDS = ['input_image', ...[2, 3, 4, 5, 6, 7, 8].map((n) => `input_image_${n}`)];

class Checker {
  readonly issues: ValidationIssue[] = [];
  constructor(private readonly body: Record<string, unknown>) {}

  private issue(field: string, type: string, msg: string, input: unknown, ctx?: Record<string, unknown>): undefined {
    this.issues.push(ctx ? { type, loc: ['body', field], msg, input, ctx } : { type, loc: ['body', field], msg, input });
    return undefined;
  }

  private present(field: string, nullable: boolean): unknown {
    const v = this.body[field];
    if (v === undefined || (v === null && nullable)) return undefined;
    return v;
  }

  string(field: string, opts: { required?: boolean; nullable?: boolean; maxLength?: number } = {}): string | undefined {
    if (opts.required && this.body[field] === undefined) return this.issue(field, 'missing', 'Field required', this.body);
    const v = this.present(field, opts.nullable ?? true);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return this.issue(field, 'string_type', 'Input should be a valid string', v);
    if (opts.maxLength !== undefined && v.length > opts.maxLength) {
      return this.issue(field, 'string_too_long', `String should have at most ${opts.maxLength} characters`, v, { max_length: opts.maxLength });
    }
    return v;
  }

  /** Pydantic's lax int: integral floats and numeric strings pass. */
  int(field: string, opts: { nullable?: boolean; ge?: number; le?: number; default?: number } = {}): number | undefined {
    let v = this.body[field];
    if (v === undefined || (v === null && (opts.nullable ?? true))) return opts.default;
    if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) v = Number(v);
    if (typeof v !== 'number') {
      if (typeof v === 'string') return this.issue(field, 'int_parsing', 'Input should be a valid integer, unable to parse string as an integer', v);
      return this.issue(field, 'int_type', 'Input should be a valid integer', v);
    }
    if (!Number.isInteger(v)) return this.issue(field, 'int_from_float', 'Input should be a valid integer, got a number with a fractional part', v);
    return this.bounds(field, v, opts);
  }

  number(field: string, opts: { ge?: number; le?: number } = {}): number | undefined {
    let v = this.present(field, true);
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) v = Number(v);
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return this.issue(field, typeof v === 'string' ? 'float_parsing' : 'float_type', typeof v === 'string' ? 'Input should be a valid number, unable to parse string as a number' : 'Input should be a valid number', v);
    }
    return this.bounds(field, v, opts);
  }

  private bounds(field: string, v: number, opts: { ge?: number; le?: number }): number | undefined {
    if (opts.ge !== undefined && v < opts.ge) {
      return this.issue(field, 'greater_than_equal', `Input should be greater than or equal to ${opts.ge}`, v, { ge: opts.ge });
    }
    if (opts.le !== undefined && v > opts.le) {
      return this.issue(field, 'less_than_equal', `Input should be less than or equal to ${opts.le}`, v, { le: opts.le });
    }
    return v;
  }

  bool(field: string): boolean | undefined {
    const v = this.present(field, true);
    if (v === undefined) return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    if (typeof v === 'string' && /^(true|false|yes|no|on|off|1|0|t|f|y|n)$/i.test(v)) return /^(true|yes|on|1|t|y)$/i.test(v);
    return this.issue(field, typeof v === 'string' ? 'bool_parsing' : 'bool_type', typeof v === 'string' ? 'Input should be a valid boolean, unable to interpret input' : 'Input should be a valid boolean', v);
  }

  enumOf<T extends string>(field: string, values: readonly T[], fallback: T): T | undefined {
    const v = this.present(field, true);
    if (v === undefined) return fallback;
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    const quoted = values.map((x) => `'${x}'`);
    const expected = quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}` : quoted[0];
    return this.issue(field, 'enum', `Input should be ${expected}`, v, { expected }) as T | undefined;
  }

  url(field: string): string | undefined {
    const v = this.string(field, { maxLength: 2083 });
    if (v === undefined) return undefined;
    if (v.length < 1) return this.issue(field, 'url_too_short', 'URL should have at least 1 character', v, { min_length: 1 });
    try {
      const u = new URL(v);
      if (!/^https?:$/.test(u.protocol)) return this.issue(field, 'url_scheme', "URL scheme should be 'http' or 'https'", v, { expected_schemes: "'http' or 'https'" });
    } catch {
      return this.issue(field, 'url_parsing', 'Input should be a valid URL, relative URL without a base', v, { error: 'relative URL without a base' });
    }
    return v;
  }
}

/** Validates a body for /v1/flux-2-<model>; fields the model does not take are ignored, as FastAPI does. */
export function validateBflBody(body: unknown, model: BflModel): { ok: true; value: BflInputs } | { ok: false; issues: ValidationIssue[] } {
  if (!isPlainObject(body)) {
    return {
      ok: false,
      issues: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body }],
    };
  }
  const c = new Checker(body);
  const prompt = c.string('prompt', { required: true, nullable: false });
  const inputImages: BflInputs['inputImages'] = [];
  for (const field of INPUT_IMAGE_FIELDS) {
    const v = c.string(field);
    if (v) inputImages.push({ field, value: v });
  }
  const seed = c.int('seed');
  // 0 means "model default" (the schema default), so only 1..63 and negatives fail `ge=64`.
  const width = body.width === 0 ? 0 : c.int('width', { ge: 64 });
  const height = body.height === 0 ? 0 : c.int('height', { ge: 64 });
  const flex = model === 'flex';
  const guidance = flex ? c.number('guidance', { ge: 1.5, le: 10 }) : undefined;
  const steps = flex ? c.int('steps', { ge: 1, le: 50 }) : undefined;
  const promptUpsampling = flex ? c.bool('prompt_upsampling') : undefined;
  const disablePup = flex ? undefined : c.bool('disable_pup');
  const safetyTolerance = c.int('safety_tolerance', { nullable: false, ge: 0, le: 5, default: 2 });
  const outputFormat = c.enumOf('output_format', OUTPUT_FORMATS, 'jpeg');
  const webhookUrl = c.url('webhook_url');
  const webhookSecret = c.string('webhook_secret');
  if (c.issues.length > 0) return { ok: false, issues: c.issues };
  return {
    ok: true,
    value: {
      prompt: prompt!,
      promptUpsampling,
      disablePup,
      inputImages,
      seed,
      width: width || undefined,
      height: height || undefined,
      guidance,
      steps,
      safetyTolerance: safetyTolerance ?? 2,
      outputFormat: outputFormat ?? 'jpeg',
      webhookUrl,
      webhookSecret,
    },
  };
}
