import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

import { ChecksFailed } from '../../../errors.js';

/**
 * A pg_dump directory-format dump is a flat directory (toc.dat and one file per table); it travels
 * through the pipeline as one tar stream so it is a single object, readable with `tar -x`.
 */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A tar stream of every regular file in `dir` (sorted, so two runs of the same dump are identical). */
export function packDirectory(dir: string): Readable {
  const pack = tar.pack();
  void (async () => {
    try {
      const names = (await readdir(dir)).sort();
      for (const name of names) {
        const path = join(dir, name);
        const st = await stat(path);
        if (!st.isFile()) continue;
        const entry = pack.entry({ name, size: st.size, mode: 0o600, mtime: st.mtime, type: 'file' });
        await pipeline(createReadStream(path), entry);
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  // tar-stream's streams are streamx streams; Readable.from adapts them for node's pipeline.
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
}

/**
 * The writable end of an extraction into `dir`. `only` limits which names are written (verify needs
 * toc.dat alone); other entries are read and dropped. Any name that is not a plain file name is
 * refused: a crafted archive must not write outside `dir`.
 */
export function unpackInto(dir: string, only?: (name: string) => boolean): Writable {
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name;
    if (header.type !== 'file' || !SAFE_NAME.test(name)) {
      stream.resume();
      next(
        new ChecksFailed(
          `the directory-format archive holds an unexpected entry "${name}" (${header.type ?? 'unknown'})`,
        ),
      );
      return;
    }
    if (only && !only(name)) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    pipeline(stream, createWriteStream(join(dir, name), { mode: 0o600 })).then(
      () => next(),
      (err: unknown) => next(err as Error),
    );
  });
  return asNodeWritable(extract);
}

/** A node Writable in front of a streamx writable (tar-stream's extract), with back-pressure and errors. */
function asNodeWritable(target: tar.Extract): Writable {
  let failure: Error | undefined;
  const out: Writable = new Writable({
    write(chunk: Buffer, _e, cb) {
      if (failure) return cb(failure);
      if (target.write(chunk)) cb();
      else target.once('drain', () => cb(failure));
    },
    final(cb) {
      if (failure) return cb(failure);
      target.once('finish', () => cb(failure));
      (target as unknown as { end(): void }).end();
    },
    destroy(err, cb) {
      target.destroy();
      cb(err);
    },
  });
  target.on('error', (err: Error) => {
    failure ??= err;
    out.destroy(err);
  });
  return out;
}
