#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js, or only those whose path contains one of
// the arguments) with node's test runner. Node 20's `--test DIR` would also load every helper
// module under a test/ folder, hence this list.
//
// The TAP output passes through as it comes; at the end every failed test is printed again with
// its error block, so a log that keeps only its last lines (CI) still names what failed.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = new URL('../dist/test/', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
  .map((f) => join(root, f));
if (files.length === 0) {
  console.error('run-tests: no test files matched');
  process.exit(1);
}

const child = spawn(process.execPath, ['--test', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
/** Failed tests: the names of the suites around them, then the `not ok` line and its YAML block. */
const failures = [];
/** The innermost `# Subtest:` names seen, by indent. */
const names = [];
let block = null;
const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
lines.on('line', (line) => {
  process.stdout.write(line + '\n');
  const indent = line.length - line.trimStart().length;
  const text = line.trim();
  if (block) {
    block.lines.push(line);
    if (text === '...' && indent === block.indent + 2) {
      failures.push(block);
      block = null;
    } else if (block.lines.length > 60) {
      block.lines.push('  (cut)');
      failures.push(block);
      block = null;
    }
    return;
  }
  const sub = /^# Subtest: (.*)$/.exec(text);
  if (sub) {
    names[indent / 4] = sub[1];
    names.length = indent / 4 + 1;
    return;
  }
  if (/^not ok \d+/.test(text)) {
    const path = names.slice(0, indent / 4);
    const name = text.replace(/^not ok \d+ - /, '').replace(/ # .*$/, '');
    block = { indent, path: path.join(' > '), full: [...path, name].join(' > '), lines: [line] };
  }
});
child.on('close', (code, signal) => {
  if (block) failures.push(block);
  // A suite fails when a test inside it fails; print the innermost failures first, and only those
  // suites whose failure is not explained by a failed test inside them.
  const leaves = failures.filter(
    (f) => !failures.some((g) => g.path === f.full || g.path.startsWith(f.full + ' > ')),
  );
  if (leaves.length > 0) {
    process.stdout.write(`\n# run-tests: ${leaves.length} failed test(s)\n`);
    for (const f of leaves) {
      process.stdout.write(`# in: ${f.path || '(top level)'}\n`);
      for (const l of f.lines) process.stdout.write(l + '\n');
    }
  }
  process.exit(code ?? (signal ? 1 : 0));
});
