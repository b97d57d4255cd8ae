/** View state that is not part of the document: the open preview, panels. */
import { create } from 'zustand';
import type { RunImage } from '../api/types';

const REUSE_SEEDS_KEY = 'fluxgraph.editor.reuseSeeds';
const MINIMAP_KEY = 'fluxgraph.editor.minimap';

function stored(key: string, fallback: boolean): boolean {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : v === 'true';
  } catch {
    return fallback;
  }
}

function store(key: string, value: boolean): void {
  try {
    localStorage.setItem(key, String(value));
  } catch {
    // only the preference is lost
  }
}

function storedReuseSeeds(): boolean {
  try {
    return localStorage.getItem(REUSE_SEEDS_KEY) !== 'false';
  } catch {
    return true;
  }
}

interface UiState {
  /** Runs reuse the previous run's random seeds (same drafts, cached results free). */
  reuseSeeds: boolean;
  setReuseSeeds(reuse: boolean): void;
  /** The minimap is shown (a preference kept in local storage). */
  minimap: boolean;
  setMinimap(shown: boolean): void;
  /** The image shown large, with the list it belongs to (for next/previous). */
  preview?: { images: RunImage[]; index: number };
  helpOpen: boolean;
  /** The Open or Save dialog (files in the server's base folder, templates). */
  documentsDialog?: 'open' | 'save';
  setDocumentsDialog(which: 'open' | 'save' | undefined): void;
  galleryTab: 'images' | 'history';
  /** A past run whose images the gallery shows instead of the live run's. */
  historyRunId?: string;
  openPreview(images: RunImage[], index: number): void;
  closePreview(): void;
  stepPreview(delta: number): void;
  setHelpOpen(open: boolean): void;
  setGalleryTab(tab: UiState['galleryTab']): void;
  showHistoryRun(runId: string | undefined): void;
}

export const useUi = create<UiState>()((set) => ({
  reuseSeeds: typeof localStorage === 'undefined' ? true : storedReuseSeeds(),
  setReuseSeeds: (reuseSeeds) => {
    try {
      localStorage.setItem(REUSE_SEEDS_KEY, String(reuseSeeds));
    } catch {
      // only the preference is lost
    }
    set({ reuseSeeds });
  },
  minimap: typeof localStorage === 'undefined' ? true : stored(MINIMAP_KEY, true),
  setMinimap: (minimap) => {
    store(MINIMAP_KEY, minimap);
    set({ minimap });
  },
  helpOpen: false,
  setDocumentsDialog: (documentsDialog) => set({ documentsDialog }),
  galleryTab: 'images',
  openPreview: (images, index) => set({ preview: { images, index } }),
  closePreview: () => set({ preview: undefined }),
  stepPreview: (delta) =>
    set((s) => {
      if (!s.preview) return {};
      const n = s.preview.images.length;
      return { preview: { ...s.preview, index: (s.preview.index + delta + n) % n } };
    }),
  setHelpOpen: (helpOpen) => set({ helpOpen }),
  setGalleryTab: (galleryTab) => set({ galleryTab }),
  showHistoryRun: (historyRunId) => set({ historyRunId, galleryTab: 'images' }),
}));
