/**
 * Turns generated steps into wire bytes: resolves symbolic handles, ids, payloads and host-path
 * placeholders, encodes typed requests with the client codec (encodeRequest), and applies byte
 * mutations. Pure apart from the resolution context.
 */
import { encodeRequest } from '../../src/sftp/packets/packet.js';
import type { SftpIdRequest, SftpRequest } from '../../src/sftp/request-types.js';
import type { DataSpec, HandleSpec, IdSpec, Mutation, ReqSpec, Step } from './arbitraries.js';

/** What resolution needs: the handles returned so far, the id counter, the sandbox's paths. */
export interface EncodeContext {
  handles: Buffer[];
  nextId: number;
  home: string;
  box: string;
}

/** A step's bytes, plus the typed request when the bytes are exactly its encoding. */
export interface Encoded {
  bytes: Buffer;
  typed: SftpIdRequest | null;
}

const HANDLE_FIELDS = new Set(['handle', 'readHandle', 'writeHandle']);
const PATH_FIELDS = new Set(['path', 'oldPath', 'newPath', 'first', 'second']);

function resolveHandle(spec: HandleSpec, ctx: EncodeContext): Buffer {
  if ('raw' in spec) return Buffer.from(spec.raw);
  if (ctx.handles.length === 0) return Buffer.from('nohandle');
  return ctx.handles[spec.ref % ctx.handles.length]!;
}

function resolveData(spec: DataSpec): Buffer {
  return 'bytes' in spec ? Buffer.from(spec.bytes) : Buffer.alloc(spec.length, spec.fill);
}

/** Replaces the placeholders with the sandbox's host paths. */
export function resolvePath(p: string, ctx: Pick<EncodeContext, 'home' | 'box'>): string {
  return p.replaceAll('@@HOME@@', ctx.home).replaceAll('@@BOX@@', ctx.box);
}

function resolveId(id: IdSpec, ctx: EncodeContext): number {
  if (id !== 'auto') return id;
  const v = ctx.nextId;
  ctx.nextId = (ctx.nextId + 1) >>> 0;
  return v;
}

/** The concrete request of a spec. */
export function resolveRequest(spec: ReqSpec, id: number, ctx: EncodeContext): SftpIdRequest {
  const out: Record<string, unknown> = { id };
  for (const [k, v] of Object.entries(spec)) {
    if (HANDLE_FIELDS.has(k)) out[k] = resolveHandle(v as HandleSpec, ctx);
    else if (k === 'data' && spec.kind === 'write') out[k] = resolveData(v as DataSpec);
    else if (k === 'data') out[k] = Buffer.from(v as Uint8Array);
    else if (PATH_FIELDS.has(k)) out[k] = resolvePath(v as string, ctx);
    else out[k] = v;
  }
  return out as unknown as SftpIdRequest;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function str(b: Uint8Array): Buffer {
  return Buffer.concat([u32(b.length), b]);
}

function frame(payload: Uint8Array): Buffer {
  return Buffer.concat([u32(payload.length), payload]);
}

/** encodeRequest, or a hand-built WRITE when the message is above the codec's 256 KiB limit. */
export function encodeAny(req: SftpRequest): Buffer {
  try {
    return encodeRequest(req);
  } catch (err) {
    if (req.kind !== 'write') throw err;
    const off = Buffer.alloc(8);
    off.writeBigUInt64BE(BigInt(req.offset));
    return frame(Buffer.concat([Buffer.from([6]), u32(req.id), str(req.handle), off, str(req.data)]));
  }
}

/**
 * Applies mutations to one framed packet. Body mutations leave the type byte and request id (the
 * first 5 payload bytes) alone, so the packet still owes exactly one reply; 'header', 'length',
 * 'lengthTo' and 'dup' change the framing or the id. The length field is recomputed unless set.
 */
export function mutate(framed: Buffer, muts: readonly Mutation[]): Buffer {
  let payload = Buffer.from(framed.subarray(4));
  let length: number | null = null;
  let dup = false;
  for (const m of muts) {
    const body = Math.max(0, payload.length - 5);
    const at = 'at' in m ? 5 + (body === 0 ? 0 : m.at % body) : 0;
    switch (m.m) {
      case 'flip':
        if (body > 0) payload[at]! ^= 1 << m.bit;
        break;
      case 'set':
        if (body > 0) payload[at] = m.value;
        break;
      case 'insert':
        payload = Buffer.concat([payload.subarray(0, Math.min(at, payload.length)), m.bytes, payload.subarray(Math.min(at, payload.length))]);
        break;
      case 'delete':
        if (body > 0) payload = Buffer.concat([payload.subarray(0, at), payload.subarray(at + m.count)]);
        break;
      case 'truncate':
        payload = payload.subarray(0, 5 + (m.at % (body + 1)));
        break;
      case 'u32':
        if (body >= 4) payload.writeUInt32BE(m.value >>> 0, Math.min(at, payload.length - 4));
        break;
      case 'u64':
        if (body >= 8) {
          const pos = Math.min(at, payload.length - 8);
          payload.writeUInt32BE(m.hi >>> 0, pos);
          payload.writeUInt32BE(m.lo >>> 0, pos + 4);
        }
        break;
      case 'header':
        if (payload.length > 0) payload[m.at % Math.min(5, payload.length)] = m.value;
        break;
      case 'length':
        length = Math.max(0, (length ?? payload.length) + m.delta);
        break;
      case 'lengthTo':
        length = m.value;
        break;
      case 'dup':
        dup = true;
        break;
    }
  }
  const out = Buffer.concat([u32(length ?? payload.length), payload]);
  return dup ? Buffer.concat([out, out]) : out;
}

/** The bytes of one step. */
export function encodeStep(step: Step, ctx: EncodeContext): Encoded {
  switch (step.t) {
    case 'req': {
      const req = resolveRequest(step.req, resolveId(step.id, ctx), ctx);
      return { bytes: encodeAny(req), typed: req };
    }
    case 'mut': {
      const req = resolveRequest(step.req, resolveId(step.id, ctx), ctx);
      return { bytes: mutate(encodeAny(req), step.muts), typed: null };
    }
    case 'rawpath': {
      const id = resolveId(step.id, ctx);
      return { bytes: frame(Buffer.concat([Buffer.from([step.type]), u32(id), str(step.path), step.tail])), typed: null };
    }
    case 'raw':
      return { bytes: frame(step.payload), typed: null };
    case 'init':
      return { bytes: encodeRequest({ kind: 'init', version: step.version }), typed: null };
  }
}

/** The session's first packet. */
export function encodeInit(init: { version: number; trailing: Uint8Array; muts: Mutation[] }): Buffer {
  const plain = frame(Buffer.concat([Buffer.from([1]), u32(init.version), init.trailing]));
  return init.muts.length === 0 ? plain : mutate(plain, init.muts);
}
