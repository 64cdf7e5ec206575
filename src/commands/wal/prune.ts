import { silentLogger, type Logger } from '../../logger.js';
import type { Repository } from '../../storage/repository.js';
import type { CatalogueEntry } from '../backup/catalogue.js';
import { walPrefix } from '../backup/layout.js';
import { readArchiveInfo } from './archive-info.js';
import { walNameOfKey } from './layout.js';
import { DEFAULT_SEGMENT_SIZE, parseLsn, parseWalFileName, segmentNumber, segmentOfLsn } from './segment.js';

export interface WalPruneResult {
  targets: { target: string; keepFrom: string | undefined; removed: number; reason: string }[];
  removedKeys: string[];
}

/**
 * Removes WAL that no kept physical backup needs: per target, every segment (and backup history
 * file) positioned before the start of the oldest kept base backup, on that timeline and the ones
 * before it. Conservative by construction: without a kept physical backup nothing is removed
 * (pgbackrest#680 lost WAL by expiring it when no backup was expired), history files are kept, and
 * segments at or after the boundary on any timeline stay.
 */
export async function pruneWal(
  repo: Repository,
  kept: CatalogueEntry[],
  o: { dryRun: boolean; target?: string | undefined; logger?: Logger },
): Promise<WalPruneResult> {
  const logger = o.logger ?? silentLogger;
  const byWalTarget = new Map<string, CatalogueEntry[]>();
  for (const b of kept) {
    const p = b.manifest.physical as
      (CatalogueEntry['manifest']['physical'] & { walTarget?: string }) | undefined;
    if (b.manifest.kind !== 'physical' || !p) continue;
    const walTarget = p.walTarget ?? b.target;
    byWalTarget.set(walTarget, [...(byWalTarget.get(walTarget) ?? []), b]);
  }
  const result: WalPruneResult = { targets: [], removedKeys: [] };
  const targets = new Set<string>();
  for await (const obj of repo.list(o.target !== undefined ? walPrefix(o.target) : '')) {
    const m = /^([^/]+)\/wal\//.exec(obj.key);
    if (m) targets.add(m[1]!);
  }
  for (const target of [...targets].sort()) {
    const backups = byWalTarget.get(target) ?? [];
    if (backups.length === 0) {
      result.targets.push({
        target,
        keepFrom: undefined,
        removed: 0,
        reason: 'no kept physical backup: all WAL kept',
      });
      continue;
    }
    const segmentSize = (await readArchiveInfo(repo, target))?.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    let oldest: { timeline: number; number: bigint; name: string } | undefined;
    for (const b of backups) {
      const p = b.manifest.physical!;
      const name = segmentOfLsn(p.timeline, parseLsn(p.startLsn), segmentSize);
      const number = segmentNumber(name, segmentSize);
      if (!oldest || number < oldest.number) oldest = { timeline: p.timeline, number, name };
    }
    const doomed: string[] = [];
    for await (const obj of repo.list(walPrefix(target))) {
      const name = walNameOfKey(obj.key);
      if (!name) continue;
      const f = parseWalFileName(name);
      if (f.kind === 'history' || !f.segment || f.timeline > oldest!.timeline) continue;
      if (segmentNumber(f.segment, segmentSize) < oldest!.number) doomed.push(obj.key);
    }
    if (!o.dryRun && doomed.length) {
      await repo.delete(doomed);
      logger.info(`removed ${doomed.length} WAL file(s) older than ${oldest!.name}`, { target });
    }
    result.removedKeys.push(...doomed);
    result.targets.push({
      target,
      keepFrom: oldest!.name,
      removed: doomed.length,
      reason: `oldest kept base backup starts in ${oldest!.name}`,
    });
  }
  return result;
}
