/**
 * Node params descriptor → form fields (design.md 1.4: one generic form, no per-node forms).
 * Pure: what each field shows and how typed text becomes a param value, with the error to show
 * on the field when it cannot.
 */
import type { ParamDescriptor } from '../../engine/core/describe';

export type FieldControl = 'integer' | 'number' | 'text' | 'textarea' | 'checkbox' | 'select' | 'integer-list' | 'json';

export interface FieldOption {
  value: string | number;
  label: string;
}

export interface FieldModel {
  name: string;
  label: string;
  control: FieldControl;
  /** The param's description. */
  help?: string;
  /** Range and default, e.g. "1–50 · default 50". */
  hint?: string;
  required: boolean;
  min?: number;
  max?: number;
  step?: number;
  options?: FieldOption[];
  defaultValue?: unknown;
  /** True when the node's params hold a value for this field (not just the default). */
  isSet: boolean;
  value: unknown;
  /** The text an input shows for the current value. */
  text: string;
  placeholder: string;
}

/**
 * A failed parse still carries `value`: what the document holds from now on (the number typed, or
 * the raw text when it is not one), so the field, the node, the validator and Run all see the
 * same value and Run is refused until it is fixed.
 */
export type ParsedField = { ok: true; value: unknown } | { ok: false; error: string; value: unknown };

/** "taskTimeoutSec" → "Task timeout sec". */
export function humanize(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[-_]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function controlFor(p: ParamDescriptor): FieldControl {
  switch (p.type) {
    case 'integer':
      return 'integer';
    case 'number':
      return 'number';
    case 'boolean':
      return 'checkbox';
    case 'enum':
      return 'select';
    case 'integer-list':
      return 'integer-list';
    case 'string':
      return p.multiline ? 'textarea' : 'text';
    default:
      return 'json';
  }
}

function exclusiveBound(p: ParamDescriptor, key: 'exclusiveMinimum' | 'exclusiveMaximum'): number | undefined {
  const v = p.schema[key];
  return typeof v === 'number' ? v : undefined;
}

export function formatValue(control: FieldControl, value: unknown): string {
  if (value === undefined || value === null) return '';
  // Text typed into a number or list field that is not one stays as typed (see ParsedField).
  if (typeof value === 'string') return value;
  switch (control) {
    case 'integer-list':
      return Array.isArray(value) ? value.join(', ') : JSON.stringify(value);
    case 'json':
      return JSON.stringify(value);
    case 'checkbox':
      return value ? 'true' : 'false';
    default:
      return typeof value === 'string' ? value : String(value);
  }
}

function rangeText(p: ParamDescriptor): string | undefined {
  const lo = p.minimum ?? exclusiveBound(p, 'exclusiveMinimum');
  const hi = p.maximum ?? exclusiveBound(p, 'exclusiveMaximum');
  const loText = lo === undefined ? undefined : p.minimum === undefined ? `> ${lo}` : `${lo}`;
  const hiText = hi === undefined ? undefined : p.maximum === undefined ? `< ${hi}` : `${hi}`;
  if (loText && hiText && p.minimum !== undefined && p.maximum !== undefined) return `${loText}–${hiText}`;
  if (loText && hiText) return `${loText}, ${hiText}`;
  if (loText) return p.minimum === undefined ? loText : `≥ ${loText}`;
  if (hiText) return p.maximum === undefined ? hiText : `≤ ${hiText}`;
  return undefined;
}

export function hintFor(p: ParamDescriptor): string | undefined {
  const parts: string[] = [];
  const range = rangeText(p);
  if (range) parts.push(range);
  if (p.multipleOf !== undefined && p.multipleOf !== 1) parts.push(`multiple of ${p.multipleOf}`);
  if (p.default !== undefined) parts.push(`default ${formatValue(controlFor(p), p.default)}`);
  else if (p.required) parts.push('required');
  return parts.length > 0 ? parts.join(' · ') : undefined;
}

export function fieldFor(p: ParamDescriptor, values: Record<string, unknown>): FieldModel {
  const control = controlFor(p);
  const isSet = values[p.name] !== undefined;
  const value = isSet ? values[p.name] : p.default;
  const field: FieldModel = {
    name: p.name,
    label: p.title ?? humanize(p.name),
    control,
    required: p.required,
    isSet,
    value,
    text: isSet ? formatValue(control, values[p.name]) : '',
    placeholder: p.default !== undefined ? formatValue(control, p.default) : control === 'integer-list' ? 'e.g. 0, 2' : '',
  };
  if (p.description) field.help = p.description;
  const hint = hintFor(p);
  if (hint) field.hint = hint;
  if (p.default !== undefined) field.defaultValue = p.default;
  if (control === 'integer' || control === 'number') {
    const min = p.minimum ?? exclusiveBound(p, 'exclusiveMinimum');
    const max = p.maximum ?? exclusiveBound(p, 'exclusiveMaximum');
    if (min !== undefined) field.min = min;
    if (max !== undefined) field.max = max;
    field.step = p.multipleOf ?? (control === 'integer' ? 1 : undefined);
    if (field.step === undefined) delete field.step;
  }
  if (control === 'select') {
    field.options = (p.enum ?? []).map((v) => ({ value: v, label: String(v) }));
  }
  return field;
}

export function fieldsFor(params: readonly ParamDescriptor[], values: Record<string, unknown>): FieldModel[] {
  return params.map((p) => fieldFor(p, values));
}

/** The problem with the value a document holds for a field (typed text that is not a number included). */
export function problemOf(p: ParamDescriptor, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const control = controlFor(p);
  if (typeof value === 'string' && control !== 'text' && control !== 'textarea') {
    const parsed = parseFieldInput(p, value);
    return parsed.ok ? undefined : parsed.error;
  }
  return checkParamValue(p, value);
}

/** Checks a value against the descriptor's range rules; returns the message to show, if any. */
export function checkParamValue(p: ParamDescriptor, value: unknown): string | undefined {
  if (value === undefined) return p.required ? 'required' : undefined;
  const control = controlFor(p);
  if (control === 'integer' || control === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
    if (control === 'integer' && !Number.isInteger(value)) return 'must be a whole number';
    const exMin = exclusiveBound(p, 'exclusiveMinimum');
    const exMax = exclusiveBound(p, 'exclusiveMaximum');
    if (p.minimum !== undefined && p.maximum !== undefined && (value < p.minimum || value > p.maximum)) {
      return `must be between ${p.minimum} and ${p.maximum}`;
    }
    if (p.minimum !== undefined && value < p.minimum) return `must be at least ${p.minimum}`;
    if (p.maximum !== undefined && value > p.maximum) return `must be at most ${p.maximum}`;
    if (exMin !== undefined && value <= exMin) return `must be greater than ${exMin}`;
    if (exMax !== undefined && value >= exMax) return `must be less than ${exMax}`;
    if (p.multipleOf !== undefined && Math.abs(value / p.multipleOf - Math.round(value / p.multipleOf)) > 1e-9) {
      return `must be a multiple of ${p.multipleOf}`;
    }
    return undefined;
  }
  if (control === 'select') {
    return (p.enum ?? []).includes(value as string | number) ? undefined : `must be one of ${(p.enum ?? []).join(', ')}`;
  }
  if (control === 'checkbox') return typeof value === 'boolean' ? undefined : 'must be true or false';
  if (control === 'text' || control === 'textarea') {
    if (typeof value !== 'string') return 'must be text';
    const minLength = p.schema.minLength;
    const maxLength = p.schema.maxLength;
    if (typeof minLength === 'number' && value.length < minLength) {
      return minLength === 1 ? 'must not be empty' : `must be at least ${minLength} characters`;
    }
    if (typeof maxLength === 'number' && value.length > maxLength) return `must be at most ${maxLength} characters`;
    return undefined;
  }
  if (control === 'integer-list') {
    if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v))) return 'must be whole numbers separated by commas';
    const items = (p.schema.items ?? (p.schema.anyOf as Record<string, unknown>[] | undefined)?.find((s) => s.type === 'array')?.items) as
      | Record<string, unknown>
      | undefined;
    const min = typeof items?.minimum === 'number' ? items.minimum : undefined;
    if (min !== undefined && value.some((v: number) => v < min)) return `numbers must be at least ${min}`;
    return undefined;
  }
  return undefined;
}

