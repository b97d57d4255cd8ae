/** Exit codes: 0 done, 1 some items failed, 2 invalid pipeline or usage, 130 interrupted. */
export const EXIT = { ok: 0, failed: 1, invalid: 2, interrupted: 130 } as const;

let jsonErrors = false;

/** With `--json`, every failure is one JSON object on stdout, so scripts never parse prose. */
export function failuresAsJson(on: boolean): void {
  jsonErrors = on;
}

export function isJsonOutput(): boolean {
  return jsonErrors;
}

export function fail(message: string, code = 'usage'): number {
  if (jsonErrors) process.stdout.write(JSON.stringify({ ok: false, error: { code, message } }) + '\n');
  process.stderr.write(`fluxgraph: ${message}\n`);
  return EXIT.invalid;
}
