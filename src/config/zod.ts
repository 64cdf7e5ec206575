import { z } from 'zod';

/*
 * Every schema imports zod from here, so this runs before any schema is built. A command parses
 * each schema once or twice, and zod's JIT (a `new Function` per object shape, compiled on first
 * use) costs more than it saves then: jitless measured ~110 ms less CPU for `dbops config check`
 * on the 2-core machines.
 */
z.config({ jitless: true });

export { z };
