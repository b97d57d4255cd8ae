/** Helpers for the reference-delivery tests: the real CLI against an emulator it does not own. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunEvent, RunSummary } from '../../engine/core/events';
import type { Emulator } from '../../engine/emulator/types';
import { cli, ROOT, type CliResult } from '../helpers/cli';

export const STILL_LIFE = join(ROOT, 'examples/assets/still-life.png');

/** Keys and base URLs that point all four adapters (and kie's upload API) at `emulator`. */
export function emulatorEnv(emulator: Emulator, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BFL_API_KEY: 'k',
    KIE_API_KEY: 'k',
    NOVITA_API_KEY: 'k',
    CRUN_API_KEY: 'k',
    BFL_BASE_URL: emulator.baseUrl,
    KIE_BASE_URL: emulator.baseUrl,
    NOVITA_BASE_URL: emulator.baseUrl,
    CRUN_BASE_URL: emulator.baseUrl,
    ...extra,
  };
}

export interface Ran extends CliResult {
  events: RunEvent[];
  summary?: RunSummary;
}

export async function runPipelineCli(dir: string, doc: unknown, args: string[], env: Record<string, string>): Promise<Ran> {
  const file = join(dir, 'pipeline.json');
  if (doc !== undefined) writeFileSync(file, JSON.stringify(doc));
  const r = await cli(['run', ...(doc !== undefined ? [file] : []), '--json', '--out', join(dir, 'out'), '--cache-dir', join(dir, 'cache'), ...args], { cwd: dir, env });
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RunEvent);
  const done = events.find((e): e is Extract<RunEvent, { type: 'runDone' }> => e.type === 'runDone');
  return { ...r, events, ...(done ? { summary: done.summary } : {}) };
}

/** Images a node produced, in item order, from the run's events. */
export function imagesOf(r: Ran, nodeId: string) {
  return r.events
    .filter((e): e is Extract<RunEvent, { type: 'itemDone' }> => e.type === 'itemDone' && e.nodeId === nodeId && e.value.kind === 'image')
    .sort((a, b) => a.item - b.item)
    .map((e) => (e.value as { kind: 'image'; image: import('../../engine/core/ports').ImageAsset }).image);
}

/** A reference-edit pipeline: one local image into one generate node on `provider`. */
export function referenceEdit(provider: string, source = STILL_LIFE) {
  return {
    version: 1,
    name: `reference-edit-${provider}`,
    nodes: [
      { id: 'photo', type: 'reference-image', params: { source } },
      { id: 'instruction', type: 'prompt', params: { text: 'Turn this still life into a watercolor painting' } },
      { id: 'edit', type: 'flux-flex-generate', params: { width: 512, height: 512, seed: 42, provider } },
      { id: 'save', type: 'save-image', params: { template: 'edit-{index}' } },
    ],
    edges: [
      { source: 'photo', sourceHandle: 'image', target: 'edit', targetHandle: 'references' },
      { source: 'instruction', sourceHandle: 'text', target: 'edit', targetHandle: 'prompt' },
      { source: 'edit', sourceHandle: 'images', target: 'save', targetHandle: 'images' },
    ],
  };
}

/** crun.ai TaskInfo over HTTP: what crun echoes of the submitted input, and its result URLs. */
export async function crunTask(emulator: Emulator, taskId: string): Promise<{ input: Record<string, unknown>; mediaUrls: string[] }> {
  const res = await fetch(`${emulator.baseUrl}/api/v1/client/job/TaskInfo?task_id=${encodeURIComponent(taskId)}`, { headers: { 'x-api-key': 'k' } });
  const body = (await res.json()) as { data: { param: { input: Record<string, unknown> }; result: { media_urls: string[] } | null } };
  return { input: body.data.param.input, mediaUrls: body.data.result?.media_urls ?? [] };
}

/** kie.ai recordInfo over HTTP: the submitted input (kie echoes it as a JSON string). */
export async function kieInput(emulator: Emulator, taskId: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${emulator.baseUrl}/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`, { headers: { authorization: 'Bearer k' } });
  const body = (await res.json()) as { data: { param: string } };
  return (JSON.parse(body.data.param) as { input: Record<string, unknown> }).input;
}
