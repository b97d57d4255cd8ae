/** Entry: load the node catalog and providers from the server, restore the autosave, render. */
import '@xyflow/react/dist/style.css';
import './styles.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { api } from './api/client';
import { App } from './App';
import { openStartupFile } from './documents/document-actions';
import { useCatalog } from './state/catalog-store';
import { restoreAutosave, startEffects } from './state/effects';
import { reattachToActiveRun } from './state/run-controller';

async function boot(): Promise<void> {
  startEffects();
  try {
    const [nodes, providers] = await Promise.all([api.nodes(), api.providers()]);
    useCatalog.getState().setProviders(providers);
    restoreAutosave();
    useCatalog.getState().setCatalog(nodes);
    void openStartupFile();
    void reattachToActiveRun();
  } catch (e) {
    useCatalog.getState().setError(e instanceof Error ? e.message : String(e));
  }
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
void boot();
