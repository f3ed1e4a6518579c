#!/usr/bin/env node
// Times Coffer's password hash (scrypt at the current parameters) and prints the median of N runs.
// Usage: node scripts/measure-hash.mjs [N]   (after npm install, which builds dist/)
import { CURRENT_PARAMS, hashPassword, verifyPassword } from '../dist/src/users/password.js';

const runs = Number(process.argv[2] ?? 7);
const times = { hash: [], verify: [] };
for (let i = 0; i < runs; i++) {
  let t = performance.now();
  const phc = await hashPassword('correct horse battery staple');
  times.hash.push(performance.now() - t);
  t = performance.now();
  await verifyPassword('correct horse battery staple', phc);
  times.verify.push(performance.now() - t);
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(0);
const { ln, r, p } = CURRENT_PARAMS;
console.log(`scrypt N=2^${ln} r=${r} p=${p} (${(128 * 2 ** ln * r) / 2 ** 20} MiB): hash ${median(times.hash)} ms, verify ${median(times.verify)} ms (median of ${runs})`);
