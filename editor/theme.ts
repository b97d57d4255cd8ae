/** Colours shared by the canvas, the minimap and the gallery: one place to restyle the editor. */
import type { NodeStatus } from '../engine/core/events';
import type { NodeDescriptor } from '../engine/core/describe';
import type { PortKind } from '../engine/core/ports';
import type { RunStatus as LedgerRunStatus } from '../engine/core/money';

export const portColors: Record<PortKind, string> = {
  text: '#f2b84b',
  image: '#4cc9f0',
};

export function portColor(kind: string): string {
  return portColors[kind as PortKind] ?? '#9aa4b2';
}

export const categoryColors: Record<NodeDescriptor['category'], string> = {
  input: '#f2b84b',
  generate: '#8b5cf6',
  select: '#22c55e',
  output: '#4cc9f0',
};

export const statusColors: Record<NodeStatus | 'idle', string> = {
  idle: '#6b7280',
  queued: '#6b7280',
  running: '#3b82f6',
  done: '#22c55e',
  partial: '#f59e0b',
  failed: '#ef4444',
  skipped: '#9ca3af',
  cancelled: '#9ca3af',
};

/** The one closed list of run statuses (engine/core/money.ts), as History shows them. */
export const runStatusColors: Record<LedgerRunStatus, string> = {
  running: '#3b82f6',
  done: '#22c55e',
  partial: '#f59e0b',
  failed: '#ef4444',
  cancelled: '#9ca3af',
  interrupted: '#a855f7',
};

export const statusLabels: Record<NodeStatus, string> = {
  queued: 'queued',
  running: 'running',
  done: 'done',
  partial: 'partly done',
  failed: 'failed',
  skipped: 'skipped',
  cancelled: 'cancelled',
};
