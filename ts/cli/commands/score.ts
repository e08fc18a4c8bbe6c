// `musiq-native score <files, folders or globs...> --model <models>`: one record per image.
import cliProgress from 'cli-progress';
import type { Argv, CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_MAX_PIXELS } from '../../image/decode.js';
import { resolveModel, type ResolvedModel } from '../../runtime/model.js';
import { createScorer, DEFAULT_MAX_TOKENS } from '../../runtime/scorer.js';
import { maxThreads } from '../../runtime/scorer-options.js';
import { expandInputs } from '../inputs.js';
import { EXIT_OK, EXIT_SOME_FAILED, outputClosed, UsageError, warn } from '../output.js';
import { csvHeader, csvRow, errorRecord, render, resultRecord, type Columns, type OutputFormat, type OutputRecord } from '../records.js';
import { journalPath, prepareOutput, refuseOverwritingReads, ResultFile } from '../result-file.js';
import { checkModelNames, parseNativePatches, parseWeights, wholeNumber } from '../score-options.js';
import { sourceOptions, sourceOptionsFrom, type SourceArgs } from '../source-options.js';

interface ScoreArgs extends SourceArgs {
  inputs?: string[];
  /** The arguments after `--`: inputs too (`-- -dash.png`). */
  '--'?: string[];
  model: string;
  device: 'auto' | 'cpu' | 'cuda';
  // Numbers are taken as text and checked by score-options.ts: yargs would read `1e3` or `0x10` as numbers
  // and `abc` as NaN.
  threads?: string;
  nativePatches?: string;
  autoOrient: boolean;
  maxPixels: string;
  maxTokens: string;
  batchTokens?: string;
  batchImages?: string;
  weights?: string;
  format: OutputFormat;
  output?: string;
  resume: boolean;
  progress?: boolean;
  stats: boolean;
}

/** Where records go: stdout as they come (jsonl, csv) or at the end (json, table), or an output file. */
interface Sink {
  write(record: OutputRecord): Promise<void>;
  finish(): Promise<void>;
}

function stdoutSink(format: OutputFormat, columns: Columns): Sink {
  const held: OutputRecord[] = [];
  if (format === 'csv') process.stdout.write(csvHeader(columns));
  return {
    async write(record) {
      if (format === 'jsonl') process.stdout.write(`${JSON.stringify(record)}\n`);
      else if (format === 'csv') process.stdout.write(csvRow(record, columns));
      else held.push(record);
    },
    async finish() {
      if (format === 'json' || format === 'table') process.stdout.write(render(format, held, columns));
    },
  };
}

function progressBar(total: number, enabled: boolean): { tick(): void; stop(): void } {
  if (!enabled || total === 0) return { tick() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'scoring |{bar}| {value}/{total} images | {rate} img/s | ETA {eta_formatted}',
      hideCursor: true,
      // --progress asked for on a pipe or a log file: a line every few seconds instead of nothing.
      noTTYOutput: process.stderr.isTTY !== true,
      notTTYSchedule: 5000,
    },
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

/** Left-out files, a few by name, with why. */
function noticeSkipped(paths: string[], why: string): void {
  if (paths.length === 0) return;
  const shown = paths.slice(0, 3).join(', ') + (paths.length > 3 ? `, and ${paths.length - 3} more` : '');
  warn(`musiq-native: skipped ${shown}: ${why}`);
}

/**
 * On SIGINT/SIGTERM the journal already holds every finished record: say where and how to go on, then die of
 * the signal as without a handler (the shell reports 130 or 143).
 */
function reportInterruption(file: ResultFile, stopBar: () => void): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    stop();
    stopBar(); // ends the bar's line and shows the cursor again
    warn(`musiq-native: interrupted: ${file.journaled} image(s) kept in ${journalPath(file.path)}; rerun with --resume`);
    process.kill(process.pid, signal);
  };
  const stop = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return stop;
}

/**
 * The inputs named on the command line, those after `--` included. yargs drops a lone '-' from the inputs (it
 * takes it for a flag), so the raw arguments are looked at for it: a run that silently scored nothing from
 * `score - < photo.png` would look like success.
 */
function commandLineInputs(argv: ScoreArgs): string[] {
  const raw = hideBin(process.argv);
  const beforeRest = raw.includes('--') ? raw.slice(0, raw.indexOf('--')) : raw;
  const dashes = beforeRest.filter((arg, i) => arg === '-' && !['-o', '--output'].includes(beforeRest[i - 1] ?? ''));
  const inputs = [...(argv.inputs ?? []), ...(argv['--'] ?? [])];
  if (dashes.length > 0 || inputs.includes('-')) throw new UsageError('reading images from standard input is not supported; name files or folders');
  if (inputs.length === 0) throw new UsageError('name at least one image file, folder or glob to score');
  return inputs;
}

