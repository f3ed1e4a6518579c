/**
 * Imports point downward only (docs/ARCHITECTURE.md): for the lower layers, the other layers of
 * src/ each may import, types included. util/ used to import config/'s log types, and scp/
 * sftp/'s status texts (issue 21 item 7). And one wire format (item 5): sftp/'s codec imports
 * nothing outside itself but node:buffer, and the client takes only the codec from sftp/.
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
  // The quota's refusal reaches the protocols as a vfs error code (QUOTA_EXCEEDED, UNAVAILABLE).
  scp: ['vfs', 'util', 'events'],
  sftp: ['vfs', 'util', 'events'],
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

/** The codec: constants, errors, reader/writer, framing, the request types and packets/. */
const CODEC = ['sftp/constants.ts', 'sftp/errors.ts', 'sftp/reader.ts', 'sftp/writer.ts', 'sftp/framing.ts', 'sftp/request-types.ts'];
const isCodec = (file: string) => CODEC.includes(file) || file.startsWith('sftp/packets/');

/** `file: import` for every import of the .ts files under `dir` (relative ones as paths under src/). */
function allImports(dir: string): Array<{ file: string; target: string }> {
  const out: Array<{ file: string; target: string }> = [];
  for (const f of readdirSync(join(SRC, dir), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'))) {
    const path = join(SRC, dir, f);
    for (const [, spec] of readFileSync(path, 'utf8').matchAll(/from '([^']+)'/g)) {
      const target = spec!.startsWith('.') ? relative(SRC, resolve(dirname(path), spec!)).replace(/\.js$/, '.ts') : spec!;
      out.push({ file: relative(SRC, path), target });
    }
  }
  return out;
}

describe('one wire format', () => {
  it('the codec imports nothing but itself and node:buffer', () => {
    const bad = allImports('sftp')
      .filter(({ file, target }) => isCodec(file) && !isCodec(target) && target !== 'node:buffer')
      .map(({ file, target }) => `${file}: ${target}`);
    assert.deepEqual(bad, []);
  });

  it('the client imports only the codec from sftp/', () => {
    const bad = allImports('client')
      .filter(({ target }) => target.startsWith('sftp/') && !isCodec(target))
      .map(({ file, target }) => `${file}: ${target}`);
    assert.deepEqual(bad, []);
  });
});

describe('layer imports', () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${allowed.join(', ') || 'itself'}`, () => {
      const bad = importsOf(layer).filter((line) => !allowed.includes(line.split(': ')[1]!));
      assert.deepEqual(bad, []);
    });
  }
});
