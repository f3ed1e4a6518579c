/**
 * The short two-process fuzz run of `npm test`: a fixed seed and a bounded number of generated
 * pairs of sessions, each pair on one home through two quota ledgers on one SQLite store (see
 * pair.ts for the invariants). `node scripts/fuzz.mjs --processes 2` runs the same property for a
 * long time with random seeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { installCrashTrap, stats } from './harness.js';
import { sftpPairProperty } from './pair.js';

/** Fixed, so `npm test` is reproducible. */
const SEED = 0x0c0ffe9;
const RUNS = Number(process.env.COFFER_FUZZ_PAIR_RUNS ?? 30);
/** Wall-clock cap, so a slow machine still keeps the suite short. */
const TIME_LIMIT_MS = 20_000;

test('fuzz: two engines on one store and one home keep every invariant, the shared ledger included', { timeout: 120_000 }, async () => {
  installCrashTrap();
  const started = Date.now();
  await fc.assert(sftpPairProperty({ timeoutMs: 10_000 }), { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, includeErrorInReport: true });
  const seconds = (Date.now() - started) / 1000;
  // Both engines wrote: growth went through the shared ledger.
  assert.ok((stats.outcomes.get('write -> status 0') ?? 0) > 0, `no successful WRITE in ${stats.sequences} sessions`);
  assert.ok(stats.sequences >= 20, `only ${stats.sequences} sessions (${stats.sequences / 2} pairs) in ${seconds} s`);
  console.log(`fuzz (2 processes): ${stats.sequences / 2} pairs, ${stats.requests} requests, ${stats.replies} replies in ${seconds.toFixed(1)} s`);
});
