/**
 * Swallows 'error' events on process.stdout and process.stderr (EPIPE when the reader has gone):
 * without a listener Node throws them as uncaught exceptions and the process dies. Idempotent.
 * In a module of its own (no dependencies) so that the CLI can guard its output without loading
 * the server's logging stack (fastify) for `render`.
 */
export function guardStdio(): void {
  for (const s of [process.stdout, process.stderr]) {
    if (!s.listeners('error').includes(ignoreError)) s.on('error', ignoreError);
  }
}
function ignoreError(): void {}
