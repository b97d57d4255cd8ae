/** View state that is not part of the document: the open preview, panels. */
import { create } from 'zustand';
import type { RunImage } from '../api/types';

interface UiState {
  /** The image shown large, with the list it belongs to (for next/previous). */
  preview?: { images: RunImage[]; index: number };
  helpOpen: boolean;
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
  helpOpen: false,
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
