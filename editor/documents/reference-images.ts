/**
 * Reference images from the browser (drop, paste, pick): the server writes the file into
 * assets/ beside the document, and a reference-image node points at it with a path relative
 * to the document, so `fluxgraph run` of the saved file finds it.
 */
import type { XYPosition } from '@xyflow/react';
import { api } from '../api/client';
import { freeSpot } from '../flow/placement';
import { nodeBoxes, useEditor } from '../state/editor-store';

export const REFERENCE_TYPE = 'reference-image';

async function upload(file: File): Promise<string | undefined> {
  const editor = useEditor.getState();
  try {
    const asset = await api.uploadAsset(await file.arrayBuffer(), file.name || 'pasted.png', editor.source);
    editor.notify('info', `saved ${file.name || 'the image'} as ${asset.path} (${asset.width}×${asset.height})`);
    return asset.source;
  } catch (e) {
    editor.notify('error', `could not add ${file.name || 'the image'}: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/** Uploads the image and points an existing reference-image node at it. */
export async function setReferenceImage(nodeId: string, file: File): Promise<void> {
  const source = await upload(file);
  if (source !== undefined) useEditor.getState().setParam(nodeId, 'source', source);
}

/** Uploads the image and adds a reference-image node for it near `at` (in free space). */
export async function addReferenceImage(file: File, at: XYPosition): Promise<string | undefined> {
  const source = await upload(file);
  if (source === undefined) return undefined;
  const s = useEditor.getState();
  return s.addNode(REFERENCE_TYPE, freeSpot(nodeBoxes(s.nodes), at), { source });
}

/** The reference-image node under a DOM event's target, if any. */
export function referenceNodeAt(target: EventTarget | null): string | undefined {
  const el = (target as HTMLElement | null)?.closest?.('.react-flow__node') as HTMLElement | null;
  const id = el?.dataset.id;
  if (!id) return undefined;
  return useEditor.getState().nodes.find((n) => n.id === id)?.data.type === REFERENCE_TYPE ? id : undefined;
}
