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
  sizes?: string;
  models?: string;
}

function numberList(flag: string, text: string): number[] {
  const values = text.split(',').map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`${flag}: expected whole numbers like 1,2,4, not '${text}'`);
  return values;
}

function sizeList(text: string): Array<[number, number]> {
  return text.split(',').map((item) => {
    const match = /^(\d+)x(\d+)$/.exec(item.trim());
    const size = match ? ([Number(match[1]), Number(match[2])] as [number, number]) : undefined;
    if (!size || size.some((v) => v < 1 || v > 16384)) throw new UsageError(`--sizes: expected WIDTHxHEIGHT items like 1024x768 (1..16384), not '${item}'`);
    return size;
  });
}

function modelCountList(text: string): number[] {
  const counts = numberList('--models', text);
  if (counts.some((n) => n !== 1 && n !== 4)) throw new UsageError(`--models: 1 (one model) and/or 4 (the four MUSIQ checkpoints in one pass), not '${text}'`);
  return [...new Set(counts)];
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'benchmark throughput, latency, memory and FLOP efficiency (full-size models; seeded random weights unless real full-size ones are cached)',
  builder: (y: Argv) =>
    y
      .option('quick', { type: 'boolean', default: false, describe: '1024×768 only, one model: a quick check (under 2 minutes on 2 cores)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON instead of a table' })
      .option('output', { type: 'string', describe: 'also write the JSON report to this file' })
      .option('svg', { type: 'string', describe: 'write the throughput chart here (default: next to --output)' })
      .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
      .option('threads', { type: 'string', describe: 'ONNX Runtime thread counts to sweep, e.g. 1,2 (default: ONNX Runtime default)' })
      .option('batch', { type: 'string', default: '1', describe: 'images per batch to sweep, e.g. 1,4' })
      .option('sizes', { type: 'string', describe: 'generated image sizes, e.g. 1024x768,4032x3024 (default: 512x384, 1024x768, 1920x1080, 4032x3024)' })
      .option('models', { type: 'string', describe: 'models per pass: 1, 4 or 1,4 (default 1,4; 1 with --quick)' }) as unknown as Argv<BenchArgs>,
  handler: async (argv) => {
    const threads = argv.threads ? numberList('--threads', argv.threads) : [undefined];
    const report = await runBench({
      quick: argv.quick,
      device: argv.device,
      threads,
      batches: numberList('--batch', argv.batch),
      sizes: argv.sizes === undefined ? undefined : sizeList(argv.sizes),
      modelCounts: argv.models === undefined ? undefined : modelCountList(argv.models),
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
