// What every resolver is given (settings merged from flags, env and the config file) and what it returns.
import { rmdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { cacheDir } from '../cache-dir.js';
import { ConfigError, DEFAULT_ORDER, loadConfig, mergeRegistry, MIRROR_KINDS, parseOrder, type MirrorKind, type ModelEntry, type SourceKind, type SourcesConfig } from './registry.js';

/** Options a command (convert, score, sources) or a library caller passes; all optional. */
export interface SourceOptions {
  /** Config file (default: $MUSIQ_NATIVE_CONFIG, else ~/.config/musiq-native/sources.json if present). */
  config?: string;
  /** Never touch the network: only caches and local files. */
  offline?: boolean;
  /** Folder with local checkpoints. */
  checkpointsDir?: string;
  /** Base URL per source kind, replacing the scheme and host of that source's URLs. */
  mirrors?: Partial<Record<MirrorKind, string>>;
  /** Source order for this run (overrides the config's, per model too). */
  order?: SourceKind[];
  /** Per-request timeout in seconds (connect, first byte, and each gap in a body). */
  timeoutSeconds?: number;
  /** Retries of transient failures per request. */
  retries?: number;
  /** Probe the network sources in parallel; the first healthy one is used, the others cancelled. */
  parallel?: boolean;
  /** Order sources by their recorded health and latency. */
  rank?: boolean;
  /** Convert again even when the models cache holds the model (the sources' own caches are still used). */
  refresh?: boolean;
}

/** Library-level extras (tests, embedding). */
export interface ChainOptions extends SourceOptions {
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** First retry delay; doubles each retry. */
  backoffMs?: number;
  lockPollMs?: number;
}

export interface SourceContext {
  env: NodeJS.ProcessEnv;
  /** musiq-native's own cache root (converted models, .npz downloads, health record). */
  cacheRoot: string;
  offline: boolean;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  mirrors: Partial<Record<MirrorKind, string>>;
  checkpointsDirs: string[];
  parallel: boolean;
  rank: boolean;
  refresh: boolean;
  lockPollMs: number;
  signal?: AbortSignal;
  log: (line: string) => void;
  /** Secrets to scrub from anything logged (filled by the Kaggle resolver). */
  secrets: string[];
}

export interface Settings {
  ctx: SourceContext;
  registry: Map<string, ModelEntry>;
  config: SourcesConfig;
  configFile?: string;
  /** The run's order override (flag or env), if any. */
  order?: SourceKind[];
}

export type ArtifactKind = 'npz' | 'savedmodel' | 'onnx';

export interface Artifact {
  path: string;
  kind: ArtifactKind;
}

export type ProbeStatus = 'available' | 'auth needed' | 'unreachable' | 'not found';

export interface ProbeResult {
  status: ProbeStatus;
  detail: string;
  latencyMs?: number;
}

export interface Resolver {
  readonly kind: SourceKind;
  /** Where the source takes the model from, for messages (handle, URL or file names). */
  location(model: ModelEntry, ctx: SourceContext): string;
  /** Without any network: the artifact if this source's cache already holds the model. */
  cached(model: ModelEntry, ctx: SourceContext): Promise<Artifact | undefined>;
  /** Gets the model into this source's cache (downloading if needed) and returns the artifact. */
  fetch(model: ModelEntry, ctx: SourceContext): Promise<Artifact>;
  /** Touches the network (no download) to tell whether the source can serve the model. */
  probe(model: ModelEntry, ctx: SourceContext): Promise<ProbeResult>;
  /**
   * Removes an artifact of this source's cache that failed to convert, so that the next attempt downloads it
   * again. Only for caches musiq-native owns: the Python clients' caches are shared and left alone.
   */
  discard?(artifact: Artifact, ctx: SourceContext): Promise<void>;
}

const ENV_MIRROR: Record<MirrorKind, string> = {
  tfhub: 'MUSIQ_NATIVE_TFHUB_MIRROR',
  kaggle: 'MUSIQ_NATIVE_KAGGLE_MIRROR',
  npz: 'MUSIQ_NATIVE_NPZ_MIRROR',
};

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

function positiveNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${name} must be a number ≥ 0, not '${value}'`);
  return n;
}

/** Merges flags > environment > config file > defaults. */
export function resolveSettings(options: ChainOptions = {}): Settings {
  const env = options.env ?? process.env;
  const { config, file } = loadConfig(options.config, env);
  const mirrors: Partial<Record<MirrorKind, string>> = {};
  for (const kind of MIRROR_KINDS) {
    const value = options.mirrors?.[kind] || env[ENV_MIRROR[kind]] || config.mirrors?.[kind]; // an empty variable is unset
    if (value) mirrors[kind] = value;
  }
  const cacheRoot = cacheDir(env);
  const checkpointsDir = options.checkpointsDir || env.MUSIQ_NATIVE_CHECKPOINTS || config.checkpointsDir;
  const checkpointsDirs = [...new Set([...(checkpointsDir ? [checkpointsDir] : []), join(cacheRoot, 'checkpoints')])];
  const order = options.order ?? (env.MUSIQ_NATIVE_SOURCES ? parseOrder(env.MUSIQ_NATIVE_SOURCES, 'MUSIQ_NATIVE_SOURCES') : undefined);
  const timeoutSeconds = options.timeoutSeconds ?? positiveNumber(env.MUSIQ_NATIVE_SOURCE_TIMEOUT, 'MUSIQ_NATIVE_SOURCE_TIMEOUT') ?? config.timeout ?? 30;
  const ctx: SourceContext = {
    env,
    cacheRoot,
    offline: options.offline ?? (truthy(env.MUSIQ_NATIVE_OFFLINE) || false),
    timeoutMs: Math.max(1, Math.round(timeoutSeconds * 1000)),
    retries: options.retries ?? positiveNumber(env.MUSIQ_NATIVE_RETRIES, 'MUSIQ_NATIVE_RETRIES') ?? config.retries ?? 2,
    backoffMs: options.backoffMs ?? 500,
    mirrors,
    checkpointsDirs,
    parallel: options.parallel ?? config.parallel ?? false,
    rank: options.rank ?? config.rank ?? false,
    refresh: options.refresh ?? false,
    lockPollMs: options.lockPollMs ?? 250,
    signal: options.signal,
    log: options.log ?? (() => undefined),
    secrets: [],
  };
  return { ctx, registry: mergeRegistry(config), config, configFile: file, order };
}

/** The order of sources for one model: the run's override, else the model's own, else the config's, else the default. */
export function orderFor(model: ModelEntry, settings: Settings): SourceKind[] {
  return [...(settings.order ?? model.order ?? settings.config.order ?? DEFAULT_ORDER)];
}

/** Rewrites a URL onto a mirror: the mirror's base replaces scheme and host; path and query are kept. */
export function applyMirror(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  const original = new URL(url);
  const base = mirror.replace(/\/+$/, '');
  return `${base}${original.pathname}${original.search}`;
}

/** Removes `dir` and its parents while they are empty, stopping at `stopAt` (kept). Best effort. */
export async function removeEmptyDirs(dir: string, stopAt: string): Promise<void> {
  let current = dir;
  while (relative(stopAt, current) && !relative(stopAt, current).startsWith('..')) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}
