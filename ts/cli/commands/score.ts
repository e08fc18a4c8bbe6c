// `musiq-native score <files, folders or globs...> --model <models>`: one record per image.
import cliProgress from 'cli-progress';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_MAX_PIXELS } from '../../image/decode.js';
import { parseWeights } from '../../runtime/combine.js';
import { createScorer, DEFAULT_MAX_TOKENS, type NativePatches } from '../../runtime/scorer.js';
import { expandInputs } from '../inputs.js';
import { EXIT_OK, EXIT_SOME_FAILED, UsageError, warn } from '../output.js';
import { errorRecord, render, csvHeader, csvRow, resultRecord, type OutputFormat, type OutputRecord } from '../records.js';
import { ResultFile } from '../result-file.js';
import { resolveModelPaths } from '../../runtime/model.js';
import { sourceOptions, sourceOptionsFrom, type SourceArgs } from '../source-options.js';

interface ScoreArgs extends SourceArgs {
  inputs: string[];
  model: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads?: number;
  nativePatches?: string;
  autoOrient: boolean;
  maxPixels: number;
  maxTokens: number;
  batchTokens?: number;
  batchImages?: number;
  weights?: string;
  format: OutputFormat;
  output?: string;
  resume: boolean;
  progress?: boolean;
  stats: boolean;
}

