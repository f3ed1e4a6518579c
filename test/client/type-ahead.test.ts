/**
 * TypeAhead (the shell's terminal input): one line reaches readline per release(), the rest waits
 * in order; Ctrl-C while a line runs interrupts and drops the type-ahead before it; the terminal's
 * raw mode and its end pass through.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { TypeAhead } from '../../src/client/type-ahead.js';

/** A fake terminal, the TypeAhead on it, and what readline would have read so far. */
function setup() {
  const term = Object.assign(new PassThrough(), { isRaw: false, setRawMode(mode: boolean) { this.isRaw = mode; } });
  let interrupts = 0;
  const gate = new TypeAhead(term, () => interrupts++);
  let read = '';
  gate.on('data', (d: Buffer) => (read += d.toString('latin1')));
  const type = async (text: string) => {
    term.write(Buffer.from(text, 'latin1'));
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { term, gate, type, read: () => read, interrupts: () => interrupts };
}

describe('TypeAhead', () => {
  it('passes text up to the first line end, then holds the rest until release()', async () => {
    const t = setup();
    await t.type('mkdir x\rcd comp');
    assert.equal(t.read(), 'mkdir x\r');
    await t.type('\t');
    assert.equal(t.read(), 'mkdir x\r');
    t.gate.release();
    assert.equal(t.read(), 'mkdir x\rcd comp\t');
    await t.type('x\ry\rz');
    assert.equal(t.read(), 'mkdir x\rcd comp\tx\r');
    t.gate.release();
    assert.equal(t.read(), 'mkdir x\rcd comp\tx\ry\r');
    t.gate.release();
    assert.equal(t.read(), 'mkdir x\rcd comp\tx\ry\rz');
  });

  it('CR LF is one line end; LF alone ends a line too', async () => {
    const t = setup();
    await t.type('a\r\nb\nc');
    assert.equal(t.read(), 'a\r\n');
    t.gate.release();
    assert.equal(t.read(), 'a\r\nb\n');
  });

  it('Ctrl-C while a line runs interrupts and drops what was typed before it, keeping what follows', async () => {
    const t = setup();
    await t.type('put big\rls\r');
    await t.type('pw\x03d');
    assert.equal(t.interrupts(), 1);
    t.gate.release();
    assert.equal(t.read(), 'put big\rd');
  });

  it('Ctrl-C at the prompt goes to readline (it clears the line)', async () => {
    const t = setup();
    await t.type('ab\x03');
    assert.equal(t.interrupts(), 0);
    assert.equal(t.read(), 'ab\x03');
  });

  it('raw mode is the terminal\'s; the end of the terminal ends the stream once released', async () => {
    const t = setup();
    t.gate.setRawMode(true);
    assert.equal(t.term.isRaw, true);
    assert.equal(t.gate.isRaw, true);
    let ended = false;
    t.gate.on('end', () => (ended = true));
    await t.type('quit\rrest');
    t.term.end();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ended, false, 'held text first');
    t.gate.release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(t.read(), 'quit\rrest');
    assert.equal(ended, true);
  });
});
