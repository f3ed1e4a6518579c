// The floor of the stack Coffer is built on, for `npm run bench -- --floor`: the barest SFTP
// server ssh2 and Node can make. ssh2's own server-side SFTP (SFTPWrapper) with Coffer's algorithm
// lists, each request one synchronous fs call on the event loop (a READ on the thread pool, as
// Coffer's), no jail, quota, store, logs, events or metrics. What it costs per request is what any server on ssh2 and Node
// pays before doing anything of its own; the bench prints it beside OpenSSH and Coffer.
//
// A measuring peer only, never a server to run: it listens on 127.0.0.1, lets in only the one
// public key it is given (any user name), and serves one folder with no checks on the paths.
//
// usage: node scripts/bench/ssh2-floor.mjs HOST_KEY AUTHORIZED_PUB HOME
// prints {"event":"start","port":N} once listening on an OS-chosen port; stops on SIGTERM.
import { timingSafeEqual } from 'node:crypto';
import { closeSync, constants as C, fstatSync, lstatSync, mkdirSync, openSync, read, readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { serverAlgorithms } from '../../dist/src/server/algorithms.js';

const { Server, utils } = ssh2;
const { STATUS_CODE, OPEN_MODE } = utils.sftp;
const [hostKeyFile, pubFile, home] = process.argv.slice(2);
if (!home) {
  process.stderr.write('usage: node scripts/bench/ssh2-floor.mjs HOST_KEY AUTHORIZED_PUB HOME\n');
  process.exit(2);
}
const allowedKey = utils.parseKey(readFileSync(pubFile));
const allowed = allowedKey.getPublicSSH();

const at = (path) => join(home, path);
const attrs = (st) => ({ mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) });
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** An `ls -l` line, as every server sends with READDIR (the client prints it). */
function longname(name, st) {
  const t = '-pc-d-b---l-s---'[(st.mode >> 12) & 15] ?? '?';
  let perms = '';
  for (let i = 8; i >= 0; i--) perms += st.mode & (1 << i) ? 'rwx'[(8 - i) % 3] : '-';
  const d = st.mtime;
  return `${t}${perms} ${String(st.nlink).padStart(3)} ${String(st.uid).padEnd(8)} ${String(st.gid).padEnd(8)} ${String(st.size).padStart(8)} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')} ${name}`;
}
function openFlags(f) {
  let flags = f & OPEN_MODE.WRITE ? (f & OPEN_MODE.READ ? C.O_RDWR : C.O_WRONLY) : C.O_RDONLY;
  if (f & OPEN_MODE.CREAT) flags |= C.O_CREAT;
  if (f & OPEN_MODE.TRUNC) flags |= C.O_TRUNC;
  if (f & OPEN_MODE.EXCL) flags |= C.O_EXCL;
  if (f & OPEN_MODE.APPEND) flags |= C.O_APPEND;
  return flags;
}
const statusOf = (err) => (err.code === 'ENOENT' ? STATUS_CODE.NO_SUCH_FILE : err.code === 'EACCES' || err.code === 'EPERM' ? STATUS_CODE.PERMISSION_DENIED : STATUS_CODE.FAILURE);

function serve(sftp) {
  const handles = new Map();
  let next = 0;
  const handle = (target) => {
    const h = Buffer.allocUnsafe(4);
    h.writeUInt32BE(next);
    handles.set(next++, target);
    return h;
  };
  const target = (h) => (h.length === 4 ? handles.get(h.readUInt32BE(0)) : undefined);
  /** Runs `fn`; a throw becomes the request's status reply. */
  const reply = (id, fn) => {
    try {
      fn();
    } catch (err) {
      sftp.status(id, statusOf(err));
    }
  };
  const ok = (id) => sftp.status(id, STATUS_CODE.OK);
  sftp
    .on('REALPATH', (id, path) => sftp.name(id, [{ filename: path === '.' || path === '' ? '/' : path, longname: '', attrs: {} }]))
    .on('STAT', (id, path) => reply(id, () => sftp.attrs(id, attrs(statSync(at(path))))))
    .on('LSTAT', (id, path) => reply(id, () => sftp.attrs(id, attrs(lstatSync(at(path))))))
    .on('OPEN', (id, path, flags) => reply(id, () => sftp.handle(id, handle({ fd: openSync(at(path), openFlags(flags), 0o644) }))))
    .on('FSTAT', (id, h) => reply(id, () => sftp.attrs(id, attrs(fstatSync(target(h).fd)))))
    .on('WRITE', (id, h, offset, data) => reply(id, () => (writeSync(target(h).fd, data, 0, data.length, offset), ok(id))))
    .on('READ', (id, h, offset, length) => {
      const t = target(h);
      if (!t?.fd) return sftp.status(id, STATUS_CODE.FAILURE);
      const buf = Buffer.allocUnsafe(length);
      read(t.fd, buf, 0, length, offset, (err, n) => (err ? sftp.status(id, statusOf(err)) : n === 0 ? sftp.status(id, STATUS_CODE.EOF) : sftp.data(id, buf.subarray(0, n))));
    })
    .on('CLOSE', (id, h) =>
      reply(id, () => {
        const t = target(h);
        handles.delete(h.readUInt32BE(0));
        if (t?.fd !== undefined) closeSync(t.fd);
        ok(id);
      }),
    )
    .on('OPENDIR', (id, path) => reply(id, () => sftp.handle(id, handle({ dir: at(path), names: readdirSync(at(path)), next: 0 }))))
    .on('READDIR', (id, h) =>
      reply(id, () => {
        const t = target(h);
        if (!t?.names || t.next >= t.names.length) return sftp.status(id, STATUS_CODE.EOF);
        // 100 entries per reply, as OpenSSH's sftp-server sends.
        const batch = t.names.slice(t.next, t.next + 100);
        t.next += batch.length;
        sftp.name(id, batch.map((name) => {
          const st = lstatSync(join(t.dir, name));
          return { filename: name, longname: longname(name, st), attrs: attrs(st) };
        }));
      }),
    )
    .on('REMOVE', (id, path) => reply(id, () => (unlinkSync(at(path)), ok(id))))
    .on('RENAME', (id, from, to) => reply(id, () => (renameSync(at(from), at(to)), ok(id))))
    .on('MKDIR', (id, path) => reply(id, () => (mkdirSync(at(path)), ok(id))))
    .on('RMDIR', (id, path) => reply(id, () => (rmdirSync(at(path)), ok(id))))
    .on('SETSTAT', (id) => ok(id))
    .on('FSETSTAT', (id) => ok(id));
}

// Coffer's algorithm lists, so both negotiate the same cipher and MAC with the same client.
const server = new Server({ hostKeys: [readFileSync(hostKeyFile)], algorithms: serverAlgorithms() }, (client) => {
  client
    .on('authentication', (ctx) => {
      const key = ctx.method === 'publickey' ? ctx.key.data : null;
      if (key && key.length === allowed.length && timingSafeEqual(key, allowed) && (!ctx.signature || allowedKey.verify(ctx.blob, ctx.signature, ctx.hashAlgo))) ctx.accept();
      else ctx.reject(['publickey']);
    })
    .on('ready', () =>
      client.on('session', (accept) => {
        const session = accept();
        // The client's EOF ends the session: close the channel as sftp-server's exit would.
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          serve(sftp);
          session.once('eof', () => sftp.end());
        });
      }),
    )
    .on('error', () => {});
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ event: 'start', port: server.address().port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
