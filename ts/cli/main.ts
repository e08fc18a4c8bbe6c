#!/usr/bin/env node
// musiq-native command line. Results go to stdout; notices go to stderr.
// Exit codes: 0 all inputs scored, 1 some failed, 2 usage or setup error.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchCommand } from './commands/bench.js';
import { convertCommand } from './commands/convert.js';
import { inspectCommand } from './commands/inspect.js';
import { modelsCommand } from './commands/models.js';
import { scoreCommand } from './commands/score.js';
import { sourcesCommand } from './commands/sources.js';
import { EXIT_USAGE, warn } from './output.js';

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

main().catch((error: unknown) => {
  warn(`musiq-native: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = EXIT_USAGE;
});
