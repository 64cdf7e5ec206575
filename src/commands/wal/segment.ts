import { ChecksFailed, ConfigError } from '../../errors.js';

/**
 * WAL file names and page headers. A segment is `TTTTTTTTLLLLLLLLSSSSSSSS` (timeline, then the
 * segment number split in "log" and "seg" parts, 2^32 / segment size segments per log); history,
 * backup-label and partial files derive from it. All arithmetic is in BigInt: LSNs are 64-bit.
 */
export type WalFileKind = 'segment' | 'partial' | 'backup' | 'history';

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** Segment name (24 hex) for segment, partial and backup files. */
  segment?: string;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{24})\.partial$/;
const BACKUP = /^([0-9A-F]{24})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** Parses a WAL file name; anything else is refused (it would not be a WAL file). */
export function parseWalFileName(name: string): WalFileName {
  let m = SEGMENT.exec(name);
  if (m) return { name, kind: 'segment', timeline: parseInt(m[1]!, 16), segment: name };
  m = PARTIAL.exec(name) ?? BACKUP.exec(name);
  if (m) {
    return {
      name,
      kind: name.endsWith('.partial') ? 'partial' : 'backup',
      timeline: parseInt(m[1]!.slice(0, 8), 16),
      segment: m[1]!,
    };
  }
  m = HISTORY.exec(name);
  if (m) return { name, kind: 'history', timeline: parseInt(m[1]!, 16) };
  throw new ConfigError(`"${name}" is not a WAL file name`, {
    hint: 'wal push/fetch take PostgreSQL WAL files: 24 hex digits, .history, .backup or .partial files',
  });
}

export function isWalFileName(name: string): boolean {
  return SEGMENT.test(name) || PARTIAL.test(name) || BACKUP.test(name) || HISTORY.test(name);
}

export function timelineHex(timeline: number): string {
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

function segmentsPerLog(segmentSize: number): bigint {
  return 0x1_0000_0000n / BigInt(segmentSize);
}

/** The segment number (position in the WAL stream) of a segment name. */
export function segmentNumber(segment: string, segmentSize: number): bigint {
  const m = SEGMENT.exec(segment);
  if (!m) throw new ConfigError(`"${segment}" is not a WAL segment name`);
  return BigInt(`0x${m[2]}`) * segmentsPerLog(segmentSize) + BigInt(`0x${m[3]}`);
}

export function segmentName(timeline: number, number: bigint, segmentSize: number): string {
  const per = segmentsPerLog(segmentSize);
  const hex = (n: bigint) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${timelineHex(timeline)}${hex(number / per)}${hex(number % per)}`;
}

export function nextSegment(segment: string, segmentSize: number, count = 1): string {
  const tli = parseInt(segment.slice(0, 8), 16);
  return segmentName(tli, segmentNumber(segment, segmentSize) + BigInt(count), segmentSize);
}

/** `16/B374D848` → bigint. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m)
    throw new ConfigError(`"${text}" is not an LSN`, {
      hint: 'an LSN looks like 0/3000028 (as pg_current_wal_lsn() prints it)',
    });
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

/** The segment that holds the byte at `lsn`. */
export function segmentOfLsn(timeline: number, lsn: bigint, segmentSize: number): string {
  return segmentName(timeline, lsn / BigInt(segmentSize), segmentSize);
}

/** The LSN one past the end of `segment`. */
export function segmentEndLsn(segment: string, segmentSize: number): bigint {
  return (segmentNumber(segment, segmentSize) + 1n) * BigInt(segmentSize);
}

/**
 * XLOG_PAGE_MAGIC per major version: the WAL format changes with (almost) every major, so the
 * magic pins the version a segment was written by.
 */
const MAGIC_TO_MAJOR: Record<number, number> = {
  0xd093: 9.6,
  0xd097: 10,
  0xd098: 11,
  0xd101: 12,
  0xd106: 13,
  0xd10d: 14,
  0xd110: 15,
  0xd113: 16,
  0xd116: 17,
  0xd118: 18,
};

export function majorOfMagic(magic: number): number | undefined {
  return MAGIC_TO_MAJOR[magic];
}

/** What the long page header at the start of every segment says (XLogLongPageHeaderData). */
export interface SegmentHeader {
  magic: number;
  timeline: number;
  pageAddress: bigint;
  /** Decimal, as `pg_control_system()` shows it. */
  systemIdentifier: string;
  segmentSize: number;
  blockSize: number;
}

const XLP_LONG_HEADER = 0x0002;

/**
 * Reads the long header of a segment's first page. Layout (little-endian on every platform
 * PostgreSQL ships for): magic u16 @0, info u16 @2, tli u32 @4, pageaddr u64 @8, rem_len u32 @16,
 * padding to 24, sysid u64 @24, seg_size u32 @32, xlog_blcksz u32 @36.
 */
export function readSegmentHeader(data: Uint8Array, name: string): SegmentHeader {
  if (data.byteLength < 40)
    throw new ChecksFailed(`${name} is too short to be a WAL segment (${data.byteLength} bytes)`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic = view.getUint16(0, true);
  const info = view.getUint16(2, true);
  if ((info & XLP_LONG_HEADER) === 0 || majorOfMagic(magic) === undefined) {
    throw new ChecksFailed(
      `${name} does not start with a WAL long page header (magic 0x${magic.toString(16)}, info 0x${info.toString(16)})`,
      {
        hint: 'this is not a PostgreSQL WAL segment, or it is damaged',
      },
    );
  }
  const header: SegmentHeader = {
    magic,
    timeline: view.getUint32(4, true),
    pageAddress: view.getBigUint64(8, true),
    systemIdentifier: view.getBigUint64(24, true).toString(),
    segmentSize: view.getUint32(32, true),
    blockSize: view.getUint32(36, true),
  };
  if (header.segmentSize < 1024 * 1024 || (header.segmentSize & (header.segmentSize - 1)) !== 0) {
    throw new ChecksFailed(`${name}: implausible WAL segment size ${header.segmentSize} in its header`);
  }
  return header;
}

/** Checks that a segment's header matches its name (a renamed or misplaced file is refused). */
export function checkHeaderMatchesName(header: SegmentHeader, file: WalFileName): void {
  if (!file.segment) return;
  const expected = segmentNumber(file.segment, header.segmentSize) * BigInt(header.segmentSize);
  if (header.pageAddress !== expected || header.timeline > file.timeline) {
    throw new ChecksFailed(
      `${file.name}: its page header says LSN ${formatLsn(header.pageAddress)} on timeline ${header.timeline}, which is not what the name says`,
      { hint: 'the file was renamed or copied from elsewhere; it is not archived' },
    );
  }
}
