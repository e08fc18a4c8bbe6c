// `musiq-native sources [--model koniq,spaq] [--check] [--json]`: where each model can come from.
// Exit code 0 when every model listed has at least one accessible source, 1 otherwise.
import type { Argv, CommandModule } from 'yargs';
import { formatStatus, sourcesStatus } from '../../sources/status.js';
import { EXIT_OK, EXIT_SOME_FAILED } from '../output.js';
import { sourceOptions, sourceOptionsFrom, type SourceArgs } from '../source-options.js';

interface SourcesArgs extends SourceArgs {
  model?: string;
  check: boolean;
  json: boolean;
}

export const sourcesCommand: CommandModule<object, SourcesArgs> = {
  command: 'sources',
  describe: 'show, per model, which sources are cached, available, need authentication or are unreachable',
  builder: (y: Argv) =>
    sourceOptions(
      y
        .option('model', { type: 'string', describe: 'models to show, comma-separated (default: all in the registry)' })
        .option('check', { type: 'boolean', default: false, describe: 'touch the network to test each source (no download)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the status as JSON' }),
    ) as unknown as Argv<SourcesArgs>,
  handler: async (argv) => {
    const models = argv.model?.split(',').map((m) => m.trim()).filter(Boolean);
    const report = await sourcesStatus({ ...sourceOptionsFrom(argv), check: argv.check, models });
    // One line, like the JSON lines of `score`: a single document that line-oriented tools read too.
    process.stdout.write(argv.json ? `${JSON.stringify(report)}\n` : formatStatus(report));
    process.exitCode = report.summary.allAccessible ? EXIT_OK : EXIT_SOME_FAILED;
  },
};
