/**
 * On a list node (a row source: prompt-list, image-folder): how many rows it has and its first
 * entries, from the estimate the editor already refreshes as the document changes.
 */
import { useEstimate } from '../state/estimate-store';

export function ListPreview({ nodeId }: { nodeId: string }) {
  const source = useEstimate((s) => s.estimate?.batch?.sources[nodeId]);
  if (!source) return null;
  return (
    <div className="fg-node-list" data-testid="list-preview" data-count={source.count}>
      <b>
        {source.count} row{source.count === 1 ? '' : 's'}
      </b>
      {source.preview.length ? (
        <ol>
          {source.preview.map((entry, i) => (
            <li key={i} title={entry}>
              {entry}
            </li>
          ))}
          {source.count > source.preview.length ? <li className="fg-muted">…</li> : null}
        </ol>
      ) : null}
    </div>
  );
}
