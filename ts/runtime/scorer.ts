// The scoring engine: decode (sharp, libuv pool) → model inputs (native addon, libuv pool) → batches by token
// budget → ONNX Runtime (worker thread) → records. Each image is decoded once and each distinct
// preprocessing runs once, whatever the number of models; decoding and patch extraction of the next images
// overlap inference of the current batch, and the queue between them is bounded so memory stays flat.
import { decodeImage, type DecodeOptions } from '../image/decode.js';
import type { ModelSidecar } from '../convert/convert.js';
import { fitsBatch, padBatch, type BatchLimits } from './batching.js';
import { combineScores, DEFAULT_WEIGHTS, normalizeScore, type Combined } from './combine.js';
import { InferenceWorker } from './inference-worker.js';
import { resolveModel, type ResolvedModel } from './model.js';
import type { ChainOptions } from '../sources/context.js';
import { checkModelTables, checkScorerOptions } from './scorer-options.js';
import { musiqPreprocessing, vilaPreprocessing, type PreparedInput, type Preprocessing } from './preprocessing.js';
import type { Device } from './session.js';

export type NativePatches = 'all' | number;

export interface ScorerOptions extends DecodeOptions {
  /** Models to run: registry names (`koniq`, `spaq`, `ava`, `paq2piq`, `vila`), paths of converted .onnx models, or `demo`. */
  models: string[];
  device?: Device;
  threads?: number;
  /** Native-resolution patches: 'all' (published script) or a cap (1024 = TF Hub), for all models or per model name. Default: each model's own. */
  nativePatches?: NativePatches | Record<string, NativePatches>;
  /** Refuse images whose token sequence would be longer (attention memory is quadratic). Default 16384. */
  maxTokens?: number;
  /** Batch limits; the default budget is 4096 tokens on CPU and 32768 on CUDA. */
  batch?: Partial<BatchLimits>;
  /** Images decoded and preprocessed ahead of inference. Default 8. */
  prefetch?: number;
  /** Weights of the combined score (default: KonIQ 0.30, SPAQ 0.25, PaQ-2-PiQ 0.20, VILA 0.15, AVA 0.10). */
  weights?: Record<string, number>;
  /** How registry names (`koniq`, `vila`…) are found: offline, config file, mirrors, source order. */
  sources?: ChainOptions;
  log?: (line: string) => void;
}

export interface ModelScore {
  /** The model's output as published (logit, softmax expectation for AVA, cosine for VILA). */
  score: number;
  /** `score` mapped to 0..1 by the model's documented range, clipped. */
  normalized: number;
  /** Raw logits, for multi-class heads. */
  logits?: number[];
  /** Tokens the model saw (padding excluded; VILA: its patches). */
  tokens: number;
  /** MUSIQ models: the native-resolution patch cap used. */
  nativePatches?: NativePatches;
  /** Set when the model has random demo weights. */
  demo?: string;
}

export interface ImageScore {
  scores: Record<string, ModelScore>;
  /** Present when more than one model ran. */
  combined?: Combined;
  /** Conversions applied while decoding (greyscale replicated, alpha dropped, ...). */
  decode: string[];
}

export type ScoreInput = string | Uint8Array;

/** One record per input, in input order: a result, or the error that stopped this input. */
export type ScoreRecord = { input: ScoreInput } & ({ result: ImageScore; error?: undefined } | { error: Error; result?: undefined });

/** Counters and cumulative wall time per stage (ms), for `bench` and for checking one decode per image. */
export interface ScorerStats {
  decoded: number;
  /** Preprocessing passes per preprocessing key. */
  preprocessed: Record<string, number>;
  batches: number;
  inferredImages: number;
  decodeMs: number;
  preprocessMs: number;
  inferenceMs: number;
}

export interface Scorer {
  readonly models: readonly ModelSidecar[];
  readonly stats: ScorerStats;
  readonly devices: ReadonlyArray<'cpu' | 'cuda'>;
  score(input: ScoreInput, options?: { signal?: AbortSignal }): Promise<ImageScore>;
  scoreMany(inputs: Iterable<ScoreInput> | AsyncIterable<ScoreInput>, options?: { signal?: AbortSignal }): AsyncGenerator<ScoreRecord>;
  close(): Promise<void>;
}

