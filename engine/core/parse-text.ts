/**
 * Pipeline files as text: JSON syntax errors with line and column. Objects are built with a null
 * prototype, so keys such as `__proto__`, `constructor` and `prototype` are plain data: the schema
 * then refuses them where a key names a field, and they stay inert in free-form maps.
 */
import { printParseErrorCode, visit, type ParseErrorCode } from 'jsonc-parser';

export interface TextIssue {
  message: string;
  line: number;
  column: number;
}

const READABLE: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'malformed number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: 'unexpected text after the end of the document',
  InvalidCommentToken: 'comments are not allowed in pipeline files',
  UnexpectedEndOfComment: 'unterminated comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unterminated number',
  InvalidUnicode: 'invalid unicode escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in string',
};

type Container = Record<string, unknown> | unknown[];

/** Deep copy of parsed JSON (e.g. from JSON.parse in the server) with null-prototype objects. */
export function nullPrototype(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(nullPrototype);
  if (value === null || typeof value !== 'object') return value;
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) out[key] = nullPrototype((value as Record<string, unknown>)[key]);
  return out;
}

/** Strict JSON: comments and trailing commas are errors, as they are for JSON.parse. A leading byte-order mark is accepted. */
export function parseJsonText(text: string): { value?: unknown; issues: TextIssue[] } {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return { issues: [{ message: 'the file is empty (a pipeline is a JSON object with "version", "nodes" and "edges")', line: 1, column: 1 }] };
  const issues: TextIssue[] = [];
  const stack: { container: Container; key?: string }[] = [];
  let root: unknown;
  let key: string | undefined;
  const add = (value: unknown) => {
    const top = stack.at(-1);
    if (!top) root = value;
    else if (Array.isArray(top.container)) top.container.push(value);
    else top.container[key!] = value;
  };
  visit(
    text,
    {
      onObjectBegin: () => {
        const obj = Object.create(null) as Record<string, unknown>;
        add(obj);
        stack.push({ container: obj });
      },
      onObjectProperty: (property) => {
        key = property;
      },
      onObjectEnd: () => void stack.pop(),
      onArrayBegin: () => {
        const arr: unknown[] = [];
        add(arr);
        stack.push({ container: arr });
      },
      onArrayEnd: () => void stack.pop(),
      onLiteralValue: (value: unknown, _offset, _length, startLine, startCharacter) => {
        if (typeof value === 'number' && !Number.isFinite(value)) {
          issues.push({ message: 'number too large (JSON numbers here must fit a 64-bit float)', line: startLine + 1, column: startCharacter + 1 });
        }
        add(value);
      },
      onError: (error: ParseErrorCode, _offset, _length, startLine, startCharacter) => {
        const name = printParseErrorCode(error);
        issues.push({ message: READABLE[name] ?? name, line: startLine + 1, column: startCharacter + 1 });
      },
    },
    { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
  );
  return issues.length ? { issues } : { value: root, issues };
}
