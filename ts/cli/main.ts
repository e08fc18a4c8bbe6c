#!/usr/bin/env node
// musiq-native command line. Results go to stdout (one JSON line per image); notices go to stderr.
// Exit codes: 0 all inputs scored, 1 some failed, 2 usage or setup error.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { convertNpz } from '../convert/convert.js';
import { DEFAULT_MAX_PIXELS } from '../image/decode.js';
import { createScorer } from '../runtime/scorer.js';
import { expandInputs } from './inputs.js';

const EXIT_SOME_FAILED = 1;
const EXIT_USAGE = 2;

function parseNativePatches(value: string): 'all' | number {
  if (value === 'all') return 'all';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--native-patches must be 'all' or a whole number, not '${value}'`);
  return n;
}

const warn = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function runScore(argv: {
  inputs: string[];
  model: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads?: number;
  nativePatches?: string;
  autoOrient: boolean;
  maxPixels: number;
}): Promise<number> {
  const { files, skipped, missing } = await expandInputs(argv.inputs);
  if (skipped.length > 0) warn(`musiq-native: skipped ${skipped.length} file(s) in folders without an image extension (name them explicitly to score them)`);
  const scorer = await createScorer({
    model: argv.model,
    device: argv.device,
    threads: argv.threads,
    nativePatches: argv.nativePatches === undefined ? undefined : parseNativePatches(argv.nativePatches),
    autoOrient: argv.autoOrient,
    maxPixels: argv.maxPixels,
    log: warn,
  });
  if (scorer.model.demo) warn(`musiq-native: model '${scorer.model.name}' uses ${scorer.model.demo}`);
  const write = (record: object): void => {
    process.stdout.write(`${JSON.stringify(record)}\n`);
  };
  let failed = 0;
  for (const { path, reason } of missing) {
    failed++;
    write({ path, model: scorer.model.name, score: null, error: reason });
  }
  try {
    for await (const record of scorer.scoreMany(files)) {
      const path = record.input as string;
      if (record.error) {
        failed++;
        write({ path, model: scorer.model.name, score: null, error: record.error.message });
      } else {
        const { model, score, logits, tokens, nativePatches, decode, demo } = record.result;
        write({ path, model, score, ...(logits.length > 1 ? { logits } : {}), tokens, nativePatches, ...(decode.length ? { decode } : {}), ...(demo ? { demo } : {}) });
      }
    }
  } finally {
    await scorer.close();
  }
  const total = files.length + missing.length;
  warn(`musiq-native: scored ${total - failed} of ${total} image(s)${failed ? `, ${failed} failed` : ''}`);
  return failed > 0 ? EXIT_SOME_FAILED : 0;
}

async function main(): Promise<number> {
  let exitCode = 0;
  const parser = yargs(hideBin(process.argv))
    .scriptName('musiq-native')
    .usage('$0 <command> [options]')
    .command(
      'convert',
      'convert a MUSIQ .npz checkpoint to an ONNX model (plus a .json sidecar)',
      (y) =>
        y
          .option('from', { type: 'string', demandOption: true, describe: 'checkpoint file (.npz)' })
          .option('out', { type: 'string', demandOption: true, describe: 'ONNX model to write' })
          .option('name', { type: 'string', describe: 'model name (default: from the file name, e.g. koniq)' }),
      async (argv) => {
        const sidecar = await convertNpz(argv.from, argv.out, { name: argv.name, warn });
        const c = sidecar.config;
        warn(
          `musiq-native: wrote ${argv.out} (${sidecar.name}: hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads, ` +
            `MLP ${c.mlpDim}, ${c.numClasses} class${c.numClasses > 1 ? 'es' : ''}, ${c.numScales} scales; score range ${sidecar.scoreRange.join('..')})`,
        );
      },
    )
    .command(
      'score <inputs..>',
      'score image files and folders; prints one JSON line per image',
      (y) =>
        y
          .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'image files or folders' })
          .option('model', { type: 'string', demandOption: true, describe: "converted .onnx model, or 'demo' (random weights, offline)" })
          .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'execution provider' })
          .option('threads', { type: 'number', describe: 'ONNX Runtime intra-op threads (default: all cores)' })
          .option('native-patches', { type: 'string', describe: "'all' (published script) or a cap such as 1024 (TF Hub); default: the model's" })
          .option('auto-orient', { type: 'boolean', default: false, describe: 'apply EXIF orientation (TensorFlow ignores it)' })
          .option('max-pixels', { type: 'number', default: DEFAULT_MAX_PIXELS, describe: 'refuse larger images' }),
      async (argv) => {
        exitCode = await runScore({ ...argv, inputs: argv.inputs as string[] });
      },
    )
    .demandCommand(1, 'name a command: convert or score')
    .strict()
    .help()
    .fail((message, error) => {
      if (error) throw error;
      warn(`musiq-native: ${message}\nRun 'musiq-native --help' for usage.`);
      process.exit(EXIT_USAGE);
    });
  await parser.parseAsync();
  return exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    warn(`musiq-native: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT_USAGE;
  },
);