/**
 * Typed text (or a checkbox state) → the param value. An empty input unsets the param, so the
 * default applies; `{ ok: true, value: undefined }` means "remove it from params".
 */
export function parseFieldInput(p: ParamDescriptor, raw: string | boolean): ParsedField {
  const control = controlFor(p);
  let value: unknown;
  if (control === 'checkbox') {
    value = raw === true || raw === 'true';
  } else {
    const text = String(raw);
    if (text.trim() === '' && control !== 'text' && control !== 'textarea') {
      return p.required ? { ok: false, error: 'required', value: undefined } : { ok: true, value: undefined };
    }
    switch (control) {
      case 'integer':
      case 'number': {
        const n = Number(text.trim());
        if (!Number.isFinite(n)) return { ok: false, error: 'must be a number', value: text };
        value = n;
        break;
      }
      case 'select': {
        const match = (p.enum ?? []).find((v) => String(v) === text);
        if (match === undefined) return { ok: false, error: `must be one of ${(p.enum ?? []).join(', ')}`, value: text };
        value = match;
        break;
      }
      case 'integer-list': {
        const parts = text.split(/[\s,]+/).filter((s) => s !== '');
        const nums = parts.map((s) => Number(s));
        if (nums.some((n) => !Number.isInteger(n))) return { ok: false, error: 'must be whole numbers separated by commas', value: text };
        value = nums;
        break;
      }
      case 'json': {
        try {
          value = JSON.parse(text);
        } catch {
          return { ok: false, error: 'must be valid JSON', value: text };
        }
        break;
      }
      default:
        if (text === '' && !p.required) return { ok: true, value: undefined };
        value = text;
    }
  }
  const error = checkParamValue(p, value);
  return error ? { ok: false, error, value } : { ok: true, value };
}
