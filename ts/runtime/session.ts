// ONNX Runtime sessions: one per model, created once and reused for every image. `auto` tries CUDA and falls
// back to CPU, saying why in one line; `cuda` fails loudly instead. A model's graph is checked against its sidecar.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { readSidecarFile, sidecarPath } from '../convert/sidecar.js';
import type { ModelSidecar } from '../convert/convert.js';

export type Device = 'auto' | 'cpu' | 'cuda';

export interface SessionOptions {
  device?: Device;
  /** Intra-op threads; ONNX Runtime picks the number of physical cores when unset. */
  threads?: number;
  /** One-line notices (which execution provider runs, fallbacks). */
  log?: (line: string) => void;
}

export interface ModelSession {
  session: ort.InferenceSession;
  /** The execution provider actually used. */
  device: 'cpu' | 'cuda';
}

export const CUDA_HELP =
  'the CUDA execution provider is not installed: onnxruntime-node skips its CUDA download in this project (.npmrc); ' +
  'on a machine with an NVIDIA GPU run `npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12` (see README, "GPU")';

/** Whether onnxruntime-node's CUDA provider library was installed next to its binding. */
function cudaProviderInstalled(): boolean {
  const binRoot = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin');
  if (!existsSync(binRoot)) return false;
  return readdirSync(binRoot).some((napi) =>
    existsSync(join(binRoot, napi, process.platform, process.arch, 'libonnxruntime_providers_cuda.so')),
  );
}

function nvidiaGpuPresent(): boolean {
  return existsSync('/proc/driver/nvidia/version') || existsSync('/dev/nvidia0');
}

function baseOptions(options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    // The CPU arena keeps each session's largest run allocated: with several models in one pass their peaks
    // added up (1920×1080, four models: 4.9 GiB with it, 1.9 GiB without, same speed; one 12 MP image: 18 → 8 GiB).
    enableCpuMemArena: false,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
}

async function createCuda(model: string | Uint8Array, options: SessionOptions): Promise<ort.InferenceSession> {
  // TF32 would change the numbers (musiq-semantics.md §15.17); the CUDA EP reads this provider option.
  const cuda = { name: 'cuda', use_tf32: 0 } as ort.InferenceSession.ExecutionProviderConfig;
  const sessionOptions = { ...baseOptions(options), executionProviders: [cuda] };
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, sessionOptions)
    : ort.InferenceSession.create(model, sessionOptions);
}

export class ModelMismatchError extends Error {
  override name = 'ModelMismatchError';
}

/** Why a session's graph is not the model its sidecar describes (input, outputs, class count); undefined if it is. */
export function sidecarMismatch(session: ort.InferenceSession, sidecar: ModelSidecar): string | undefined {
  const [kind, input] = sidecar.architecture === 'vila' ? ['a VILA-R', 'pixels'] : ['a MUSIQ', 'tokens'];
  const list = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ');
  if (!session.inputNames.includes(input)) {
    return `the sidecar describes ${kind} model (input '${input}'), but the model's inputs are ${list(session.inputNames)}`;
  }
  if (!session.outputNames.includes('score')) return `the model has no 'score' output (its outputs are ${list(session.outputNames)})`;
  if (sidecar.architecture === 'musiq') {
    const logits = session.outputMetadata.find((m) => m.name === 'logits');
    const classes = logits?.isTensor ? logits.shape[1] : undefined;
    // A symbolic class dimension cannot be checked here; a fixed one must agree.
    if (!logits || (typeof classes === 'number' && classes !== sidecar.config.numClasses)) {
      return `the sidecar describes ${sidecar.config.numClasses} class(es), but the model's 'logits' output has ${logits ? `${classes}` : 'no such output'}`;
    }
  }
  return undefined;
}

/**
 * A session for a model file that has a sidecar is checked against it, so that a model and a description that
 * do not belong together fail here, naming both, rather than scoring wrongly or failing on every image.
 */
export async function createModelSession(model: string | Uint8Array, options: SessionOptions = {}): Promise<ModelSession> {
  const opened = await openSession(model, options);
  if (typeof model === 'string' && existsSync(sidecarPath(model))) {
    const problem = sidecarMismatch(opened.session, await readSidecarFile(model));
    if (problem) {
      await opened.session.release();
      throw new ModelMismatchError(`${model} does not match its sidecar ${sidecarPath(model)}: ${problem}; convert the model again to get a matching pair`);
    }
  }
  return opened;
}

async function openSession(model: string | Uint8Array, options: SessionOptions): Promise<ModelSession> {
  const device = options.device ?? 'auto';
  const log = options.log ?? (() => {});
  if (device !== 'cpu') {
    let reason: string;
    if (!nvidiaGpuPresent()) {
      reason = 'no NVIDIA GPU found';
    } else if (cudaProviderInstalled()) {
      try {
        const session = await createCuda(model, options);
        log('musiq-native: running on CUDA (onnxruntime-node CUDA execution provider)');
        return { session, device: 'cuda' };
      } catch (error) {
        reason = `CUDA execution provider failed to start: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      }
    } else {
      reason = CUDA_HELP;
    }
    if (device === 'cuda') throw new Error(`--device cuda: ${reason}`);
    log(`musiq-native: running on CPU (${reason})`);
  } else {
    log('musiq-native: running on CPU (--device cpu)');
  }
  const cpuOptions = { ...baseOptions(options), executionProviders: ['cpu'] };
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model, cpuOptions)
      : await ort.InferenceSession.create(model, cpuOptions);
  return { session, device: 'cpu' };
}
