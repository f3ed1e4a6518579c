/**
 * bin/coffer.js runs the client bundle when it is at least as new as the compiled modules, and the
 * modules otherwise (no bundle, or tsc run alone after it): never a stale bundle. And the bundle
 * `npm run build` made is current and finds ssh2's native crypto binding from where it lies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { PROJECT, tempDir } from '../support/run-cli.js';

const BUNDLE = 'dist/src/client/coffer.bundle.mjs';
const MODULES = 'dist/src/cli/client/main.js';

describe('the coffer launcher', () => {
  test('bundle when current, the modules when the bundle is missing or older', async () => {
    const dir = tempDir();
    const root = dir.path;
    try {
      await mkdir(join(root, 'bin'));
      await copyFile(join(PROJECT, 'bin/coffer.js'), join(root, 'bin/coffer.js'));
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

  test("the built bundle is current and reaches ssh2's crypto binding", async () => {
    const bundle = join(PROJECT, BUNDLE);
    assert.ok(statSync(bundle).mtimeMs >= statSync(join(PROJECT, MODULES)).mtimeMs, 'npm run build made the bundle after tsc');
    const text = await readFile(bundle, 'utf8');
    const m = /__require\("([^"]*sshcrypto\.node)"\)/.exec(text);
    assert.ok(m, 'the binding is required from outside the bundle');
    const binding = join(PROJECT, 'node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node');
    if (existsSync(binding)) assert.equal(createRequire(bundle).resolve(m[1]!), binding);
  });
});
