/**
 * Hook programs and receivers for the hooks tests: a recorder program (a node script run directly,
 * no shell) that saves each event's stdin and environment as one JSON file, a program that hangs,
 * and a node:http receiver that checks X-Coffer-Signature and answers as told.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/** What the recorder saved for one run. */
export interface Recorded {
  event: Record<string, unknown>;
  env: Record<string, string>;
}

/**
 * Writes an executable recorder into `dir`: run as `recorder OUTDIR`, it saves
 * {stdin, env} to OUTDIR/<time>-<pid>.json (written under a temporary name, then renamed).
 */
export async function writeRecorder(dir: string): Promise<string> {
  const path = join(dir, 'record-hook.mjs');
  await writeFile(
    path,
    `#!${process.execPath}
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
const stdin = readFileSync(0, 'utf8');
const out = process.argv[2] + '/' + process.hrtime.bigint() + '-' + process.pid;
writeFileSync(out + '.tmp', JSON.stringify({ stdin, env: process.env }));
renameSync(out + '.tmp', out + '.json');
`,
  );
  await chmod(path, 0o755);
  return path;
}

/** Writes a program that records its pid in OUTDIR/hung-<pid> and then sleeps (a child sleep). */
export async function writeHanger(dir: string): Promise<string> {
  const path = join(dir, 'hang-hook.sh');
  await writeFile(path, '#!/bin/sh\necho $$ > "$1/hung-$$"\nsleep 1000\n');
  await chmod(path, 0o755);
  return path;
}

/** Every run recorded in `dir` so far, in the order the events happened. */
export async function readRecorded(dir: string): Promise<Recorded[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  const out: Recorded[] = [];
  for (const name of names) {
    const { stdin, env } = JSON.parse(await readFile(join(dir, name), 'utf8')) as { stdin: string; env: Record<string, string> };
    out.push({ event: JSON.parse(stdin) as Record<string, unknown>, env });
  }
  return out.sort((a, b) => String(a.event.time).localeCompare(String(b.event.time)));
}

/** Waits until `dir` holds runs matching `pred` (at least `count`); returns all runs. */
export async function waitRecorded(dir: string, pred: (r: Recorded) => boolean, count = 1, timeoutMs = 20_000): Promise<Recorded[]> {
  let all: Recorded[] = [];
  await waitFor(async () => (all = await readRecorded(dir)).filter(pred).length >= count, timeoutMs, 'hook runs recorded');
  return all;
}

/** One request the receiver got. */
export interface Received {
  body: string;
  signatureOk: boolean;
  contentType: string | undefined;
  status: number;
}

/** A node:http receiver of post hooks. */
export interface Receiver {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

/**
 * Starts a receiver on 127.0.0.1: each POST's signature is checked against `secret`; `answer(n)`
 * gives the status of the n-th request (0-based), or a promise of it (the answer waits for it).
 */
export function startReceiver(secret: string, answer: (n: number) => number | Promise<number> = () => 200): Promise<Receiver> {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-coffer-signature'] ?? ''));
      const entry = { body: body.toString(), signatureOk: given.length === expected.length && timingSafeEqual(given, expected), contentType: req.headers['content-type'], status: 0 };
      const status = answer(requests.length);
      requests.push(entry);
      void Promise.resolve(status).then((code) => {
        entry.status = code;
        res.writeHead(code).end();
      });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${port}/hook`,
        requests,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
