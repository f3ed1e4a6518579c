#!/usr/bin/env node
// Replays a two-process fuzz finding (the file `node scripts/fuzz.mjs --processes 2` saves, or one
// under test/fuzz/open-findings/) N times against the built code and prints each violation with
// how often it came: races between the two engines fail in only some replays.
//   node scripts/replay-pair.mjs FILE [TIMES=20]     (after npm run build)
import { readFileSync } from 'node:fs';

const [file, times = '20'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/replay-pair.mjs FINDING-FILE [TIMES]');
  process.exit(2);
}
const { pairFromFinding, runPair } = await import('../dist/test/fuzz/pair.js');
let a, b;
try {
  [a, b] = pairFromFinding(readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`replay-pair: ${file}: ${err.message}`);
  process.exit(2);
}
const seen = new Map();
for (let i = 0; i < Number(times); i++) for (const v of new Set(await runPair(a, b, { timeoutMs: 10_000, strict: true }))) seen.set(v, (seen.get(v) ?? 0) + 1);
if (seen.size === 0) console.log(`${file}: no violation in ${times} replays`);
for (const [v, n] of seen) console.log(`${file}: ${v} (${n} of ${times} replays)`);
process.exit(seen.size === 0 ? 0 : 1);
