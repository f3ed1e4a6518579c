/**
 * SSH_FXP_STATUS (draft-ietf-secsh-filexfer-02 §7), encode and decode. Which error becomes which
 * status is sftp/status.ts's business.
 */
import { PacketType, statusMessage } from '../constants.js';
import type { Reader } from '../reader.js';
import { Writer, stringSize } from '../writer.js';

/** A decoded STATUS; message and language are '' when the server left them out. */
export interface StatusReply {
  kind: 'status';
  id: number;
  code: number;
  message: string;
  language: string;
}

/** SSH_FXP_STATUS; the message defaults to OpenSSH's wording, the language tag is ''. */
export function encodeStatus(id: number, code: number, message: string = statusMessage(code), language = ''): Buffer {
  const size = 13 + stringSize(message) + stringSize(language);
  return new Writer(size).u8(PacketType.STATUS).u32(id).u32(code).string(message).string(language).finish();
}

/** A STATUS body after its id. Message and language tag are optional before v3 and some servers omit them. */
export function decodeStatus(r: Reader, id: number): StatusReply {
  const code = r.u32();
  const message = r.remaining > 0 ? r.text() : '';
  const language = r.remaining > 0 ? r.text() : '';
  return { kind: 'status', id, code, message, language };
}
