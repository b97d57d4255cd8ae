import { describe, expect, it } from 'vitest';
import { COALESCE_MS, emptyHistory, HISTORY_LIMIT, recordChange, redoChange, undoChange } from '../../editor/state/history';

describe('undo/redo history', () => {
  it('undoes and redoes in order', () => {
    let h = emptyHistory<number>();
    h = recordChange(h, 1, undefined, 0);
    h = recordChange(h, 2, undefined, 0);
    const u1 = undoChange(h, 3);
    expect(u1.state).toBe(2);
    const u2 = undoChange(u1.history, 2);
    expect(u2.state).toBe(1);
    const r1 = redoChange(u2.history, 1);
    expect(r1.state).toBe(2);
    expect(redoChange(r1.history, 2).state).toBe(3);
  });

  it('coalesces quick edits of the same field into one step', () => {
    let h = emptyHistory<string>();
    h = recordChange(h, 'a', 'param:x', 0);
    h = recordChange(h, 'ab', 'param:x', 100);
    h = recordChange(h, 'abc', 'param:x', 200);
    expect(h.past).toEqual(['a']);
    h = recordChange(h, 'abcd', 'param:x', 200 + COALESCE_MS + 1);
    expect(h.past).toEqual(['a', 'abcd']);
  });

  it('a new change clears the redo stack and the stack is bounded', () => {
    let h = emptyHistory<number>();
    for (let i = 0; i < HISTORY_LIMIT + 10; i++) h = recordChange(h, i, undefined, i);
    expect(h.past.length).toBe(HISTORY_LIMIT);
    const u = undoChange(h, 999);
    expect(u.history.future).toEqual([999]);
    expect(recordChange(u.history, 5).future).toEqual([]);
  });
});
