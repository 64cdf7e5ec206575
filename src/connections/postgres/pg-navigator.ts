/*
 * pg (8.16+) asks at load time whether it runs in a Cloudflare Worker. Without a `navigator`
 * global (Node 20) it builds a `Response` to find out, which loads Node's bundled undici: ~65 ms
 * of every command's start-up on the 2-core machines. Node 21+ defines `navigator.userAgent`
 * (`Node.js/22…`) and pg reads that instead; for the duration of pg's load Node 20 gets the same,
 * and the global is removed again right after (pg.ts).
 */
const g = globalThis as { navigator?: unknown };
const added = g.navigator === undefined;
if (added) g.navigator = { userAgent: `Node.js/${process.versions.node}` };

export function dropNavigator(): void {
  if (added) delete g.navigator;
}
