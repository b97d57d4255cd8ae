/** Who may import what (design.md 1.2), checked on the source so it stays true with one package.json. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');

function files(dir: string): string[] {
  const abs = join(ROOT, dir);
  return readdirSync(abs).flatMap((name) => {
    const path = join(abs, name);
    if (statSync(path).isDirectory()) return files(relative(ROOT, path));
    return /\.(ts|tsx)$/.test(name) ? [relative(ROOT, path)] : [];
  });
}

/** Every module specifier a file imports, resolved to a repo path for relative ones. */
function imports(file: string): { spec: string; target: string; typeOnly: boolean }[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: { spec: string; target: string; typeOnly: boolean }[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(import|export)\s+(type\s+)?[^'"`;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[3] ?? m[4];
    const target = spec.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), spec)) : spec;
    out.push({ spec, target, typeOnly: Boolean(m[2]) });
  }
  return out;
}

const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

interface Rule {
  dir: string;
  /** Repo folders this part may import (itself always). */
  mayImport: string[];
  packages: string[];
  /** Folders it may import types from, but no code. */
  typesFrom?: string[];
}

const RULES: Rule[] = [
  { dir: 'engine/core', mayImport: [], packages: ['zod', 'p-queue', 'jsonc-parser'] },
  { dir: 'nodes', mayImport: ['engine/core', 'engine/store/provenance', 'engine/store/exclusive-file', 'engine/batch'], packages: ['zod', 'sharp'] },
  { dir: 'engine/batch', mayImport: ['engine/core'], packages: ['csv-parse', 'tinyglobby'] },
  { dir: 'engine/providers', mayImport: ['engine/core'], packages: ['zod'] },
  { dir: 'engine/emulator', mayImport: ['engine/core'], packages: ['zod', 'sharp'] },
  { dir: 'editor', mayImport: ['engine/core'], packages: ['react', 'react-dom', '@xyflow/react', 'zustand', '@dagrejs/dagre', 'zod', 'jsonc-parser'] },
];

describe('import boundaries', () => {
  it.each(RULES)('$dir imports only what it may', (rule) => {
    const list = files(rule.dir);
    if (rule.dir !== 'editor') expect(list.length).toBeGreaterThan(0);
    const bad: string[] = [];
    for (const file of list) {
      for (const imp of imports(file)) {
        if (imp.spec.startsWith('node:')) {
          if (rule.dir === 'editor') bad.push(`${file} → ${imp.spec} (the editor runs in the browser)`);
          continue;
        }
        if (imp.spec.startsWith('.')) {
          const allowed = [rule.dir, ...rule.mayImport].some((d) => imp.target === d || imp.target.startsWith(`${d}/`));
          if (!allowed) bad.push(`${file} → ${imp.spec}`);
          continue;
        }
        if (!rule.packages.includes(packageOf(imp.spec)) && !imp.typeOnly) bad.push(`${file} → package ${imp.spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the engine core never mentions React, React Flow or a node type', () => {
    for (const file of files('engine/core')) {
      const src = readFileSync(join(ROOT, file), 'utf8');
      expect(src, file).not.toMatch(/from ['"](react|@xyflow)/);
      expect(src, file).not.toMatch(/['"](flux-flex-generate|flux-pro-generate|flux-max-refine|pick-images|save-image|reference-image)['"]/);
    }
  });
});
