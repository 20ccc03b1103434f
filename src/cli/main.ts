/**
 * `auralis <command> …`: the command-line entry (bin/auralis.mjs loads this through tsx).
 * Commands are imported on demand so that `render` does not load the server and vice versa.
 */
import { EXIT_USAGE } from './args.ts';
import { guardStdio } from '../server/stdio.ts';

const USAGE = `Auralis: real-time generative ambient music.

Usage:
  auralis serve [options]        run the streaming server (auralis serve --help)
  auralis render [options]       render to a WAV file (and MIDI) offline (auralis render --help)
  auralis --help                 this text
`;

export async function main(argv: readonly string[]): Promise<number> {
  // A reader that has gone (`auralis … | head`) must not crash the process with an EPIPE.
  guardStdio();
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'serve': {
      const { runServe } = await import('../server/serve.ts');
      await runServe(rest);
      return 0;
    }
    case 'render': {
      const { runRender } = await import('./render.ts');
      return runRender(rest);
    }
    default:
      process.stderr.write(`auralis: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return EXIT_USAGE;
  }
}

// `serve` keeps the process alive with its own handles; only set the exit code here.
process.exitCode = await main(process.argv.slice(2));
