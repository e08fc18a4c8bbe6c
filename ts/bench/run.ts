// `musiq-native bench`: throughput, latency, memory and the time per stage of the scoring engine on
// generated and real images, and the achieved GFLOP/s of inference next to the machine's GEMM ceiling.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../cache-dir.js';
import { ensureSyntheticModel, FULL_SIZE_CONFIG } from '../convert/demo-model.js';
import { readSidecarFile, sidecarPath, type ModelSidecar } from '../convert/convert.js';
import { createScorer, type NativePatches, type Scorer } from '../runtime/scorer.js';
import type { Device } from '../runtime/session.js';
import { musiqFlops } from './flops.js';
import { measureGemmCeiling, type GemmCeiling } from './gemm-ceiling.js';
import { preprocessSpeed, type PreprocessSpeed } from './preprocess-bench.js';
import { BENCH_SIZES, generatedImages, samplePhotos, sizeLabel } from './workloads.js';

export interface BenchOptions {
  quick: boolean;
  device: Device;
  /** ONNX Runtime thread counts to sweep (undefined = ONNX Runtime's default). */
  threads: Array<number | undefined>;
  /** Images per batch to sweep. */
  batches: number[];
  /** Generated image sizes to run (default: all of BENCH_SIZES; 1024×768 with quick). */
  sizes?: ReadonlyArray<readonly [number, number]>;
  /** Models per pass to run: 1 and/or 4 (default both; 1 with quick). */
  modelCounts?: number[];
  workDir: string;
  log: (line: string) => void;
}

export interface WorkloadResult {
  images: string;
  mode: NativePatches;
  models: number;
  batch: number;
  threads: number | 'default';
  count: number;
  imagesPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number };
  peakRssMiB: number;
  /** Busy time per stage as a share of their sum (stages overlap in time). */
  stageShare: { decode: number; preprocess: number; inference: number; report: number };
  /** Useful FLOPs (padding excluded) per second of inference. */
  achievedGflops: number;
  ceilingRatio: number;
}

export interface BenchReport {
  machine: { cpus: number; device: string; node: string };
  weights: string;
  /** One per thread count swept: the better of a measurement before and one after its workloads. */
  ceilings: Array<GemmCeiling & { threads: number | 'default' }>;
  preprocess: PreprocessSpeed[];
  workloads: WorkloadResult[];
}

/** The four MUSIQ checkpoints: the real ones when the cache holds them at full size, else seeded random stand-ins. */
const MODEL_SLOTS = [
  { name: 'koniq', classes: 1, seed: 101 },
  { name: 'spaq', classes: 1, seed: 102 },
  { name: 'paq2piq', classes: 1, seed: 103 },
  { name: 'ava', classes: 10, seed: 104 },
] as const;

/**
 * Why a cached model cannot stand for a published checkpoint in the benchmark (its numbers would be for
 * another model), or undefined when it can: it must be MUSIQ at the full-size configuration with the slot's
 * head, and have real weights.
 */
export function notBenchable(sidecar: ModelSidecar, classes: number): string | undefined {
  if (sidecar.architecture !== 'musiq') return 'not a MUSIQ model';
  if (sidecar.demo) return 'it has random weights';
  const c = sidecar.config;
  const full = { ...FULL_SIZE_CONFIG, numClasses: classes };
  if ((Object.keys(full) as Array<keyof typeof full>).every((key) => c[key] === full[key])) return undefined;
  return (
    `hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads, MLP ${c.mlpDim}, ${c.numClasses} class(es) is not the full-size ` +
    `MUSIQ configuration (hidden ${full.hiddenSize}, ${full.numLayers} layers, ${full.numHeads} heads, MLP ${full.mlpDim}, ${classes} class(es))`
  );
}

/** The cached model of a slot when it has the real, full-size weights; else the reason it is not used. */
async function cachedRealModel(path: string, classes: number): Promise<{ path?: string; reason?: string }> {
  if (!existsSync(path) || !existsSync(sidecarPath(path))) return {};
  try {
    const reason = notBenchable(await readSidecarFile(path), classes);
    return reason ? { reason } : { path };
  } catch (error) {
    return { reason: error instanceof Error ? error.message : String(error) };
  }
}

export async function benchModels(count: number, log: (line: string) => void, dir = join(cacheDir(), 'models')): Promise<{ paths: string[]; weights: string }> {
  const real: string[] = [];
  const synthetic: string[] = [];
  const paths: string[] = [];
  for (const { name, classes, seed } of MODEL_SLOTS.slice(0, count)) {
    const cached = await cachedRealModel(join(dir, `${name}.onnx`), classes);
    if (cached.reason) log(`bench: not using the cached ${name}.onnx: ${cached.reason}`);
    if (cached.path) real.push(name);
    else synthetic.push(name);
    paths.push(cached.path ?? (await ensureSyntheticModel(`bench-${name}`, classes, seed, dir)));
  }
  const weights = [
    ...(real.length ? [`real weights (cached) for ${real.join(', ')}`] : []),
    ...(synthetic.length ? [`seeded random weights (full-size MUSIQ configuration) for ${synthetic.join(', ')}: speed only, not scores`] : []),
  ].join('; ');
  log(`bench: ${weights}`);
  return { paths, weights };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Samples resident memory while a workload runs (the inference worker lives in this process). */
function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 25);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss()) / 2 ** 20;
    },
  };
}