interface ModelEntry {
  sidecar: ModelSidecar;
  index: number;
  /** MUSIQ only. */
  nativePatches?: NativePatches;
}

interface PreparedImage {
  decode: string[];
  /** One input per preprocessing group, in group order. */
  inputs: PreparedInput[];
}

interface Group {
  preprocessing: Preprocessing;
  models: ModelEntry[];
}

export const DEFAULT_MAX_TOKENS = 16384;

function toAsyncIterator<T>(items: Iterable<T> | AsyncIterable<T>): AsyncIterator<T> {
  return Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : (async function* () { yield* items; })();
}

export async function createScorer(options: ScorerOptions): Promise<Scorer> {
  if (options.models.length === 0) throw new Error('createScorer: name at least one model');
  checkScorerOptions(options);
  // One after the other, so that the sources chain's messages for each model do not interleave.
  const resolved: ResolvedModel[] = [];
  // The sources chain's messages (Loading…, ⚠ failed…, ✓ loaded…) go to the scorer's log unless sources has its own.
  const sources = options.log && !options.sources?.log ? { ...options.sources, log: options.log } : options.sources;
  for (const spec of options.models) resolved.push(await resolveModel(spec, sources));
  const names = resolved.map((r) => r.sidecar.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new Error(`model '${duplicate}' is named twice`);
  checkModelTables(options, names);

  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  const groups = new Map<string, Group>();
  // Models that share a preprocessing (same key) get one preprocessing pass per image.
  const addToGroup = (entry: ModelEntry, preprocessing: Preprocessing): void => {
    const group = groups.get(preprocessing.key) ?? { preprocessing, models: [] };
    group.models.push(entry);
    groups.set(preprocessing.key, group);
  };
  for (const [index, { sidecar }] of resolved.entries()) {
    if (sidecar.architecture === 'vila') {
      addToGroup({ sidecar, index }, vilaPreprocessing(sidecar));
      continue;
    }
    const override = options.nativePatches;
    const nativePatches =
      override === undefined ? sidecar.preprocessing.nativePatches
      : typeof override === 'object' ? (override[sidecar.name] ?? sidecar.preprocessing.nativePatches)
      : override;
    addToGroup({ sidecar, index, nativePatches }, musiqPreprocessing(sidecar, nativePatches, maxTokens));
  }
  const groupList = [...groups.values()];

  const worker = await InferenceWorker.start(resolved.map((r) => r.path), {
    device: options.device,
    threads: options.threads,
    log: options.log,
  });
  const onGpu = worker.devices.includes('cuda');
  const limits: BatchLimits = {
    tokenBudget: options.batch?.tokenBudget ?? (onGpu ? 32768 : 4096),
    maxImages: options.batch?.maxImages ?? 16,
  };
  const prefetch = options.prefetch ?? 8;
  const weights = options.weights ?? DEFAULT_WEIGHTS;

  const stats: ScorerStats = { decoded: 0, preprocessed: {}, batches: 0, inferredImages: 0, decodeMs: 0, preprocessMs: 0, inferenceMs: 0 };
  const prepare = async (input: ScoreInput, signal?: AbortSignal): Promise<PreparedImage> => {
    let started = performance.now();
    const image = await decodeImage(input, options);
    stats.decoded++;
    stats.decodeMs += performance.now() - started;
    signal?.throwIfAborted();
    started = performance.now();
    const inputs = await Promise.all(
      groupList.map(({ preprocessing }) => {
        stats.preprocessed[preprocessing.key] = (stats.preprocessed[preprocessing.key] ?? 0) + 1;
        return preprocessing.prepare(image, signal);
      }),
    );
    stats.preprocessMs += performance.now() - started;
    return { decode: image.conversions, inputs };
  };

  const inferBatch = async (batch: PreparedImage[]): Promise<ImageScore[]> => {
    const started = performance.now();
    stats.batches++;
    stats.inferredImages += batch.length;
    const perImage: Array<Record<string, ModelScore>> = batch.map(() => ({}));
    for (const [g, group] of groupList.entries()) {
      const sets = batch.map((image) => image.inputs[g]!);
      const { data, dims } = padBatch(sets);
      const outputs = await worker.run(group.models.map((m) => m.index), group.preprocessing.inputName, data, dims);
      group.models.forEach(({ sidecar, nativePatches }, m) => {
        const { logits, scores, classes } = outputs[m]!;
        batch.forEach((_, i) => {
          const score = scores[i]!;
          perImage[i]![sidecar.name] = {
            score,
            normalized: normalizeScore(score, sidecar.scoreRange),
            ...(classes > 1 ? { logits: Array.from(logits.subarray(i * classes, (i + 1) * classes)) } : {}),
            tokens: sets[i]!.tokens,
            ...(nativePatches === undefined ? {} : { nativePatches }),
            ...(sidecar.demo ? { demo: sidecar.demo } : {}),
          };
        });
      });
    }
    stats.inferenceMs += performance.now() - started;
    return perImage.map((unordered, i) => {
      // Report models in the order the user named them.
      const scores = Object.fromEntries(names.map((name) => [name, unordered[name]!]));
      const normalized = Object.fromEntries(names.map((name) => [name, scores[name]!.normalized]));
      return { scores, ...(names.length > 1 ? { combined: combineScores(normalized, weights) } : {}), decode: batch[i]!.decode };
    });
  };

  let closed = false;
  const rowsOf = (image: PreparedImage): number => Math.max(...image.inputs.map((t) => t.tokens));

  async function* scoreMany(
    inputs: Iterable<ScoreInput> | AsyncIterable<ScoreInput>,
    { signal }: { signal?: AbortSignal } = {},
  ): AsyncGenerator<ScoreRecord> {
    // Checked before every record: an abort or a close() stops the loop at once, not after the batch in hand.
    const stopIfAsked = (): void => {
      signal?.throwIfAborted();
      if (closed) throw new Error('this scorer is closed: create another with createScorer()');
    };
    stopIfAsked();
    const source = toAsyncIterator(inputs);
    const queue: Array<{ input: ScoreInput; prepared: Promise<PreparedImage> }> = [];
    let exhausted = false;
    const fill = async (): Promise<void> => {
      while (!exhausted && queue.length < prefetch) {
        const next = await source.next();
        if (next.done) {
          exhausted = true;
          return;
        }
        const prepared = prepare(next.value, signal);
        prepared.catch(() => undefined); // observed when its turn comes
        queue.push({ input: next.value, prepared });
      }
    };
    const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

    await fill();
    while (queue.length > 0) {
      stopIfAsked();
      const batch: Array<{ input: ScoreInput; prepared: PreparedImage }> = [];
      let failed: { input: ScoreInput; error: Error } | undefined;
      while (queue.length > 0) {
        const head = queue[0]!;
        let prepared: PreparedImage;
        try {
          prepared = await head.prepared;
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          // A failed image closes the batch, so records keep the input order.
          queue.shift();
          failed = { input: head.input, error: asError(error) };
          break;
        }
        if (!fitsBatch(batch.map((b) => rowsOf(b.prepared)), rowsOf(prepared), limits)) break;
        queue.shift();
        batch.push({ input: head.input, prepared });
        await fill();
      }
      if (batch.length > 0) {
        const inference = inferBatch(batch.map((b) => b.prepared));
        inference.catch(() => undefined);
        await fill(); // keep decoding ahead while the worker infers
        let results: ImageScore[] | undefined;
        let batchError: Error | undefined;
        try {
          results = await inference;
        } catch (error) {
          batchError = asError(error);
        }
        for (const [i, { input }] of batch.entries()) {
          stopIfAsked();
          yield results ? { input, result: results[i]! } : { input, error: batchError! };
        }
      }
      if (failed) {
        stopIfAsked();
        yield failed;
      }
      await fill();
    }
  }

  return {
    models: resolved.map((r) => r.sidecar),
    devices: worker.devices,
    stats,
    async score(input, { signal } = {}) {
      for await (const record of scoreMany([input], { signal })) {
        if (record.error) throw record.error;
        return record.result;
      }
      throw new Error('internal: no record');
    },
    scoreMany,
    async close() {
      closed = true;
      await worker.close();
    },
  };
}
