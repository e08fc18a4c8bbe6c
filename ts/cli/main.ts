#!/usr/bin/env node
// musiq-native command line. Results go to stdout; notices go to stderr.
// Exit codes: 0 all inputs scored, 1 some failed, 2 usage or setup error; 141 when the reader of stdout or
// stderr went away (`score ... | head -1`).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchCommand } from './commands/bench.js';
import { convertCommand } from './commands/convert.js';
import { inspectCommand } from './commands/inspect.js';
import { modelsCommand } from './commands/models.js';
import { scoreCommand } from './commands/score.js';
import { sourcesCommand } from './commands/sources.js';
import { EXIT_BROKEN_PIPE, EXIT_USAGE, outputClosed, warn } from './output.js';

// Node ignores SIGPIPE, so a closed pipe surfaces as an 'error' event that would crash with a stack trace. The
// reader has all it wants: commands stop their work and the process ends quietly. Not process.exit(): native
// work still running on the libuv pool would abort the process as it is torn down.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // After the first EPIPE, further writes fail with other codes (stream destroyed): all the same cause.
    if (error.code !== 'EPIPE' && !outputClosed.signal.aborted) throw error;
    outputClosed.abort();
    process.exitCode = EXIT_BROKEN_PIPE;
  });
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('musiq-native')
    .usage('$0 <command> [options]')
    .command(convertCommand)
    .command(inspectCommand)
    .command(scoreCommand)
    .command(modelsCommand)
    .command(benchCommand)
    .command(sourcesCommand)
    .demandCommand(1, 'name a command')
    .strict()
    .help()
    .fail((message, error) => {
      if (error) throw error;
      warn(`musiq-native: ${message}\nRun 'musiq-native --help' for usage.`);
      process.exit(EXIT_USAGE);
    })
    .parseAsync();
}

main().then(
  () => {
    if (outputClosed.signal.aborted) process.exitCode = EXIT_BROKEN_PIPE; // over the command's own code
  },
  (error: unknown) => {
    if (outputClosed.signal.aborted) return; // the command stopped because nobody reads any more
    warn(`musiq-native: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT_USAGE;
  },
);
