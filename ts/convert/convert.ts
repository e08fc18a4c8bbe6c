// Checkpoint → ONNX model + JSON sidecar. The sidecar travels next to the model (`<model>.onnx.json`) and tells
// the runtime what the model is: its name, configuration, output range, preprocessing and where it came from.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { PACKAGE_VERSION } from '../version.js';
import { readNpz } from './npz.js';
import { sidecarPath } from './sidecar.js';
import { buildMusiqGraph } from './musiq-graph.js';
import { CHECKPOINT_PREFIX, musiqParamsFrom, toFloat32, type MusiqConfig, type ParamTree } from './musiq-params.js';
import type { VilaConfig } from './vila-params.js';
import type { GraphBuilder } from '../onnx/graph.js';

// Sidecar files are read by the inference worker too, which should not load the converter to do so.
export { readSidecarFile, SidecarError, sidecarPath } from './sidecar.js';

/**
 * The local file (or SavedModel folder) a cached model was converted from, as it was then: the sources chain
 * converts again when it changes.
 */
export interface LocalFingerprint {
  path: string;
  /** Bytes; for a folder, the sum over its files. */
  size: number;
  /** For a folder, the newest of its files. */
  mtimeMs: number;
}

interface SidecarBase {
  format: 'musiq-native-model';
  formatVersion: 1;
  name: string;
  /** Documented output range of the score, used to normalise it to 0..1. */
  scoreRange: [number, number];
  higherIsBetter: true;
  /** `logit` for one class, `expectation-1-to-N` for a softmax over N classes, `cosine` for VILA. */
  scoreRule: string;
  source: { kind: string; file: string; sha256: string; local?: LocalFingerprint };
  /** Set for models whose weights are random: their numbers are not quality scores. */
  demo?: string;
  producer: string;
}

export interface MusiqSidecar extends SidecarBase {
  architecture: 'musiq';
  config: MusiqConfig;
  preprocessing: { longerSides: number[]; nativePatches: 'all' | number; patchSize: number; hashGridSize: number };
}

export interface VilaSidecar extends SidecarBase {
  architecture: 'vila';
  config: VilaConfig;
  /** Squash to resize×resize (TF1 legacy bilinear), centre crop crop×crop (vila.md §2). */
  preprocessing: { resize: number; crop: number };
}

export type ModelSidecar = MusiqSidecar | VilaSidecar;

/** Score ranges documented on the model cards (musiq-semantics.md §14), keyed by checkpoint name. */
const KNOWN_RANGES: Record<string, [number, number]> = {
  koniq: [0, 100],
  spaq: [0, 100],
  paq2piq: [0, 100],
  ava: [1, 10],
  // A cosine in [-1, 1] that the model card describes as 0..1 (vila.md §1): normalising clips it to 0..1.
  vila: [0, 1],
};

/** Guesses the model name from a checkpoint file name such as `koniq_ckpt.npz`. */
export function modelNameFromFile(file: string): string {
  const stem = basename(file).replace(/\.(npz|onnx)$/i, '').replace(/_ckpt$/i, '');
  const known = Object.keys(KNOWN_RANGES).find((name) => stem.toLowerCase().startsWith(name));
  return known ?? stem;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads the `opt/target/` parameters of a MUSIQ .npz checkpoint; optimizer state is skipped unread. */
export async function readMusiqNpz(path: string, options: { signal?: AbortSignal; warn?: (line: string) => void } = {}): Promise<ParamTree> {
  const arrays = await readNpz(path, { keyFilter: (key) => key.startsWith(CHECKPOINT_PREFIX), signal: options.signal });
  const params: ParamTree = new Map();
  for (const [key, array] of arrays) {
    const name = key.slice(CHECKPOINT_PREFIX.length);
    const { tensor, warning } = toFloat32(key, array);
    if (warning) options.warn?.(warning);
    params.set(name, tensor);
  }
  return params;
}

export function scoreRangeFor(name: string, numClasses: number): [number, number] {
  return KNOWN_RANGES[name] ?? (numClasses === 1 ? [0, 100] : [1, numClasses]);
}

/** Writes a file atomically: to a temporary name in the same folder, then renamed over the target. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

export interface WriteModelOptions {
  name: string;
  source: ModelSidecar['source'];
  nativePatches?: 'all' | number;
  demo?: string;
}

/** Builds the ONNX graph for a parameter tree and writes the model and its sidecar. */
export async function writeMusiqModel(params: ParamTree, outPath: string, options: WriteModelOptions): Promise<MusiqSidecar> {
  const validated = musiqParamsFrom(params, options.source.file);
  const { config } = validated;
  if (config.numClasses !== 1 && config.numClasses !== 10) {
    throw new Error(
      `${options.source.file} has a ${config.numClasses}-class head; musiq-native scores quality (1 class) and aesthetics (10 classes) checkpoints only`,
    );
  }
  const sidecar: MusiqSidecar = {
    format: 'musiq-native-model',
    formatVersion: 1,
    name: options.name,
    architecture: 'musiq',
    config,
    scoreRange: scoreRangeFor(options.name, config.numClasses),
    higherIsBetter: true,
    scoreRule: config.numClasses === 1 ? 'logit' : `expectation-1-to-${config.numClasses}`,
    preprocessing: {
      longerSides: config.numScales === 3 ? [224, 384] : [],
      nativePatches: options.nativePatches ?? 'all',
      patchSize: 32,
      hashGridSize: config.spatialPosGridSize,
    },
    source: options.source,
    ...(options.demo ? { demo: options.demo } : {}),
    producer: `musiq-native ${PACKAGE_VERSION}`,
  };
  await writeModelFiles(buildMusiqGraph(validated.params, config), outPath, sidecar, `MUSIQ ${options.name}`);
  return sidecar;
}

/** Writes the ONNX model (the sidecar copied into its metadata) and the sidecar next to it. */
export async function writeModelFiles(graph: GraphBuilder, outPath: string, sidecar: ModelSidecar, what: string): Promise<void> {
  const bytes = graph.serialize({
    producerVersion: PACKAGE_VERSION,
    docString: `${what} converted from ${basename(sidecar.source.file)}`,
    metadata: { 'musiq-native': JSON.stringify(sidecar) },
  });
  await writeFileAtomic(outPath, bytes);
  await writeFileAtomic(sidecarPath(outPath), `${JSON.stringify(sidecar, null, 2)}\n`);
}

export interface ConvertNpzOptions {
  name?: string;
  signal?: AbortSignal;
  warn?: (line: string) => void;
}

/** `musiq-native convert --from file.npz --out model.onnx` */
export async function convertNpz(npzPath: string, outPath: string, options: ConvertNpzOptions = {}): Promise<MusiqSidecar> {
  const [params, sha256] = await Promise.all([readMusiqNpz(npzPath, options), sha256File(npzPath)]);
  return writeMusiqModel(params, outPath, {
    name: options.name ?? modelNameFromFile(npzPath),
    source: { kind: 'npz', file: npzPath, sha256 },
  });
}
