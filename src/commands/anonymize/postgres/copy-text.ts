import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';

import type { MaskContext, Masked } from '../mask.js';
import { DROP } from '../mask.js';

/**
 * PostgreSQL COPY text format: one row per line, columns separated by tabs, `\N` for NULL,
 * backslash escapes. Only the columns being masked are decoded; the others pass through as the
 * original bytes (Greenmask's lazy decoding), which is most of the speed of a masked copy.
 */

export function decodeCopyField(field: string): string {
  if (!field.includes('\\')) return field;
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const ch = field[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = field[++i];
    switch (next) {
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        const m = /^[0-9a-fA-F]{1,2}/.exec(field.slice(i + 1));
        if (m) {
          out += String.fromCharCode(parseInt(m[0], 16));
          i += m[0].length;
        } else out += 'x';
        break;
      }
      default:
        if (next !== undefined && next >= '0' && next <= '7') {
          const m = /^[0-7]{1,3}/.exec(field.slice(i))!;
          out += String.fromCharCode(parseInt(m[0], 8));
          i += m[0].length - 1;
        } else if (next !== undefined) out += next;
    }
  }
  return out;
}

export function encodeCopyField(value: string): string {
  return /[\\\n\r\t]/.test(value)
    ? value.replace(/[\\\n\r\t]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t',
      )
    : value;
}

export type FieldMasker = (value: string, ctx: MaskContext) => Masked;

/** Masks the given column positions of a COPY text stream, row by row. */
export class CopyRowMasker extends Transform {
  rows = 0;
  private rest = '';
  // A multi-byte character split across two chunks must not be decoded half by half.
  private readonly decoder = new StringDecoder('utf8');
  private readonly maskers: (FieldMasker | undefined)[];

  constructor(
    maskers: Map<number, FieldMasker>,
    private readonly ctx: MaskContext,
  ) {
    super({ decodeStrings: true });
    const max = Math.max(-1, ...maskers.keys());
    this.maskers = Array.from({ length: max + 1 }, (_, i) => maskers.get(i));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      const text = this.rest + this.decoder.write(chunk);
      const end = text.lastIndexOf('\n');
      if (end < 0) {
        this.rest = text;
        cb();
        return;
      }
      this.rest = text.slice(end + 1);
      cb(null, this.maskLines(text.slice(0, end + 1)));
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      const tail = this.rest + this.decoder.end();
      cb(null, tail ? this.maskLines(`${tail}\n`) : undefined);
    } catch (err) {
      cb(err as Error);
    }
  }

  private maskLines(block: string): string {
    const { text, rows } = maskCopyBlock(block, this.maskers, this.ctx);
    this.rows += rows;
    return text;
  }
}

/**
 * Masks a block of complete COPY text lines (each ending in a newline) at the given column
 * positions; shared by the in-process masker and the worker threads.
 */
export function maskCopyBlock(
  block: string,
  maskers: readonly (FieldMasker | undefined)[],
  ctx: MaskContext,
): { text: string; rows: number } {
  const lines = block.split('\n');
  lines.pop();
  const out: string[] = new Array<string>(lines.length);
  for (let li = 0; li < lines.length; li++) {
    const fields = lines[li]!.split('\t');
    for (let i = 0; i < maskers.length; i++) {
      const masker = maskers[i];
      if (!masker) continue;
      const raw = fields[i];
      if (raw === undefined || raw === '\\N') continue;
      const masked = masker(decodeCopyField(raw), ctx);
      fields[i] = masked === null || masked === DROP ? '\\N' : encodeCopyField(masked);
    }
    out[li] = fields.join('\t');
  }
  return { text: lines.length ? `${out.join('\n')}\n` : '', rows: lines.length };
}
