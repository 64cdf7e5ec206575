import * as zod from 'zod';

/*
 * Every schema imports zod from here, so this runs before any schema is built. A command parses
 * each schema once or twice, and zod's JIT (a `new Function` per object shape, compiled on first
 * use) costs more than it saves then: jitless measured ~110 ms less CPU for `dbops config check`
 * on the 2-core machines.
 */
zod.config({ jitless: true });

/**
 * The part of zod's API that dbops uses, named one by one. zod's own `z` is a namespace object passed
 * around as a value, so the bundler keeps every schema type in it; members read by name let it drop
 * the rest: zod's chunk went from 391 KB to ~200 KB, compiled by every command that reads the
 * config.
 */
export const z = {
  array: zod.array,
  boolean: zod.boolean,
  date: zod.date,
  discriminatedUnion: zod.discriminatedUnion,
  enum: zod.enum,
  iso: zod.iso,
  lazy: zod.lazy,
  literal: zod.literal,
  looseObject: zod.looseObject,
  NEVER: zod.NEVER,
  number: zod.number,
  preprocess: zod.preprocess,
  record: zod.record,
  strictObject: zod.strictObject,
  string: zod.string,
  union: zod.union,
  unknown: zod.unknown,
};

/** zod's types under the same name, as `z.infer<…>` etc. */
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace z {
  export type infer<T> = zod.infer<T>;
  export type output<T> = zod.output<T>;
  export type ZodType<O = unknown> = zod.ZodType<O>;
  export type ZodOptional<T extends zod.core.SomeType = zod.core.$ZodType> = zod.ZodOptional<T>;
  export type ZodNumber = zod.ZodNumber;
}

/** `build()` on the first call, the same value after. */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}

/**
 * An optional config section whose schema is built only when a config file has that section.
 * Building the analyze, retention, anonymize, schedule and wal schemas cost ~30 ms of every
 * command's start-up (zod's classic API binds each schema's methods one by one), mostly for
 * sections the file does not have. Validation is unchanged: the section's issues are passed on
 * with their codes and messages, their paths below the section's key.
 */
export function lazySection<T extends z.ZodType>(build: () => T) {
  return z
    .unknown()
    .transform((value, ctx): z.output<T> => {
      const result = build().safeParse(value);
      if (result.success) return result.data;
      for (const issue of result.error.issues)
        ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
      return z.NEVER;
    })
    .optional();
}
