// `musiq-native bench`: the speed numbers users quote, reproducible without the real weights.
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { writeFileAtomic } from '../../convert/convert.js';
import { cacheDir } from '../../cache-dir.js';
import { benchSvg, benchTable } from '../../bench/report.js';
import { runBench } from '../../bench/run.js';
import { UsageError, warn } from '../output.js';

interface BenchArgs {
  quick: boolean;
  json: boolean;
  svg?: string;
  output?: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads?: string;
  batch: string;
}

function numberList(flag: string, text: string): number[] {
  const values = text.split(',').map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`${flag}: expected whole numbers like 1,2,4, not '${text}'`);
  return values;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'benchmark throughput, latency, memory and FLOP efficiency (full-size models; random weights unless real ones are cached)',
  builder: (y: Argv) =>
    y
      .option('quick', { type: 'boolean', default: false, describe: '1024×768 only, one model: a quick check (under 2 minutes on 2 cores)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON instead of a table' })
      .option('output', { type: 'string', describe: 'also write the JSON report to this file' })
      .option('svg', { type: 'string', describe: 'write the throughput chart here (default: next to --output)' })
      .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
      .option('threads', { type: 'string', describe: 'ONNX Runtime thread counts to sweep, e.g. 1,2 (default: ONNX Runtime default)' })
      .option('batch', { type: 'string', default: '1', describe: 'images per batch to sweep, e.g. 1,4' }) as unknown as Argv<BenchArgs>,
  handler: async (argv) => {
    const threads = argv.threads ? numberList('--threads', argv.threads) : [undefined];
    const report = await runBench({
      quick: argv.quick,
      device: argv.device,
      threads,
      batches: numberList('--batch', argv.batch),
      workDir: join(cacheDir(), 'bench-images'),
      log: warn,
    });
    const json = `${JSON.stringify(report, null, 2)}\n`;
    process.stdout.write(argv.json ? json : benchTable(report));
    if (argv.output) await writeFileAtomic(argv.output, json);
    const svg = argv.svg ?? (argv.output ? argv.output.replace(/\.json$/i, '') + '.svg' : undefined);
    if (svg) {
      await writeFileAtomic(svg, benchSvg(report));
      warn(`bench: chart written to ${svg}`);
    }
  },
};
