/**
 * lowerThreadPriority (src/util/thread-priority.ts) lowers the calling thread only, never raises
 * it, stops at 19, and says what it did (Linux; elsewhere it returns null and changes nothing).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

const mod = new URL('../../src/util/thread-priority.js', import.meta.url).href;

/** Runs `body` in a new worker thread with lowerThreadPriority in scope; resolves its result. */
function inWorker(body: string): Promise<unknown> {
  const code = `import { parentPort } from 'node:worker_threads'; import { getPriority } from 'node:os'; import { lowerThreadPriority } from ${JSON.stringify(mod)}; parentPort.postMessage(await (async () => { ${body} })());`;
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
    w.once('message', (m) => (resolve(m), void w.terminate()));
    w.once('error', reject);
  });
}

describe('lowerThreadPriority', () => {
  it('lowers the calling thread, not the process, never raises, and stops at 19', { skip: !existsSync('/proc/thread-self') && 'no /proc/thread-self' }, async () => {
    const main = getPriority();
    const r = (await inWorker(`
      const tid = Number((await import('node:fs')).readlinkSync('/proc/thread-self').split('/').pop());
      const start = getPriority(tid);
      const lowered = lowerThreadPriority(3);
      const after = getPriority(tid);
      const notRaised = lowerThreadPriority(-5);
      const capped = lowerThreadPriority(40);
      return { start, lowered, after, notRaised, capped, process: getPriority(process.pid) };
    `)) as Record<string, number>;
    assert.equal(r.start, main);
    assert.equal(r.lowered, Math.min(19, main + 3));
    assert.equal(r.after, r.lowered);
    assert.equal(r.notRaised, r.lowered);
    assert.equal(r.capped, 19);
    assert.equal(r.process, main, "the process's main thread keeps its priority");
    assert.equal(getPriority(), main);
  });
});
