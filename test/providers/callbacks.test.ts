import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CallbackReceiver,
  bflVerifier,
  kieSignature,
  kieVerifier,
  unsignedVerifier,
  verifyKieSignature,
} from '../../engine/providers/callbacks';
import type { PollStep } from '../../engine/providers/poll';

let receiver: CallbackReceiver;
beforeEach(async () => {
  receiver = await CallbackReceiver.start();
});
afterEach(async () => {
  await receiver.close();
});

async function post(provider: string, body: unknown, headers: Record<string, string> = {}) {
  const raw = JSON.stringify(body);
  const res = await fetch(receiver.urlFor(provider), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  return res.status;
}

const asStep = (payload: unknown): PollStep<unknown> => ({ state: 'done', value: payload });

describe('callback receiver', () => {
  it('accepts a BFL callback signed with HMAC-SHA256 of the raw body and hands it to the waiter', async () => {
    const secret = receiver.secretFor('bfl');
    receiver.register('bfl', bflVerifier(secret));
    const sub = receiver.subscribe('bfl', 'task-1', asStep);
    const body = { id: 'task-1', status: 'Ready', result: { sample: 'http://x/s.jpeg' } };
    const sig = `sha256=${createHmac('sha256', secret).update(JSON.stringify(body)).digest('hex')}`;
    expect(await post('bfl', body, { 'X-BFL-Signature': sig })).toBe(200);
    await expect(sub.next()).resolves.toEqual({ state: 'done', value: body });
  });

  it.each([
    ['no signature', {}],
    ['a wrong signature', { 'X-BFL-Signature': `sha256=${'0'.repeat(64)}` }],
    ['a signature made with another secret', { 'X-BFL-Signature': `sha256=${createHmac('sha256', 'other').update('{}').digest('hex')}` }],
  ])('refuses a BFL callback with %s', async (_label, headers) => {
    receiver.register('bfl', bflVerifier(receiver.secretFor('bfl')));
    expect(await post('bfl', { id: 'task-1', status: 'Ready' }, headers)).toBe(401);
    expect(receiver.stats()).toEqual({ accepted: 0, rejected: 1 });
  });

  it('verifies kie signatures over task id and timestamp, and refuses stale timestamps', () => {
    const now = 1_800_000_000;
    const sig = kieSignature('k', 'task_9', String(now));
    expect(verifyKieSignature('k', 'task_9', String(now), sig, { nowSec: now + 10 })).toBe(true);
    expect(verifyKieSignature('k', 'task_8', String(now), sig, { nowSec: now })).toBe(false);
    expect(verifyKieSignature('k', 'task_9', String(now), sig, { nowSec: now + 3600 })).toBe(false);
    expect(verifyKieSignature('k', 'task_9', undefined, sig, { nowSec: now })).toBe(false);
  });

  it('accepts a kie callback with a valid signature and refuses a forged one', async () => {
    receiver.register('kie', kieVerifier('hmac-key'));
    const ts = String(Math.floor(Date.now() / 1000));
    const body = { code: 200, data: { taskId: 'task_7', state: 'success' } };
    expect(await post('kie', body, { 'X-Webhook-Timestamp': ts, 'X-Webhook-Signature': kieSignature('hmac-key', 'task_7', ts) })).toBe(200);
    expect(await post('kie', body, { 'X-Webhook-Timestamp': ts, 'X-Webhook-Signature': kieSignature('wrong', 'task_7', ts) })).toBe(401);
  });

  it('turns an unsigned callback into a nudge, never a result', async () => {
    receiver.register('crun', unsignedVerifier((b) => (b as { task_id?: string }).task_id));
    const sub = receiver.subscribe('crun', 'task_3', asStep);
    expect(await post('crun', { task_id: 'task_3', status: 'success' })).toBe(200);
    await expect(sub.next()).resolves.toEqual({ state: 'pending', status: 'callback received' });
  });

  it('replays a callback that arrived before anyone waited', async () => {
    receiver.register('crun', unsignedVerifier((b) => (b as { task_id?: string }).task_id));
    expect(await post('crun', { task_id: 'early' })).toBe(200);
    const sub = receiver.subscribe('crun', 'early', asStep);
    await expect(sub.next()).resolves.toMatchObject({ state: 'pending' });
  });

  it('answers 404 for providers that registered no verifier', async () => {
    expect(await post('novita', { task_id: 'x' })).toBe(404);
  });
});

describe('callback receiver bookkeeping', () => {
  it('turns a refused BFL callback for a waited-on task into a nudge, never a result', async () => {
    receiver.register('bfl', bflVerifier(receiver.secretFor('bfl')));
    const sub = receiver.subscribe('bfl', 'task-5', asStep);
    expect(await post('bfl', { id: 'task-5', status: 'Ready' }, { 'X-BFL-Signature': `sha256=${'0'.repeat(64)}` })).toBe(401);
    await expect(sub.next()).resolves.toEqual({ state: 'pending', status: 'callback received' });
    expect(receiver.stats()).toEqual({ accepted: 0, rejected: 1 });
  });

  it('hands a kept callback to one waiter only', async () => {
    receiver.register('crun', unsignedVerifier((b) => (b as { task_id?: string }).task_id));
    expect(await post('crun', { task_id: 'once' })).toBe(200);
    const first = receiver.subscribe('crun', 'once', asStep);
    await expect(first.next()).resolves.toMatchObject({ state: 'pending' });
    first.close();
    const second = receiver.subscribe('crun', 'once', asStep);
    const next = await Promise.race([second.next(), new Promise((r) => setTimeout(() => r('nothing'), 50))]);
    expect(next).toBe('nothing');
    second.close();
  });

  it('keeps callbacks of many tasks apart', async () => {
    receiver.register('crun', unsignedVerifier((b) => (b as { task_id?: string }).task_id));
    for (let i = 0; i < 50; i++) expect(await post('crun', { task_id: `t${i}` })).toBe(200);
    const sub = receiver.subscribe('crun', 't37', asStep);
    await expect(sub.next()).resolves.toMatchObject({ state: 'pending' });
    const none = await Promise.race([sub.next(), new Promise((r) => setTimeout(() => r('nothing'), 50))]);
    expect(none).toBe('nothing');
  });
});
