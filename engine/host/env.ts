/**
 * The environment a host runs with: process.env overlaid on a `.env` file in `cwd` (the process
 * environment wins, so a one-off `BFL_API_KEY=… fluxgraph run` beats the file).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { EngineError } from '../core/errors';

export function loadEnv(cwd: string, processEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  let text: string | undefined;
  const path = join(cwd, '.env');
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      throw new EngineError('io', `could not read ${path}: ${code ?? 'error'}`, {}, { cause: e });
    }
  }
  if (text !== undefined) {
    for (const [k, v] of Object.entries(parseEnv(text))) if (v !== undefined) out[k] = v;
  }
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) out[k] = v;
  return out;
}
