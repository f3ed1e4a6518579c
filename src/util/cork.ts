/**
 * Write coalescing for an SSH socket. ssh2 hands the socket one packet at a time (a 255 KiB SFTP
 * DATA reply is eight 32 KiB channel packets, each its own socket.write), and with Nagle off
 * (setNoDelay, needed for fast logins) every one of them is a separate send system call. Here the
 * first write of an event-loop turn corks the socket and a nextTick uncorks it, so everything
 * written in that turn leaves in one writev: the same bytes, in the same order, at the end of the
 * same turn (no added latency: the event loop does not poll for I/O before nextTick callbacks
 * run). The Writable contract is unchanged: write still returns false above the high-water mark
 * and 'drain' still follows.
 */
import type { Socket } from 'node:net';

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
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
}
