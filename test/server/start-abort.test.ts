/**
 * startServer under a stop signal, in process. The stop is requested at the start's 1st, 2nd, ...
 * check of the signal (every step boundary), and after 0, 1, 2, ... event-loop turns (while a step
 * waits for the disk), until the start completes first. A stopped start rejects with the signal's
 * reason, logs `shutdown` (naming the step) and `shutdown.done`, and leaves the database closed
 * and no listener.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { startServer } from '../../src/server/server.js';
import { createLogger } from '../../src/util/logger.js';
import { LogCapture } from '../support/log-capture.js';
import { freshRoot } from '../support/server-process.js';
import { dbState, freePort, refusesConnections } from '../support/signal-runs.js';
import { TEST_SCRYPT } from '../support/test-server.js';

const stopReason = new Error('stop requested');

/** When the stop comes: before the start, at its Nth check of the signal, or after N event-loop turns. */
type StopAt = { before: true } | { check: number } | { turns: number };

/** A signal that aborts at its Nth throwIfAborted() call: the stop arrives exactly at that check. */
function abortingAtCheck(controller: AbortController, n: number): AbortSignal {
  const signal = controller.signal;
  let checks = 0;
  signal.throwIfAborted = function (this: AbortSignal) {
    if (checks++ === n) controller.abort(stopReason);
    AbortSignal.prototype.throwIfAborted.call(this);
  };
  return signal;
}

async function startStopped(at: StopAt) {
  const root = await freshRoot('coffer-start-abort-');
  const port = await freePort();
  const config = loadConfig({ flags: { host: '127.0.0.1', port: String(port), logFormat: 'json', logLevel: 'info' }, rootFlag: root, env: {}, stdoutIsTTY: false });
  const logs = new LogCapture();
  const logger = createLogger({ level: 'info', format: 'json', destination: logs });
  const controller = new AbortController();
  if ('before' in at) controller.abort(stopReason);
  const signal = 'check' in at ? abortingAtCheck(controller, at.check) : controller.signal;
  const settled = startServer(config, { logger, scrypt: TEST_SCRYPT, signal }).then(
    (server) => ({ server }),
    (err: unknown) => ({ err }),
  );
  if ('turns' in at) {
    for (let i = 0; i < at.turns; i++) await new Promise((resolve) => setImmediate(resolve));
    controller.abort(stopReason);
  }
  return { root, port, logs, outcome: await settled };
}

/**
 * Stops starts at `at(0)`, `at(1)`, ... until one completes; checks every stopped one and returns
 * how many stopped at each step, as `step (open: ...)`.
 */
async function sweep(at: (i: number) => StopAt): Promise<Map<string, number>> {
  const stages = new Map<string, number>();
  for (let i = 0; i < 500; i++) {
    const { root, port, logs, outcome } = await startStopped(at(i));
    try {
      if ('server' in outcome) {
        await outcome.server.close(); // the start won the race: every point before it was tried
        stages.set('started', 1);
        return stages;
      }
      assert.equal(outcome.err, stopReason, `stop ${i}: rejected with ${String(outcome.err)}`);
      const stop = logs.events('shutdown')[0];
      assert.ok(stop && typeof stop.step === 'string', `stop ${i}: shutdown line ${JSON.stringify(logs.lines)}`);
      assert.equal(logs.events('shutdown.done').length, 1, `stop ${i}: shutdown.done`);
      const key = `${stop.step as string} (open: ${(stop.open as string[]).join(' ') || 'nothing'})`;
      stages.set(key, (stages.get(key) ?? 0) + 1);
      const db = dbState(root);
      if (db.exists) {
        assert.equal(db.walBytes, null, `stop ${i}: coffer.db-wal left behind`);
        assert.equal(db.shm, false, `stop ${i}: coffer.db-shm left behind`);
        assert.equal(db.integrity, 'ok');
      }
      assert.ok(await refusesConnections(port), `stop ${i}: the port still accepts`);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
  throw new Error('the start did not complete within 500 stops');
}

const describeStages = (stages: Map<string, number>) => [...stages].map(([k, v]) => `${k}: ${v}`).join('; ');

describe('startServer stopped part-way', () => {
  it('a stop at every check of the signal: each step boundary, with what is open closed', async (t) => {
    const stages = await sweep((check) => ({ check }));
    t.diagnostic(describeStages(stages));
    // Checks before and after each step: the stop is seen with 0, 1, 2, 3 and 4 things open.
    assert.deepEqual([...stages.keys()], [
      'start (open: nothing)',
      'host keys (open: nothing)',
      'database (open: database)',
      'quota ledger (open: database quota ledger)',
      'watchdog (open: database quota ledger watchdog)',
      'listen (open: database quota ledger watchdog listen)',
      'started',
    ]);
  });

  it('a stop after every event-loop turn of the start (while it waits for the disk)', async (t) => {
    const stages = await sweep((turns) => ({ turns }));
    t.diagnostic(describeStages(stages));
    assert.ok(stages.has('started'));
    assert.ok([...stages.keys()].some((k) => k.startsWith('host keys')), describeStages(stages));
  });

  it('a stop requested before the start: nothing is opened, and both log lines are written', async () => {
    const { root, port, logs, outcome } = await startStopped({ before: true });
    try {
      assert.ok('err' in outcome && outcome.err === stopReason);
      assert.deepEqual(
        logs.lines.map((l) => [l.event, l.step, l.open]),
        [
          ['shutdown', 'start', []],
          ['shutdown.done', undefined, undefined],
        ],
      );
      assert.equal(dbState(root).exists, false);
      assert.ok(await refusesConnections(port));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
