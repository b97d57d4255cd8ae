/** Exit codes: 0 done, 1 some items failed, 2 invalid pipeline or usage, 130 interrupted. */
export const EXIT = { ok: 0, failed: 1, invalid: 2, interrupted: 130 } as const;

export function fail(message: string): number {
  process.stderr.write(`fluxgraph: ${message}\n`);
  return EXIT.invalid;
}
