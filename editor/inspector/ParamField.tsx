/** One generated form field for a node param: input by control type, hint, help and errors. */
import { useId, useState } from 'react';
import type { ParamDescriptor } from '../../engine/core/describe';
import type { Issue } from '../api/types';
import { shortMessage } from '../flow/messages';
import { useEditor } from '../state/editor-store';
import { fieldFor, parseFieldInput, problemOf } from './param-form';

export interface ParamFieldProps {
  param: ParamDescriptor;
  params: Record<string, unknown>;
  issues: readonly Issue[];
  onChange(value: unknown): void;
}

export function ParamField({ param, params, issues, onChange }: ParamFieldProps) {
  const field = fieldFor(param, params);
  const id = useId();
  // The text being typed, kept while the document holds the value it became: an undo (or any
  // other change of the value) shows the document's value again.
  const [draft, setDraft] = useState<{ text: string; value: unknown } | null>(null);
  const stored = params[param.name];
  const firstError = issues.find((i) => i.severity === 'error');
  const firstWarning = issues.find((i) => i.severity === 'warning');
  const serverError = firstError ? shortMessage(firstError.message) : undefined;
  const warning = firstWarning ? shortMessage(firstWarning.message) : undefined;
  // One source of truth: the error is the document value's, whatever the field shows.
  const error = problemOf(param, stored) ?? serverError;

  /** Whatever was typed goes into the document, valid or not: the validator then refuses the run. */
  const commit = (raw: string | boolean): unknown => {
    const parsed = parseFieldInput(param, raw);
    onChange(parsed.value);
    return parsed.value;
  };
  const onText = (text: string) => setDraft({ text, value: commit(text) });
  const onBlur = () => {
    setDraft(null);
    // Typing coalesces into one undo step until the field is left.
    useEditor.getState().endEdit();
  };
  const reset = () => {
    setDraft(null);
    onChange(undefined);
  };

  const text = draft && Object.is(draft.value, stored) ? draft.text : field.text;
  const describedBy = `${id}-hint${error ? ` ${id}-error` : ''}`;
  const common = {
    id,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy,
    'aria-required': field.required ? true : undefined,
    className: 'fg-input',
  } as const;

  let control;
  switch (field.control) {
    case 'checkbox':
      control = <input {...common} className="fg-checkbox" type="checkbox" checked={field.value === true} onChange={(e) => commit(e.target.checked)} />;
      break;
    case 'select':
      control = (
        <select {...common} value={field.isSet ? String(field.value) : ''} onChange={(e) => (e.target.value === '' ? reset() : commit(e.target.value))}>
          <option value="">{field.defaultValue !== undefined ? `default (${String(field.defaultValue)})` : 'not set'}</option>
          {field.options?.map((o) => (
            <option key={String(o.value)} value={String(o.value)}>
              {o.label}
            </option>
          ))}
        </select>
      );
      break;
    case 'textarea':
      control = <textarea {...common} rows={4} value={text} placeholder={field.placeholder} onChange={(e) => onText(e.target.value)} onBlur={onBlur} />;
      break;
    case 'integer':
    case 'number':
      control = (
        <input
          {...common}
          type="number"
          inputMode={field.control === 'integer' ? 'numeric' : 'decimal'}
          min={field.min}
          max={field.max}
          step={field.step ?? 'any'}
          value={text}
          placeholder={field.placeholder}
          onChange={(e) => onText(e.target.value)}
          onBlur={onBlur}
        />
      );
      break;
    default:
      control = <input {...common} type="text" value={text} placeholder={field.placeholder} onChange={(e) => onText(e.target.value)} onBlur={onBlur} spellCheck={false} />;
  }

  return (
    <div className={`fg-field${error ? ' fg-field-invalid' : ''}`} data-param={param.name}>
      <div className="fg-field-head">
        <span className="fg-label-line">
          <label htmlFor={id}>{field.label}</label>
          {field.required ? (
            <span className="fg-required" title="required" aria-hidden="true">
              *
            </span>
          ) : null}
        </span>
        {field.isSet && field.control !== 'textarea' ? (
          <button type="button" className="fg-reset" onClick={reset} title="Remove this param (use the default)" aria-label={`reset ${field.label}`}>
            ↺
          </button>
        ) : null}
      </div>
      {control}
      <p className="fg-hint" id={`${id}-hint`}>
        {[field.hint, field.help].filter(Boolean).join(' — ')}
      </p>
      {error ? (
        <p className="fg-field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      ) : warning ? (
        <p className="fg-field-warning">{warning}</p>
      ) : null}
    </div>
  );
}
