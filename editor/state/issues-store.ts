/**
 * The engine validator's issues, indexed by the node, param and edge they name. An unchanged
 * node keeps its array, so only nodes whose issues changed re-render.
 */
import { create } from 'zustand';
import type { Issue } from '../api/types';

interface IssuesState {
  byNode: Record<string, Issue[]>;
  byEdge: Record<string, Issue[]>;
  /** Issues that name no node (settings, document). */
  general: Issue[];
  all: Issue[];
  checking: boolean;
  /** The folder the document's relative paths resolve against, as the server reported it. */
  folder?: string;
  setIssues(issues: Issue[], edgeIds: readonly string[], folder?: string): void;
  setChecking(checking: boolean): void;
}

function sameIssues(a: Issue[] | undefined, b: Issue[]): boolean {
  if (!a || a.length !== b.length) return false;
  return a.every((x, i) => x.code === b[i].code && x.message === b[i].message && x.param === b[i].param && x.port === b[i].port);
}

export const useIssues = create<IssuesState>()((set, get) => ({
  byNode: {},
  byEdge: {},
  general: [],
  all: [],
  checking: false,
  setChecking: (checking) => set({ checking }),
  setIssues: (issues, edgeIds, folder) => {
    const prev = get();
    const nodeGroups: Record<string, Issue[]> = {};
    const edgeGroups: Record<string, Issue[]> = {};
    const general: Issue[] = [];
    for (const issue of issues) {
      const edge = issue.edgeIndex !== undefined ? edgeIds[issue.edgeIndex] : undefined;
      if (edge) (edgeGroups[edge] ??= []).push(issue);
      if (issue.nodeId) (nodeGroups[issue.nodeId] ??= []).push(issue);
      else if (!edge) general.push(issue);
    }
    const byNode: Record<string, Issue[]> = {};
    for (const [id, list] of Object.entries(nodeGroups)) byNode[id] = sameIssues(prev.byNode[id], list) ? prev.byNode[id] : list;
    const byEdge: Record<string, Issue[]> = {};
    for (const [id, list] of Object.entries(edgeGroups)) byEdge[id] = sameIssues(prev.byEdge[id], list) ? prev.byEdge[id] : list;
    set({ byNode, byEdge, general, all: issues, checking: false, ...(folder !== undefined ? { folder } : {}) });
  },
}));

const none: Issue[] = [];

export function useNodeIssues(nodeId: string): Issue[] {
  return useIssues((s) => s.byNode[nodeId] ?? none);
}
