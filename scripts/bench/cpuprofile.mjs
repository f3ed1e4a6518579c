#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): where the self time goes, by function and
// by area (ssh2, Coffer, Node core, GC, idle).
// Usage: node scripts/bench/cpuprofile.mjs FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Which part of the program a call frame belongs to. */
function area(frame) {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle (waiting for I/O)';
  if (fn === '(garbage collector)') return 'garbage collector';
  if (fn === '(program)') return 'V8/native outside JS (program)';
  if (fn === '(root)') return 'root';
  if (!url) return 'native or builtin (called from JS)';
  if (url.includes('/node_modules/ssh2/')) return 'ssh2 (transport, crypto calls)';
  if (url.includes('/node_modules/')) return `npm: ${url.split('/node_modules/').pop().split('/')[0]}`;
  if (url.includes('/dist/src/')) return `coffer: ${url.split('/dist/src/').pop().split('/')[0]}/`;
  if (url.startsWith('node:')) return 'node core (streams, net, fs)';
  return 'other';
}

function shortUrl(url) {
  if (!url) return '';
  if (url.includes('/node_modules/')) return url.slice(url.lastIndexOf('/node_modules/') + 14);
  if (url.includes('/dist/src/')) return url.slice(url.indexOf('/dist/src/') + 1);
  return url.replace(/^file:\/\//, '');
}

/**
 * Self time per function (summed over the profile's nodes with the same name and location) and per
 * area, in milliseconds, from the sample time deltas.
 */
export function summarizeProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the next delta to this sample (as DevTools does).
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const fns = new Map();
  const areas = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') idleUs += us;
    const key = `${frame.functionName || '(anonymous)'}\t${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    const f = fns.get(key) ?? { name: frame.functionName || '(anonymous)', where: frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '', us: 0, area: area(frame) };
    f.us += us;
    fns.set(key, f);
    const a = area(frame);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  // Inclusive (total) time of Coffer's and ssh2's functions: each sample counts once for every
  // distinct such function on its stack.
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map();
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < timeDeltas.length ? Math.max(0, timeDeltas[i + 1]) : 0;
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id).callFrame;
      if (!frame.url.includes('/dist/src/') && !frame.url.includes('/node_modules/ssh2/')) continue;
      const key = `${frame.functionName || '(anonymous)'}\t${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const f = incl.get(key) ?? { name: frame.functionName || '(anonymous)', where: `${shortUrl(frame.url)}:${frame.lineNumber + 1}`, us: 0 };
      f.us += dt;
      incl.set(key, f);
    }
  }
  const sortDesc = (xs) => xs.sort((x, y) => y.us - x.us);
  return {
    inclusive: sortDesc([...incl.values()]).map((f) => ({ ...f, ms: f.us / 1000 })),
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    functions: sortDesc([...fns.values()]).map((f) => ({ ...f, ms: f.us / 1000 })),
    areas: sortDesc([...areas].map(([name, us]) => ({ name, us }))).map((a) => ({ ...a, ms: a.us / 1000 })),
  };
}

/** Printable lines: areas, then the TOP functions by self time (percent of busy, i.e. non-idle, time). */
export function formatSummary(summary, top = 20) {
  const pct = (ms) => (summary.busyMs > 0 ? ((100 * ms) / summary.busyMs).toFixed(1) : '0.0').padStart(5);
  const lines = [];
  lines.push(`profile: ${(summary.totalMs / 1000).toFixed(2)} s sampled, ${(summary.busyMs / 1000).toFixed(2)} s busy on the main thread, ${(summary.idleMs / 1000).toFixed(2)} s idle`);
  lines.push('  self time by area (% of busy):');
  for (const a of summary.areas.filter((x) => !x.name.startsWith('idle') && x.name !== 'root')) {
    lines.push(`    ${pct(a.ms)}%  ${a.ms.toFixed(0).padStart(7)} ms  ${a.name}`);
  }
  lines.push(`  top ${top} functions by self time (% of busy):`);
  for (const f of summary.functions.filter((x) => x.name !== '(idle)' && x.name !== '(root)').slice(0, top)) {
    lines.push(`    ${pct(f.ms)}%  ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`);
  }
  lines.push(`  top ${Math.ceil(top / 2)} Coffer/ssh2 functions by total time, callees included (% of busy):`);
  for (const f of summary.inclusive.slice(0, Math.ceil(top / 2))) {
    lines.push(`    ${pct(f.ms)}%  ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`);
  }
  return lines;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node scripts/bench/cpuprofile.mjs FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')));
  console.log(formatSummary(summary, Number(process.argv[3] ?? 25)).join('\n'));
}
