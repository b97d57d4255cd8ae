/** The node catalog (descriptors from GET /api/nodes) and the providers the server offers. */
import { create } from 'zustand';
import type { NodeDescriptor } from '../../engine/core/describe';
import type { ProvidersResponse } from '../api/types';
import type { Catalog } from '../flow/flow-mapping';

interface CatalogState {
  descriptors: NodeDescriptor[];
  byType: Catalog;
  providers?: ProvidersResponse;
  loaded: boolean;
  error?: string;
  setCatalog(descriptors: NodeDescriptor[]): void;
  setProviders(providers: ProvidersResponse): void;
  setError(message: string): void;
}

export const useCatalog = create<CatalogState>()((set) => ({
  descriptors: [],
  byType: new Map(),
  loaded: false,
  setCatalog: (descriptors) => set({ descriptors, byType: new Map(descriptors.map((d) => [d.type, d])), loaded: true }),
  setProviders: (providers) => set({ providers }),
  setError: (error) => set({ error }),
}));

export function useDescriptor(type: string): NodeDescriptor | undefined {
  return useCatalog((s) => s.byType.get(type));
}
