/**
 * Imports point downward only (docs/ARCHITECTURE.md): for the lower layers, the other layers of
 * src/ each may import, types included. util/ used to import config/'s log types, and scp/
 * sftp/'s status texts (issue 21 item 7).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const SRC = new URL('../../../src/', import.meta.url).pathname;

/** The layers of src/ that each layer may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  util: [],
  events: [],
  vfs: ['quota', 'util'],
  scp: ['vfs', 'quota', 'util', 'events'],
  sftp: ['vfs', 'quota', 'util', 'events'],
  monitor: ['events', 'util'],
  hooks: ['events', 'util'],
};

/** `layer/file: imported layer` for every relative import of a file in `layer` that leaves it. */
function importsOf(layer: string): string[] {
  const out: string[] = [];
  for (const file of readdirSync(join(SRC, layer), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'))) {
    const path = join(SRC, layer, file);
    for (const [, spec] of readFileSync(path, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = relative(SRC, resolve(dirname(path), spec!)).split('/')[0]!;
      if (target !== layer) out.push(`${layer}/${file}: ${target}`);
    }
  }
  return out;
}

describe('layer imports', () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${allowed.join(', ') || 'itself'}`, () => {
      const bad = importsOf(layer).filter((line) => !allowed.includes(line.split(': ')[1]!));
      assert.deepEqual(bad, []);
    });
  }
});
