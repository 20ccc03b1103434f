import { constants } from 'node:os';
import {
  ConfigError,
  configHelp,
  configSecrets,
  loadConfig,
  parseFlags,
  type ServerConfig,
} from './config.ts';
import { LogSink, wantsPretty, announce, guardStdio } from './log.ts';
import { startServer, type AuralisServer } from './server.ts';

/** Exit codes of `auralis serve` (docs/ARCHITECTURE.md, "Logs and shutdown"). */
export const EXIT_CLEAN = 0;
/** Closing failed with an error. */
export const EXIT_SHUTDOWN_FAILED = 1;
/** A bad setting (the message names it). */
export const EXIT_CONFIG = 2;
/** Graceful shutdown did not finish within the deadline: the process was ended by force. */
export const EXIT_SHUTDOWN_FORCED = 3;
/** A second SIGTERM/SIGINT during shutdown exits at once with 128 + the signal's number (143, 130). */
export function exitCodeForSecondSignal(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** From the first signal to a forced exit (ms): the process is gone within 2 s whatever happens. */
export const SHUTDOWN_DEADLINE_MS = 1800;
/** After a clean close, how long the last log lines may take to reach a reader that keeps up. */
const FINAL_FLUSH_MS = 200;

const HELP_EXIT_CODES = `Exit codes: ${EXIT_CLEAN} stopped cleanly after SIGTERM/SIGINT; ${EXIT_SHUTDOWN_FAILED} closing failed; \
${EXIT_CONFIG} bad configuration; ${EXIT_SHUTDOWN_FORCED} shutdown did not finish within ${SHUTDOWN_DEADLINE_MS} ms \
and was forced; 128 + signal number (143, 130) a second signal during shutdown.`;

/** `auralis serve [flags]` / `npm start`: runs the server until SIGTERM/SIGINT. */
export async function runServe(argv: string[]): Promise<void> {
  guardStdio();
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `usage: auralis serve [options]\n\nOptions (flag, environment variable, meaning, default):\n${configHelp()}\n\n${HELP_EXIT_CODES}\n`,
    );
    return;
  }
  let flags: Partial<Record<keyof ServerConfig, unknown>>;
  let config: ServerConfig;
  try {
    flags = parseFlags(argv);
    config = loadConfig(flags, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`auralis: invalid configuration: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
  // The CLI owns the stdout sink: every log line and the lines below go through it.
  const sink = new LogSink(process.stdout, {
    maxBytes: config.logQueueBytes,
    pretty: wantsPretty(config.logFormat, process.stdout),
  });
  const secrets = configSecrets(config);
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(flags, process.env, { logSink: sink });
  } catch (err) {
    if (err instanceof ConfigError) {
      // A busy port or an address the machine lacks: one line, the configuration exit code.
      sink.close();
      process.stderr.write(`auralis: invalid configuration: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
  announce(
    sink,
    `auralis: serving on ${server.url} (player ${server.url}/, stream ${server.url}/stream/default.ogg)`,
    secrets,
  );
  installShutdown(server, sink, secrets);
}

/**
 * SIGTERM/SIGINT: close gracefully with a hard deadline. Exit 0 only when everything closed;
 * EXIT_SHUTDOWN_FORCED when the deadline ends it; a second signal exits at once.
 */
export function installShutdown(
  server: Pick<AuralisServer, 'close'>,
  sink: LogSink,
  secrets: readonly string[],
): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      const code = exitCodeForSecondSignal(signal);
      announce(sink, `auralis: second ${signal}, exiting now with code ${code}`, secrets);
      process.exit(code);
    }
    stopping = true;
    const t0 = performance.now();
    // Should the loop empty before close() settles, the process must not report a clean exit.
    process.exitCode = EXIT_SHUTDOWN_FORCED;
    announce(sink, `auralis: ${signal}, shutting down`, secrets);
    setTimeout(() => {
      announce(
        sink,
        `auralis: shutdown did not finish in ${SHUTDOWN_DEADLINE_MS} ms; exiting with code ${EXIT_SHUTDOWN_FORCED}`,
        secrets,
      );
      process.exit(EXIT_SHUTDOWN_FORCED);
    }, SHUTDOWN_DEADLINE_MS);
    const finish = async (code: number, message: string): Promise<void> => {
      announce(sink, message, secrets);
      const left = SHUTDOWN_DEADLINE_MS - (performance.now() - t0) - 50;
      // Give a reader that keeps up the last lines; never wait on a stalled one past the deadline.
      await sink.flush(Math.max(0, Math.min(FINAL_FLUSH_MS, left)));
      process.exit(code);
    };
    server.close().then(
      () => finish(EXIT_CLEAN, `auralis: stopped in ${Math.round(performance.now() - t0)} ms`),
      (err: unknown) =>
        finish(
          EXIT_SHUTDOWN_FAILED,
          `auralis: shutdown failed after ${Math.round(performance.now() - t0)} ms: ${String(err)}`,
        ),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
