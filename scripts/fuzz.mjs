#!/usr/bin/env node
// The long fuzz run (`npm run fuzz`): the property of test/fuzz/harness.ts and those of the scp
// pattern matcher (test/fuzz/glob-properties.ts), compiled (so run `npm run build` first), in
// rounds with random seeds until --minutes M (default 30) have passed. Prints progress every
// minute; on a failure prints the seed, fast-check's shrunk counterexample and the violations,
// saves them to a file under the temp folder, and exits 1.
//
//   node scripts/fuzz.mjs [--minutes 30] [--seed N] [--runs 100] [--timeout-ms 20000] [--strict] [--keep-going] [--only sftp|glob] [--processes 1|2]
//
// --seed fixes the first round's seed (then seed+1, ...); --runs is sessions per round (each round
// also checks 20x as many pattern/name pairs against the RegExp reference and 2x as many hostile
// patterns for time); --strict fails on the known findings too (see KNOWN_FINDINGS in
// test/fuzz/harness.ts); --keep-going reports each finding and carries on with the next seed until
// the time is up (then exits 1); --only runs one family of properties. --processes 2 runs the sftp
// family in two-process mode (test/fuzz/pair.ts): each case is two sessions driven at once on one
// home, each through its own quota ledger on its own connection to one SQLite store, as two server
// processes; besides each session's invariants it checks the home stays within the quota, the
// store never counts less than the disk once both settled, and a recount makes it equal and sure.
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    seed: { type: 'string' },
    runs: { type: 'string', default: '100' },
    'timeout-ms': { type: 'string', default: '20000' },
    strict: { type: 'boolean', default: false },
    'keep-going': { type: 'boolean', default: false },
    only: { type: 'string' },
    processes: { type: 'string', default: '1' },
  },
});
if (values.only !== undefined && values.only !== 'sftp' && values.only !== 'glob') {
  console.error(`fuzz: --only takes sftp or glob, not ${values.only}`);
  process.exit(2);
}
if (values.processes !== '1' && values.processes !== '2') {
  console.error(`fuzz: --processes takes 1 or 2, not ${values.processes}`);
  process.exit(2);
}
const pair = values.processes === '2';
const minutes = Number(values.minutes);
const runsPerRound = Number(values.runs);
const harness = await import(new URL('../dist/test/fuzz/harness.js', import.meta.url).href).catch((err) => {
  console.error(`fuzz: cannot load dist/test/fuzz/harness.js (run \`npm run build\` first): ${err.message}`);
  process.exit(2);
});
const { installCrashTrap, sftpProperty, stats, KNOWN_FINDINGS } = harness;
const { globAgreementProperty, globCostProperty } = await import(new URL('../dist/test/fuzz/glob-properties.js', import.meta.url).href);
const { sftpPairProperty, pairStats } = await import(new URL('../dist/test/fuzz/pair.js', import.meta.url).href);

installCrashTrap();
/** The properties of a round, each with its runs per round. */
const properties = [
  {
    name: 'sftp',
    property: (pair ? sftpPairProperty : sftpProperty)({ timeoutMs: Number(values['timeout-ms']), strict: values.strict }),
    // A pair is two sessions: half as many cases keep a round about as long.
    runs: pair ? Math.max(1, Math.round(runsPerRound / 2)) : runsPerRound,
  },
  { name: 'glob-agreement', property: globAgreementProperty(), runs: runsPerRound * 20 },
  { name: 'glob-cost', property: globCostProperty(5), runs: runsPerRound * 2 },
].filter((p) => values.only === undefined || p.name.startsWith(values.only));
let globChecks = 0;
const started = Date.now();
const deadline = started + minutes * 60_000;
let rounds = 0;
let findings = 0;

const top = (m, n = 12) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${k}=${v}`).join(' ');

function progress(label) {
  const secs = (Date.now() - started) / 1000;
  const rate = (stats.sequences / Math.max(secs, 1)).toFixed(1);
  const reqRate = (stats.requests / Math.max(secs, 1)).toFixed(0);
  console.log(
    `[fuzz ${label} ${(secs / 60).toFixed(1)} min] sessions=${stats.sequences} (${rate}/s)${pair ? ` pairs=${pairStats.pairs}` : ''} requests=${stats.requests} (${reqRate}/s) ` +
      `replies=${stats.replies} fatal-sessions=${stats.fatalSessions} glob-checks=${globChecks} rounds=${rounds} findings=${findings}`,
  );
  console.log(`  reply kinds/status codes (${stats.replyKinds.size} distinct): ${top(stats.replyKinds, 20)}`);
  console.log(`  request outcomes: ${stats.outcomes.size} distinct kind->reply pairs`);
  if (pair) {
    console.log(
      `  pairs: ${pairStats.pairs}, both sessions changed the home: ${pairStats.bothChanged}, settled usage unsure (recounted): ${pairStats.unsure}, over the disk before the recount: ${pairStats.overBefore}`,
    );
  }
  if (stats.known.size > 0) console.log(`  known findings (counted, not failed on): ${top(stats.known)}`);
  if (stats.warnings.length > 0) console.log(`  process warnings: ${stats.warnings.length} (first: ${stats.warnings[0]})`);
}

const timer = setInterval(() => progress('progress'), 60_000);
timer.unref();
console.log(
  `fuzz: ${minutes} min, ${pair ? 'two processes per sftp case, ' : ''}${properties.map((p) => `${p.name} x${p.runs}`).join(', ')} per round, known findings tolerated: ${values.strict ? 'none (--strict)' : KNOWN_FINDINGS.map((k) => k.id).join(', ')}`,
);

let seed = values.seed !== undefined ? Number(values.seed) : randomInt(2 ** 31);
while (Date.now() < deadline) {
  for (const { name, property, runs } of properties) {
    const details = await fc.check(property, { seed, numRuns: runs, interruptAfterTimeLimit: Math.max(1000, deadline - Date.now()) });
    if (name !== 'sftp') globChecks += details.numRuns;
    if (details.failed) {
      findings += 1;
      const counterexample = fc.stringify(details.counterexample);
      const error = String(details.errorInstance?.message ?? details.error);
      const file = join(tmpdir(), `coffer-fuzz-finding-${name}-${details.seed}.txt`);
      const report = `property: ${name}\nseed: ${details.seed}\npath: ${details.counterexamplePath}\nshrinks: ${details.numShrinks}\ncounterexample:\n${counterexample}\n\n${error}\n`;
      writeFileSync(file, report);
      progress('FINDING');
      console.log(`\nFINDING ${findings} after ${((Date.now() - started) / 60_000).toFixed(1)} min\n${report}(saved to ${file})\n`);
      if (!values['keep-going']) process.exit(1);
    }
  }
  rounds += 1;
  seed = (seed + 1) % 2 ** 31;
}
progress('done');
console.log(findings === 0 ? `fuzz: ${minutes} min, no new finding` : `fuzz: ${minutes} min, ${findings} finding(s), see above`);
process.exit(findings === 0 ? 0 : 1);
