/**
 * bin/coffer.js runs the client bundle when it is at least as new as the compiled modules, and the
 * modules otherwise (no bundle, or tsc run alone after it): never a stale bundle. It uses the
 * bundle's V8 code cache only when the cache was made from the bundle's exact bytes. And the bundle
 * `npm run build` made is current, finds ssh2's native crypto binding from where it lies, and
 * starts with its code cache.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { PROJECT, tempDir } from '../support/run-cli.js';

const BUNDLE = 'dist/src/client/coffer.bundle.cjs';
const CACHE = 'dist/src/client/coffer.bundle.cache';
const MODULES = 'dist/src/cli/client/main.js';

describe('the coffer launcher', () => {
  test('bundle when current, the modules when the bundle is missing or older', async () => {
    const dir = tempDir();
    const root = dir.path;
    try {
      await mkdir(join(root, 'bin'));
      await copyFile(join(PROJECT, 'bin/coffer.js'), join(root, 'bin/coffer.js'));
      await copyFile(join(PROJECT, 'bin/code-cache.cjs'), join(root, 'bin/code-cache.cjs'));
      await writeFile(join(root, 'package.json'), '{"type":"module"}');
      const write = async (rel: string, text: string) => {
        await mkdir(dirname(join(root, rel)), { recursive: true });
        await writeFile(join(root, rel), text);
      };
      const run = () => spawnSync(process.execPath, [join(root, 'bin/coffer.js')], { encoding: 'utf8' }).stdout.trim();
      await write(MODULES, "console.log('modules')");
      assert.equal(run(), 'modules', 'no bundle');
      await write(BUNDLE, "console.log('bundle')");
      const t = Date.now() / 1000;
      await utimes(join(root, MODULES), t - 10, t - 10);
      await utimes(join(root, BUNDLE), t, t);
      assert.equal(run(), 'bundle', 'bundle newer');
      await utimes(join(root, MODULES), t + 10, t + 10);
      assert.equal(run(), 'modules', 'tsc ran after the bundle');
    } finally {
      dir.remove();
    }
  });

  test('the code cache is used only for the bytes it was made from', async () => {
    const dir = tempDir();
    const root = dir.path;
    try {
      await mkdir(join(root, 'bin'));
      await mkdir(join(root, 'dist/src/client'), { recursive: true });
      await copyFile(join(PROJECT, 'bin/coffer.js'), join(root, 'bin/coffer.js'));
      await copyFile(join(PROJECT, 'bin/code-cache.cjs'), join(root, 'bin/code-cache.cjs'));
      await writeFile(join(root, 'package.json'), '{"type":"module"}');
      const run = () => spawnSync(process.execPath, [join(root, 'bin/coffer.js'), '--debug'], { encoding: 'utf8' });
      const cacheLine = (stderr: string) => /debug: code cache: (.*)/.exec(stderr)?.[1];
      await writeFile(join(root, BUNDLE), "console.log('AAAA')");
      let r = run();
      assert.equal(r.stdout.trim(), 'AAAA');
      assert.match(cacheLine(r.stderr) ?? '', /^none/);
      const made = spawnSync(process.execPath, [join(PROJECT, 'scripts/write-code-cache.cjs'), join(root, BUNDLE), join(root, CACHE)], { encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      r = run();
      assert.equal(r.stdout.trim(), 'AAAA');
      assert.equal(cacheLine(r.stderr), 'used');
      // Same length, other code: V8 alone would accept the cache and run the old code (AAAA).
      await writeFile(join(root, BUNDLE), "console.log('BBBB')");
      r = run();
      assert.equal(r.stdout.trim(), 'BBBB');
      assert.match(cacheLine(r.stderr) ?? '', /^not used/);
      // A damaged header is no cache either.
      const cache = await readFile(join(root, CACHE));
      await writeFile(join(root, CACHE), cache.subarray(0, 10));
      r = run();
      assert.equal(r.stdout.trim(), 'BBBB');
      assert.match(cacheLine(r.stderr) ?? '', /^not used/);
    } finally {
      dir.remove();
    }
  });

  test("the built bundle is current and reaches ssh2's crypto binding", async () => {
    const bundle = join(PROJECT, BUNDLE);
    assert.ok(statSync(bundle).mtimeMs >= statSync(join(PROJECT, MODULES)).mtimeMs, 'npm run build made the bundle after tsc');
    const text = await readFile(bundle, 'utf8');
    const m = /require\("([^"]*sshcrypto\.node)"\)/.exec(text);
    assert.ok(m, 'the binding is required from outside the bundle');
    const binding = join(PROJECT, 'node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
    if (existsSync(binding)) assert.equal(createRequire(bundle).resolve(m[1]!), binding);
    const r = spawnSync(process.execPath, [join(PROJECT, 'bin/coffer.js'), '--debug', '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /debug: code cache: used/, 'npm run build made a code cache this Node accepts');
    assert.ok(existsSync(join(PROJECT, CACHE)));
  });
});
