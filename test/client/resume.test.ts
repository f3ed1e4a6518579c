import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { streamHash } from '../../src/client/hash-thread.js';
import { partName, planMessage, planResume, type ResumeInputs } from '../../src/client/resume.js';

const data = Buffer.from('0123456789abcdef');
const sha = (b: Buffer) => createHash('sha256').update(b).digest();

function inputs(over: Partial<ResumeInputs>, calls: string[] = []): ResumeInputs {
  return {
    partSize: 8,
    sourceSize: data.length,
    verify: true,
    localPrefix: async (n) => {
      calls.push(`local ${n}`);
      const h = streamHash('sha256');
      h.update(data.subarray(0, n));
      return h;
    },
    remotePrefix: async (n) => (calls.push(`remote ${n}`), sha(data.subarray(0, n))),
    ...over,
  };
}

describe('resume decisions', () => {
  test('no part file, or an empty one: a fresh start without hashing anything', async () => {
    const calls: string[] = [];
    assert.deepEqual(await planResume(inputs({ partSize: null }, calls)), { kind: 'fresh' });
    assert.deepEqual(await planResume(inputs({ partSize: 0 }, calls)), { kind: 'fresh' });
    assert.deepEqual(calls, []);
  });

  test('equal prefix hashes: resume at the part length, with the local hash ready to continue', async () => {
    const calls: string[] = [];
    const plan = await planResume(inputs({}, calls));
    assert.equal(plan.kind, 'resume');
    assert.deepEqual(calls.sort(), ['local 8', 'remote 8']);
    if (plan.kind !== 'resume') return;
    assert.equal(plan.offset, 8);
    assert.ok(plan.checked);
    plan.hash!.update(data.subarray(8));
    assert.deepEqual(await plan.hash!.digest(), sha(data), 'the hash continues over the whole file');
    assert.equal(planMessage('f', plan), 'Resuming f at 8 bytes');
  });

  test('different prefix hashes: start over, and say why', async () => {
    const plan = await planResume(inputs({ remotePrefix: async () => sha(Buffer.from('different')) }));
    assert.deepEqual(plan, { kind: 'restart', reason: 'the first 8 bytes of the part file differ from the source' });
    assert.equal(planMessage('f', plan), 'f: the first 8 bytes of the part file differ from the source; starting over');
  });

  test('a server that cannot hash the prefix: start over, naming why', async () => {
    const plan = await planResume(inputs({ remotePrefix: async () => Promise.reject(new Error('exec was refused; more')) }));
    assert.deepEqual(plan, { kind: 'restart', reason: 'the server cannot checksum the first 8 bytes (exec was refused)' });
  });

  test('a part longer than the source: start over without hashing', async () => {
    const calls: string[] = [];
    const plan = await planResume(inputs({ partSize: 99 }, calls));
    assert.equal(plan.kind, 'restart');
    assert.deepEqual(calls, []);
  });

  test('a complete part (same length as the source) is checked and resumed at its end', async () => {
    const plan = await planResume(inputs({ partSize: data.length }));
    assert.equal(plan.kind === 'resume' && plan.offset, data.length);
  });

  test('--no-verify: resume blindly, no hashes, and the message says it was not checked', async () => {
    const calls: string[] = [];
    const plan = await planResume(inputs({ verify: false }, calls));
    assert.deepEqual(plan, { kind: 'resume', offset: 8, hash: null, checked: false });
    assert.deepEqual(calls, []);
    assert.equal(planMessage('f', plan), 'Resuming f at 8 bytes (not checked: --no-verify)');
  });

  test('part names sit beside the target', () => {
    assert.equal(partName('/a/b.iso'), '/a/b.iso.coffer-part');
    assert.equal(planMessage('f', { kind: 'fresh' }), null);
  });
});