async function score(argv: ScoreArgs): Promise<number> {
  // Everything that can be checked without loading a model is checked first.
  const inputs = commandLineInputs(argv);
  const models = String(argv.model).split(',').map((m) => m.trim()).filter(Boolean);
  if (models.length === 0) throw new UsageError('--model: name at least one model');
  if (argv.resume && !argv.output) throw new UsageError('--resume needs --output FILE (the file to resume)');
  const optional = <T>(value: string | undefined, parse: (text: string) => T): T | undefined => (value === undefined ? undefined : parse(value));
  const nativePatches = optional(argv.nativePatches, parseNativePatches);
  const weights = optional(argv.weights, parseWeights);
  const threads = optional(argv.threads, (t) => wholeNumber('threads', t, 1, maxThreads()));
  const batch = {
    tokenBudget: optional(argv.batchTokens, (t) => wholeNumber('batch-tokens', t, 1)),
    maxImages: optional(argv.batchImages, (t) => wholeNumber('batch-images', t, 1)),
  };
  const maxPixels = wholeNumber('max-pixels', argv.maxPixels, 1);
  const maxTokens = wholeNumber('max-tokens', argv.maxTokens, 1);
  const previous = argv.output ? await prepareOutput(argv.output, argv.format, argv.resume) : [];

  const { files, skipped, dangling, missing, empty } = await expandInputs(inputs);
  noticeSkipped(skipped, 'not an image file extension (name a file explicitly to score it anyway)');
  noticeSkipped(dangling, 'a symbolic link to nothing');
  if (empty.length > 0) warn(`musiq-native: no image files found in: ${empty.join(', ')}`);

  // Models are resolved here, one after the other (their sources' messages do not interleave), so that the
  // per-model options can be checked against their names before the sessions load.
  const resolved: ResolvedModel[] = [];
  for (const spec of models) resolved.push(await resolveModel(spec, sourceOptionsFrom(argv)));
  const names = resolved.map((r) => r.sidecar.name);
  if (typeof nativePatches === 'object') checkModelNames('native-patches', nativePatches, names);
  checkModelNames('weights', weights, names);
  if (argv.output) await refuseOverwritingReads(argv.output, files, resolved.map((r) => r.path));

  const scorer = await createScorer({
    models: resolved.map((r) => r.path),
    device: argv.device,
    threads,
    nativePatches,
    autoOrient: argv.autoOrient,
    maxPixels,
    maxTokens,
    batch,
    weights,
    log: warn,
  });
  for (const m of scorer.models) if (m.demo) warn(`musiq-native: model '${m.name}' uses ${m.demo}`);
  const columns: Columns = { models: names, demo: scorer.models.filter((m) => m.demo).map((m) => m.name) };

  let file: ResultFile | undefined;
  let failed = 0;
  let bar: { tick(): void; stop(): void } | undefined;
  let stopReporting: (() => void) | undefined;
  try {
    file = argv.output ? await ResultFile.open(argv.output, argv.format, columns, previous) : undefined;
    stopReporting = file ? reportInterruption(file, () => bar?.stop()) : undefined;
    const todo = file ? files.filter((f) => !file!.done.has(f)) : files;
    if (file && file.done.size > 0) warn(`musiq-native: resuming: ${files.length - todo.length} image(s) already in ${argv.output}`);
    const sink: Sink = file ?? stdoutSink(argv.format, columns);
    for (const { path, reason } of missing) {
      failed++;
      await sink.write(errorRecord(path, names, reason));
    }
    const started = performance.now();
    bar = progressBar(todo.length, argv.progress ?? (process.stderr.isTTY === true));
    for await (const record of scorer.scoreMany(todo, { signal: outputClosed.signal })) {
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
    stopReporting?.();
    await scorer.close();
  }
  return failed > 0 ? EXIT_SOME_FAILED : EXIT_OK;
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  // Optional for yargs, required by `commandLineInputs`: yargs would not count the inputs after `--`.
  command: 'score [inputs..]',
  describe: 'score image files, folders and globs',
  builder: (y: Argv) =>
    sourceOptions(y.parserConfiguration({ 'populate--': true, 'parse-positional-numbers': false }))
      .positional('inputs', { type: 'string', array: true, describe: 'image files, folders (recursive) or globs; after --, names that start with -' })
      .option('model', { type: 'string', demandOption: true, describe: "model(s), comma-separated: names (koniq, vila, ...), converted .onnx paths (MUSIQ or VILA), or 'demo' (random weights, offline)" })
      .option('format', { choices: ['jsonl', 'csv', 'json', 'table'] as const, default: 'jsonl' as const, describe: 'output format' })
      .option('output', { alias: 'o', type: 'string', describe: 'write results to FILE (atomically, when the run ends)' })
      .option('resume', { type: 'boolean', default: false, describe: 'skip images already scored in --output FILE' })
      .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'execution provider' })
      .option('threads', { type: 'string', describe: 'ONNX Runtime intra-op threads (default: all cores)' })
      .option('native-patches', { type: 'string', describe: "'all' (published script), a cap such as 1024 (TF Hub), or per model: koniq=1024,ava=all" })
      .option('max-tokens', { type: 'string', default: DEFAULT_MAX_TOKENS, describe: 'refuse images needing more tokens (attention memory is quadratic)' })
      .option('max-pixels', { type: 'string', default: DEFAULT_MAX_PIXELS, describe: 'refuse larger images (decompression bombs)' })
      .option('batch-tokens', { type: 'string', describe: 'token budget per batch (default 4096 on CPU, 32768 on CUDA)' })
      .option('batch-images', { type: 'string', describe: 'images per batch at most (default 16)' })
      .option('weights', { type: 'string', describe: 'combined-score weights, e.g. koniq=0.3,spaq=0.25,paq2piq=0.2,vila=0.15,ava=0.1' })
      .option('auto-orient', { type: 'boolean', default: false, describe: 'apply EXIF orientation (TensorFlow ignores it)' })
      .option('progress', { type: 'boolean', describe: 'progress bar on stderr (default: when stderr is a terminal)' })
      .option('stats', { type: 'boolean', default: false, describe: 'print throughput, time per stage and peak memory at the end' }) as unknown as Argv<ScoreArgs>,
  handler: async (argv) => {
    process.exitCode = await score(argv);
  },
};