function parsePatchValue(value: string): NativePatches {
  if (value === 'all') return 'all';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--native-patches: expected 'all' or a whole number, not '${value}'`);
  return n;
}

/** `all`, `1024`, or per model: `koniq=1024,spaq=all`. */
export function parseNativePatches(text: string): NativePatches | Record<string, NativePatches> {
  if (!text.includes('=')) return parsePatchValue(text);
  return Object.fromEntries(
    text.split(',').map((part) => {
      const [name, value] = part.split('=');
      if (!name || value === undefined) throw new UsageError(`--native-patches: expected name=value, not '${part}'`);
      return [name, parsePatchValue(value)];
    }),
  );
}

/** Where records go: stdout as they come (jsonl, csv) or at the end (json, table), or an output file. */
interface Sink {
  write(record: OutputRecord): Promise<void>;
  finish(): Promise<void>;
}

function stdoutSink(format: OutputFormat, models: string[]): Sink {
  const held: OutputRecord[] = [];
  if (format === 'csv') process.stdout.write(csvHeader(models));
  return {
    async write(record) {
      if (format === 'jsonl') process.stdout.write(`${JSON.stringify(record)}\n`);
      else if (format === 'csv') process.stdout.write(csvRow(record, models));
      else held.push(record);
    },
    async finish() {
      if (format === 'json' || format === 'table') process.stdout.write(render(format, held, models));
    },
  };
}

function progressBar(total: number, enabled: boolean): { tick(): void; stop(): void } {
  if (!enabled || total === 0) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'scoring |{bar}| {value}/{total} images | {rate} img/s | ETA {eta_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  bar.start(total, 0, { rate: '0.0' });
  return {
    tick() {
      bar.increment(1, { rate: ((bar.getProgress() * total) / ((Date.now() - started) / 1000) || 0).toFixed(1) });
    },
    stop() {
      bar.stop();
    },
  };
}

async function score(argv: ScoreArgs): Promise<number> {
  const models = argv.model.split(',').map((m) => m.trim()).filter(Boolean);
  if (argv.resume && !argv.output) throw new UsageError('--resume needs --output FILE (the file to resume)');
  const nativePatches = argv.nativePatches === undefined ? undefined : parseNativePatches(argv.nativePatches);
  const weights = argv.weights === undefined ? undefined : parseWeights(argv.weights);

  const { files, skipped, missing } = await expandInputs(argv.inputs);
  if (skipped.length > 0) {
    const shown = skipped.slice(0, 3).join(', ') + (skipped.length > 3 ? `, and ${skipped.length - 3} more` : '');
    warn(`musiq-native: skipped ${shown}: not an image file extension (name a file explicitly to score it anyway)`);
  }
  const scorer = await createScorer({
    models: await resolveModelPaths(models, sourceOptionsFrom(argv)),
    device: argv.device,
    threads: argv.threads,
    nativePatches,
    autoOrient: argv.autoOrient,
    maxPixels: argv.maxPixels,
    maxTokens: argv.maxTokens,
    batch: { tokenBudget: argv.batchTokens, maxImages: argv.batchImages },
    weights,
    log: warn,
  });
  const names = scorer.models.map((m) => m.name);
  for (const m of scorer.models) if (m.demo) warn(`musiq-native: model '${m.name}' uses ${m.demo}`);

  let file: ResultFile | undefined;
  let failed = 0;
  let bar: { tick(): void; stop(): void } | undefined;
  try {
    file = argv.output ? await ResultFile.open(argv.output, argv.format, names, argv.resume) : undefined;
    const todo = file ? files.filter((f) => !file!.done.has(f)) : files;
    if (file && file.done.size > 0) warn(`musiq-native: resuming: ${files.length - todo.length} image(s) already in ${argv.output}`);
    const sink: Sink = file ?? stdoutSink(argv.format, names);
    for (const { path, reason } of missing) {
      failed++;
      await sink.write(errorRecord(path, names, reason));
    }
    const started = performance.now();
    bar = progressBar(todo.length, argv.progress ?? (process.stderr.isTTY === true));
    for await (const record of scorer.scoreMany(todo)) {
      const path = record.input as string;
      if (record.error) failed++;
      await sink.write(record.error ? errorRecord(path, names, record.error) : resultRecord(path, record.result));
      bar.tick();
    }
    bar.stop();
    await sink.finish();
    const total = todo.length + missing.length;
    warn(`musiq-native: scored ${total - failed} of ${total} image(s)${failed ? `, ${failed} failed` : ''}${argv.output ? ` → ${argv.output}` : ''}`);
    if (argv.stats) {
      const s = scorer.stats;
      const seconds = (performance.now() - started) / 1000;
      warn(
        `musiq-native: ${(s.inferredImages / seconds).toFixed(2)} images/s over ${seconds.toFixed(1)} s; ${s.batches} batches; ` +
          `${s.decoded} decodes; preprocessing passes: ${Object.entries(s.preprocessed).map(([key, n]) => `${key} ${n}`).join(', ')}; ` +
          `busy time: decode ${(s.decodeMs / 1000).toFixed(1)} s, preprocess ${(s.preprocessMs / 1000).toFixed(1)} s, ` +
          `inference ${(s.inferenceMs / 1000).toFixed(1)} s; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
      );
    }
  } catch (error) {
    bar?.stop();
    await file?.abandon();
    throw error;
  } finally {
    await scorer.close();
  }
  return failed > 0 ? EXIT_SOME_FAILED : EXIT_OK;
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  command: 'score <inputs..>',
  describe: 'score image files, folders and globs',
  builder: (y: Argv) =>
    sourceOptions(y)
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'image files, folders (recursive) or globs' })
      .option('model', { type: 'string', demandOption: true, describe: "model(s), comma-separated: names (koniq, vila, ...), converted .onnx paths (MUSIQ or VILA), or 'demo' (random weights, offline)" })
      .option('format', { choices: ['jsonl', 'csv', 'json', 'table'] as const, default: 'jsonl' as const, describe: 'output format' })
      .option('output', { alias: 'o', type: 'string', describe: 'write results to FILE (atomically, when the run ends)' })
      .option('resume', { type: 'boolean', default: false, describe: 'skip images already scored in --output FILE' })
      .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'execution provider' })
      .option('threads', { type: 'number', describe: 'ONNX Runtime intra-op threads (default: all cores)' })
      .option('native-patches', { type: 'string', describe: "'all' (published script), a cap such as 1024 (TF Hub), or per model: koniq=1024,ava=all" })
      .option('max-tokens', { type: 'number', default: DEFAULT_MAX_TOKENS, describe: 'refuse images needing more tokens (attention memory is quadratic)' })
      .option('max-pixels', { type: 'number', default: DEFAULT_MAX_PIXELS, describe: 'refuse larger images (decompression bombs)' })
      .option('batch-tokens', { type: 'number', describe: 'token budget per batch (default 4096 on CPU, 32768 on CUDA)' })
      .option('batch-images', { type: 'number', describe: 'images per batch at most (default 16)' })
      .option('weights', { type: 'string', describe: 'combined-score weights, e.g. koniq=0.3,spaq=0.25,paq2piq=0.2,vila=0.15,ava=0.1' })
      .option('auto-orient', { type: 'boolean', default: false, describe: 'apply EXIF orientation (TensorFlow ignores it)' })
      .option('progress', { type: 'boolean', describe: 'progress bar on stderr (default: when stderr is a terminal)' })
      .option('stats', { type: 'boolean', default: false, describe: 'print throughput, time per stage and peak memory at the end' }) as unknown as Argv<ScoreArgs>,
  handler: async (argv) => {
    process.exitCode = await score(argv);
  },
};
