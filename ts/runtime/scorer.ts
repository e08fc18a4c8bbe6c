// Scores images with one MUSIQ model: decode (sharp) → token rows (native addon, libuv pool) → ONNX Runtime.
// The session is created once; padding rows (mask 0) are dropped before inference, which is exact because
// real tokens give them zero attention weight (musiq-semantics.md §10.4) and saves their compute.
import ort from 'onnxruntime-node';
import { decodeImage, type DecodeOptions } from '../image/decode.js';
import { extractTokens, MASK_COLUMN, TOKEN_WIDTH, type TokenSet } from '../preprocess/tokens.js';
import { resolveModel } from './model.js';
import { createModelSession, type Device } from './session.js';
import type { ModelSidecar } from '../convert/convert.js';

export interface ScorerOptions extends DecodeOptions {
  /** `demo` or the path of a converted .onnx model. */
  model: string;
  device?: Device;
  threads?: number;
  /** Native-resolution patches: 'all' (published script) or a cap (1024 = TF Hub). Default: the model's own. */
  nativePatches?: 'all' | number;
  log?: (line: string) => void;
}

export interface ScoreResult {
  model: string;
  score: number;
  logits: number[];
  /** Token rows the model saw (without padding). */
  tokens: number;
  nativePatches: 'all' | number;
  decode: string[];
  demo?: string;
}

export type ScoreInput = string | Uint8Array;

/** One record of `scoreMany`: a result, or the error that stopped this input (the run goes on). */
export type ScoreRecord = { input: ScoreInput } & ({ result: ScoreResult; error?: undefined } | { error: Error; result?: undefined });

export interface Scorer {
  readonly model: ModelSidecar;
  readonly device: 'cpu' | 'cuda';
  score(input: ScoreInput, options?: { signal?: AbortSignal }): Promise<ScoreResult>;
  /**
   * Scores inputs in order. Decoding and patch extraction of the next `prefetch` inputs overlap inference of
   * the current one; a failing input yields an error record and the run continues.
   */
  scoreMany(inputs: Iterable<ScoreInput>, options?: { signal?: AbortSignal; prefetch?: number }): AsyncGenerator<ScoreRecord>;
  close(): Promise<void>;
}

interface Prepared {
  tokens: Float32Array;
  rows: number;
  decode: string[];
}

/** Keeps the rows with mask 1; returns the input unchanged when there is no padding. */
export function dropPaddingRows(set: TokenSet): { tokens: Float32Array; rows: number } {
  if (set.validRows === set.rows) return { tokens: set.tokens, rows: set.rows };
  const out = new Float32Array(set.validRows * TOKEN_WIDTH);
  let kept = 0;
  for (let r = 0; r < set.rows; r++) {
    if (set.tokens[r * TOKEN_WIDTH + MASK_COLUMN] === 0) continue;
    out.set(set.tokens.subarray(r * TOKEN_WIDTH, (r + 1) * TOKEN_WIDTH), kept * TOKEN_WIDTH);
    kept++;
  }
  return { tokens: out, rows: kept };
}

export async function createScorer(options: ScorerOptions): Promise<Scorer> {
  const { path, sidecar } = await resolveModel(options.model);
  const { session, device } = await createModelSession(path, options);
  const nativePatches = options.nativePatches ?? sidecar.preprocessing.nativePatches;
  const longerSides = sidecar.preprocessing.longerSides;

  const prepare = async (input: ScoreInput, signal?: AbortSignal): Promise<Prepared> => {
    const image = await decodeImage(input, options);
    signal?.throwIfAborted();
    const set = await extractTokens(image, { longerSides, nativePatches, signal });
    return { ...dropPaddingRows(set), decode: image.conversions };
  };
  const infer = async ({ tokens, rows, decode }: Prepared, signal?: AbortSignal): Promise<ScoreResult> => {
    const output = await session.run({ tokens: new ort.Tensor('float32', tokens, [1, rows, TOKEN_WIDTH]) });
    signal?.throwIfAborted();
    return {
      model: sidecar.name,
      score: (output.score!.data as Float32Array)[0]!,
      logits: Array.from(output.logits!.data as Float32Array),
      tokens: rows,
      nativePatches,
      decode,
      ...(sidecar.demo ? { demo: sidecar.demo } : {}),
    };
  };

  return {
    model: sidecar,
    device,
    async score(input, { signal } = {}) {
      return infer(await prepare(input, signal), signal);
    },
    async *scoreMany(inputs, { signal, prefetch = 2 } = {}) {
      const pending: Array<{ input: ScoreInput; prepared: Promise<Prepared> }> = [];
      const iterator = inputs[Symbol.iterator]();
      const fill = (): void => {
        while (pending.length <= prefetch) {
          const next = iterator.next();
          if (next.done) return;
          const prepared = prepare(next.value, signal);
          prepared.catch(() => undefined); // observed when its turn comes
          pending.push({ input: next.value, prepared });
        }
      };
      fill();
      while (pending.length > 0) {
        signal?.throwIfAborted();
        const { input, prepared } = pending.shift()!;
        fill();
        try {
          yield { input, result: await infer(await prepared, signal) };
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          yield { input, error: error instanceof Error ? error : new Error(String(error)) };
        }
      }
    },
    async close() {
      await session.release();
    },
  };
}
