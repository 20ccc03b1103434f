import { ConfigError, configHelp, parseFlags } from './config.ts';
import { startServer } from './server.ts';

/** `auralis serve [flags]` / `npm start`: runs the server until SIGTERM/SIGINT. */
export async function runServe(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(
      `usage: auralis serve [options]\n\nOptions (flag, environment variable, meaning, default):\n${configHelp()}`,
    );
    return;
  }
  let server;
  try {
    server = await startServer(parseFlags(argv), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`auralis: invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  console.log(
    `auralis: serving on ${server.url} (player ${server.url}/, stream ${server.url}/stream/default.ogg)`,
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`auralis: ${signal}, shutting down`);
    // Exit within 2 s whatever happens.
    setTimeout(() => process.exit(0), 1900).unref();
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
