/**
 * Write coalescing for an SSH socket. ssh2 hands the socket one packet at a time (a 255 KiB SFTP
 * DATA reply is eight 32 KiB channel packets, each its own socket.write), and with Nagle off
 * (setNoDelay, needed for fast logins) every one of them is a separate send system call. Here the
 * first write of an event-loop turn corks the socket and a nextTick uncorks it, so everything
 * written in that turn leaves in one writev: the same bytes, in the same order, at the end of the
 * same turn (no added latency: the event loop does not poll for I/O before nextTick callbacks
 * run). The Writable contract is unchanged: write still returns false above the high-water mark
 * and 'drain' still follows. A pooled SSH packet (ssh-packets.ts, which only hands them to ssh2
 * when this wrapper is on the socket) is given back to its pool when its write completes.
 */
import type { Socket } from 'node:net';
import { isPooledPacket, releasePacket } from './ssh-packets.js';

export function coalesceWrites(socket: Socket): void {
  const write = socket.write;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Socket, ...args: unknown[]): boolean {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    // A pooled SSH packet (ssh-packets.ts) goes back to its pool once the socket is done with it.
    const data = args[0];
    if (args.length === 1 && isPooledPacket(data)) return (write as (d: Buffer, cb: () => void) => boolean).call(this, data, () => releasePacket(data));
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
}
