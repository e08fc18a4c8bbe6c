// `musiq-native score <files or folders...> --model <model>`: one JSON line per image on stdout.
import type { CommandModule } from 'yargs';
import { DEFAULT_MAX_PIXELS } from '../../image/decode.js';
import { createScorer } from '../../runtime/scorer.js';
import { expandInputs } from '../inputs.js';
import { EXIT_OK, EXIT_SOME_FAILED, UsageError, warn } from '../output.js';

interface ScoreArgs {
  inputs: string[];
  model: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads?: number;
  nativePatches?: string;
  autoOrient: boolean;
  maxPixels: number;
}

function parseNativePatches(value: string): 'all' | number {
  if (value === 'all') return 'all';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--native-patches must be 'all' or a whole number, not '${value}'`);
  return n;
}

async function score(argv: ScoreArgs): Promise<number> {
  const nativePatches = argv.nativePatches === undefined ? undefined : parseNativePatches(argv.nativePatches);
  const { files, skipped, missing } = await expandInputs(argv.inputs);
  if (skipped.length > 0) {
    const shown = skipped.slice(0, 3).join(', ') + (skipped.length > 3 ? `, and ${skipped.length - 3} more` : '');
    warn(`musiq-native: skipped ${shown}: not an image file extension (name a file explicitly to score it anyway)`);
  }
  const scorer = await createScorer({
    model: argv.model,
    device: argv.device,
    threads: argv.threads,
    nativePatches,
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
        continue;
      }
      const { model, score, logits, tokens, nativePatches: mode, decode, demo } = record.result;
      write({
        path,
        model,
        score,
        ...(logits.length > 1 ? { logits } : {}),
        tokens,
        nativePatches: mode,
        ...(decode.length ? { decode } : {}),
        ...(demo ? { demo } : {}),
      });
    }
  } finally {
    await scorer.close();
  }
  const total = files.length + missing.length;
  warn(`musiq-native: scored ${total - failed} of ${total} image(s)${failed ? `, ${failed} failed` : ''}`);
  return failed > 0 ? EXIT_SOME_FAILED : EXIT_OK;
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  command: 'score <inputs..>',
  describe: 'score image files and folders; prints one JSON line per image',
  builder: (y) =>
    y
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'image files or folders' })
      .option('model', { type: 'string', demandOption: true, describe: "converted .onnx model, or 'demo' (random weights, offline)" })
      .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'execution provider' })
      .option('threads', { type: 'number', describe: 'ONNX Runtime intra-op threads (default: all cores)' })
      .option('native-patches', { type: 'string', describe: "'all' (published script) or a cap such as 1024 (TF Hub); default: the model's" })
      .option('auto-orient', { type: 'boolean', default: false, describe: 'apply EXIF orientation (TensorFlow ignores it)' })
      .option('max-pixels', { type: 'number', default: DEFAULT_MAX_PIXELS, describe: 'refuse larger images' }) as never,
  handler: async (argv) => {
    process.exitCode = await score(argv);
  },
};
