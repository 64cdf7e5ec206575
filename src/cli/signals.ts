/**
 * One AbortController for the whole process. The first SIGINT/SIGTERM aborts it so every scope
 * unwinds (children killed, temp files removed, locks released); a second one exits at once.
 */
const controller = new AbortController();
let installed = false;

export function processSignal(): AbortSignal {
  if (!installed) {
    installed = true;
    let count = 0;
    const onSignal = (name: NodeJS.Signals) => {
      count += 1;
      if (count === 1) {
        process.stderr.write(`\ndbops: ${name} received, stopping (again to force)\n`);
        controller.abort(new Error(`interrupted by ${name}`));
        // Fail-safe: a stuck handle must not keep a cron job alive forever.
        setTimeout(() => process.exit(130), 30_000).unref();
      } else {
        process.exit(130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  return controller.signal;
}