async function runWorkload(
  scorer: Scorer,
  sidecars: readonly ModelSidecar[],
  images: string[],
): Promise<Omit<WorkloadResult, 'images' | 'mode' | 'models' | 'batch' | 'threads' | 'ceilingRatio'>> {
  const before = { ...scorer.stats };
  const pulledAt = new Map<string, number>();
  async function* timed(): AsyncGenerator<string> {
    for (const image of images) {
      pulledAt.set(image, performance.now());
      yield image;
    }
  }
  const memory = rssSampler();
  const latencies: number[] = [];
  let flops = 0;
  let reportMs = 0;
  const started = performance.now();
  for await (const record of scorer.scoreMany(timed())) {
    const reportStarted = performance.now();
    latencies.push(reportStarted - pulledAt.get(record.input as string)!);
    if (record.error) throw record.error;
    for (const sidecar of sidecars) {
      // The FLOP model covers MUSIQ only; VILA models add none.
      if (sidecar.architecture === 'musiq') flops += musiqFlops(sidecar.config, record.result.scores[sidecar.name]!.tokens).total;
    }
    JSON.stringify(record.result); // the report stage: what `score` does per record
    reportMs += performance.now() - reportStarted;
  }
  const seconds = (performance.now() - started) / 1000;
  const peakRssMiB = memory.stop();
  const s = scorer.stats;
  const busy = {
    decode: s.decodeMs - before.decodeMs,
    preprocess: s.preprocessMs - before.preprocessMs,
    inference: s.inferenceMs - before.inferenceMs,
    report: reportMs,
  };
  const total = busy.decode + busy.preprocess + busy.inference + busy.report;
  const achievedGflops = flops / (busy.inference / 1000) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    count: images.length,
    imagesPerSecond: images.length / seconds,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
    peakRssMiB,
    stageShare: {
      decode: busy.decode / total,
      preprocess: busy.preprocess / total,
      inference: busy.inference / total,
      report: busy.report / total,
    },
    achievedGflops,
  };
}

interface Plan {
  label: string;
  images: string[];
  mode: NativePatches;
  models: number;
}

async function plans(options: BenchOptions, modelCounts: readonly number[]): Promise<Plan[]> {
  const { quick, workDir } = options;
  const out: Plan[] = [];
  const sizes = options.sizes ?? (quick ? BENCH_SIZES.filter(([w]) => w === 1024) : BENCH_SIZES);
  for (const size of sizes) {
    // 12 MP at full resolution is ~12k tokens per image: two images and one model keep the run bounded.
    const huge = size[0] * size[1] > 4e6;
    const images = await generatedImages(workDir, size, quick ? 3 : huge ? 2 : 6);
    for (const mode of ['all', 1024] as const) {
      for (const models of modelCounts) if (models === 1 || !huge) out.push({ label: sizeLabel(size), images, mode, models });
    }
  }
  if (!quick && !options.sizes && modelCounts.includes(4)) out.push({ label: 'sample photos', images: samplePhotos(), mode: 'all', models: 4 });
  return out;
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { log } = options;
  const modelCounts = options.modelCounts ?? (options.quick ? [1] : [1, MODEL_SLOTS.length]);
  const { paths, weights } = await benchModels(Math.max(...modelCounts), log);
  const ceilings: BenchReport['ceilings'] = [];
  const ceilingAt = async (threads: number | undefined): Promise<GemmCeiling> => {
    const ceiling = await measureGemmCeiling({ device: options.device, threads, seconds: options.quick ? 1 : 3 });
    log(`bench: GEMM ceiling ${ceiling.gflops.toFixed(1)} GFLOP/s (MatMul ${ceiling.shape.join('×')}, threads ${threads ?? 'default'})`);
    return ceiling;
  };
  const preprocess = await preprocessSpeed(options.sizes ?? (options.quick ? [[1024, 768]] : BENCH_SIZES), options.quick ? 0.5 : 2);
  const workloads: WorkloadResult[] = [];
  let device = 'cpu';
  const allPlans = await plans(options, modelCounts);
  for (const threads of options.threads) {
    const before = await ceilingAt(threads);
    const fromHere = workloads.length;
    for (const batch of options.batches) {
      for (const modelCount of modelCounts) {
        const selected = allPlans.filter((p) => p.models === modelCount);
        if (selected.length === 0) continue;
        for (const mode of ['all', 1024] as const) {
          const modePlans = selected.filter((p) => p.mode === mode);
          if (modePlans.length === 0) continue;
          const scorer = await createScorer({
            models: paths.slice(0, modelCount),
            device: options.device,
            threads,
            nativePatches: mode,
            batch: { maxImages: batch, tokenBudget: 1 << 20 },
            maxTokens: 1 << 20,
          });
          device = scorer.devices[0] ?? device;
          try {
            // One untimed image first: ONNX Runtime's first run is slower (thread start-up, first allocations).
            for await (const _ of scorer.scoreMany(modePlans[0]!.images.slice(0, 1))) void _;
            for (const plan of modePlans) {
              log(`bench: ${plan.label}, ${mode === 'all' ? 'full resolution' : `cap ${mode}`}, ${modelCount} model(s), batch ${batch}, threads ${threads ?? 'default'}`);
              const result = await runWorkload(scorer, scorer.models, plan.images);
              workloads.push({ images: plan.label, mode, models: modelCount, batch, threads: threads ?? 'default', ceilingRatio: Number.NaN, ...result });
            }
          } finally {
            await scorer.close();
          }
        }
      }
    }
    // Another process busy during one measurement lowers it, never raises it: keep the better of the two.
    const after = await ceilingAt(threads);
    const ceiling = after.gflops > before.gflops ? after : before;
    ceilings.push({ ...ceiling, threads: threads ?? 'default' });
    for (const w of workloads.slice(fromHere)) w.ceilingRatio = w.achievedGflops / ceiling.gflops;
  }
  const { availableParallelism } = await import('node:os');
  return { machine: { cpus: availableParallelism(), device, node: process.version }, weights, ceilings, preprocess, workloads };
}
