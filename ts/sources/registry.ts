// The models musiq-native can fetch by name, as data: where each one is published (TF Hub handle, Kaggle
// handle, public .npz URL, local file names), what its score means, and the native-patch cap each source
// implies. A user config file adds models or overrides handles, mirrors and the order of sources
// ("Adding New Models" in original-system-triple-fallback.md; handles from hub-protocols.md §1, §5).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const SOURCE_KINDS = ['tfhub', 'kaggle', 'npz', 'local'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];
/** Source kinds that have a download URL a mirror can replace. */
export type MirrorKind = Exclude<SourceKind, 'local'>;
export const MIRROR_KINDS: readonly MirrorKind[] = ['tfhub', 'kaggle', 'npz'];

/** The issue's order: TF Hub → Kaggle Models → .npz URL → local files (the models cache is always first). */
export const DEFAULT_ORDER: readonly SourceKind[] = ['tfhub', 'kaggle', 'npz', 'local'];

export const SOURCE_LABELS: Record<SourceKind, string> = {
  tfhub: 'TF Hub',
  kaggle: 'Kaggle Models',
  npz: '.npz URL',
  local: 'local files',
};

/** What a source delivers: a SavedModel folder, an .npz checkpoint, an .onnx model, or whichever is found. */
export type ArtifactFormat = 'savedmodel' | 'npz' | 'onnx' | 'any';

export interface ModelEntry {
  name: string;
  description: string;
  architecture: 'musiq' | 'vila';
  /** Documented output range (model card). */
  scoreRange: [number, number];
  /** Which end of the range is better: higher for every MUSIQ and VILA head (their training targets are MOS and aesthetic ratings). */
  better: 'higher';
  numClasses: number;
  /** TF Hub handle, as Python's tensorflow_hub is given it (its sha1 names the cache folder). */
  tfhub?: string;
  /** Kaggle handle `owner/model/framework/variation[/version]` (kagglehub form: `tensorFlow2`). */
  kaggle?: string;
  /** Public .npz checkpoint URL. */
  npz?: string;
  /** File or folder names looked up in the checkpoints folders (or absolute paths). */
  local: string[];
  /** Native-resolution patch cap each source implies ('all' = every patch, as the published script). */
  patchCaps: Partial<Record<SourceKind, 'all' | number>>;
  /** Per-model order; the global order when absent. */
  order?: SourceKind[];
}

const GCS = 'https://storage.googleapis.com/gresearch/musiq';

function musiq(name: string, hubName: string, description: string, scoreRange: [number, number], numClasses: number): ModelEntry {
  return {
    name,
    description,
    architecture: 'musiq',
    scoreRange,
    better: 'higher',
    numClasses,
    tfhub: `https://tfhub.dev/google/musiq/${hubName}/1`,
    kaggle: `google/musiq/tensorFlow2/${hubName}/1`,
    npz: `${GCS}/${name}_ckpt.npz`,
    local: [`${name}_ckpt.npz`, `${name}.npz`, `${name}.onnx`, name],
    // The hub SavedModels take a fixed 1217-token sequence (49 + 144 + 1024 native patches, musiq-semantics.md
    // §9 mode B); the published script and its .npz checkpoints use every native patch (mode A).
    patchCaps: { tfhub: 1024, kaggle: 1024, npz: 'all' },
  };
}

/** The five scoring models (hub-protocols.md §1). All five have a TF Hub handle, KonIQ included. */
export const BUILTIN_MODELS: readonly ModelEntry[] = [
  musiq('koniq', 'koniq-10k', 'MUSIQ trained on KonIQ-10k (technical quality, MOS 0..100)', [0, 100], 1),
  musiq('spaq', 'spaq', 'MUSIQ trained on SPAQ (smartphone photo quality, 0..100)', [0, 100], 1),
  musiq('paq2piq', 'paq2piq', 'MUSIQ trained on PaQ-2-PiQ (technical quality, 0..100)', [0, 100], 1),
  musiq('ava', 'ava', 'MUSIQ trained on AVA (aesthetics, mean of a 1..10 distribution)', [1, 10], 10),
  {
    name: 'vila',
    description: 'VILA-R (aesthetics; a cosine the model card describes as 0..1)',
    architecture: 'vila',
    scoreRange: [0, 1],
    better: 'higher',
    numClasses: 1,
    tfhub: 'https://tfhub.dev/google/vila/image/1',
    kaggle: 'google/vila/tensorFlow2/image/1',
    // No .npz URL: VILA's raw weights are a Pax checkpoint (vila.md §8); a local .npz in the Pax layout converts.
    local: ['vila-tensorflow2-image-v1', 'vila', 'vila.onnx', 'vila_params.npz'],
    // Fixed 224×224 input, 196 patches: no native-resolution patches to cap.
    patchCaps: {},
  },
];

/** A user config file (JSON). Every field is optional. */
export interface SourcesConfig {
  /** Global source order, e.g. ["npz", "local", "tfhub", "kaggle"]. */
  order?: SourceKind[];
  /** Base URL per source kind that replaces the scheme and host of its URLs (path kept). */
  mirrors?: Partial<Record<MirrorKind, string>>;
  /** Folder with local checkpoints (.npz, SavedModel folders, converted .onnx). */
  checkpointsDir?: string;
  /** Per-request timeout (seconds) and retries of transient failures. */
  timeout?: number;
  retries?: number;
  /** Try network sources in parallel (first healthy one wins) / order them by their recorded health. */
  parallel?: boolean;
  rank?: boolean;
  /**
   * New models, or overrides of built-in ones. Setting a source to null removes it, e.g.
   * `{"koniq": {"tfhub": null}}`; `local` may be a string or a list.
   */
  models?: Record<string, ModelOverride>;
}

export interface ModelOverride {
  description?: string;
  architecture?: 'musiq' | 'vila';
  scoreRange?: [number, number];
  numClasses?: number;
  tfhub?: string | null;
  kaggle?: string | null;
  npz?: string | null;
  local?: string | string[] | null;
  patchCaps?: Partial<Record<SourceKind, 'all' | number>>;
  order?: SourceKind[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The config file used when none is named: $MUSIQ_NATIVE_CONFIG, else $XDG_CONFIG_HOME/musiq-native/sources.json. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MUSIQ_NATIVE_CONFIG) return env.MUSIQ_NATIVE_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'musiq-native', 'sources.json');
}

function isKind(value: unknown): value is SourceKind {
  return typeof value === 'string' && (SOURCE_KINDS as readonly string[]).includes(value);
}

export function parseOrder(value: unknown, where: string): SourceKind[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every(isKind)) {
    const bad = Array.isArray(list) ? list.find((item) => !isKind(item)) : undefined;
    throw new ConfigError(`${where}: the source order must list some of ${SOURCE_KINDS.join(', ')}${bad === undefined ? '' : ` (${JSON.stringify(bad)} is not one)`}`);
  }
  return [...new Set(list)];
}

function checkUrl(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new ConfigError(`${where} must be a URL string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${where}: '${value}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${where}: only http(s) URLs are supported, not '${value}'`);
  return value;
}

export function checkKaggleHandle(value: unknown, where: string): string {
  if (typeof value !== 'string' || !/^[^/\s]+\/[^/\s]+\/[^/\s]+\/[^/\s]+(\/\d+)?$/.test(value)) {
    throw new ConfigError(`${where}: a Kaggle handle is owner/model/framework/variation[/version], not '${String(value)}'`);
  }
  return value;
}

/** The fields a model entry may set, for the error that names an unknown one. */
const MODEL_FIELDS = ['description', 'architecture', 'scoreRange', 'numClasses', 'tfhub', 'kaggle', 'npz', 'local', 'patchCaps', 'order', 'comment'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-empty string: a path or a file name (an empty one would silently mean the current folder). */
function checkText(value: unknown, where: string, what: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`${where} must be ${what}, not ${JSON.stringify(value)}`);
}

function validateModel(name: string, model: unknown, file: string): void {
  const where = `${file}: models.${name}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new ConfigError(`${file}: models: '${name}' is not a model name: letters, digits, '.', '_' and '-', starting with a letter or digit`);
  }
  if (name === 'demo') throw new ConfigError(`${where}: 'demo' is the built-in demo model; give yours another name`);
  if (!isObject(model)) throw new ConfigError(`${where}: expected an object`);
  for (const key of Object.keys(model)) {
    if (!(MODEL_FIELDS as readonly string[]).includes(key)) throw new ConfigError(`${where}: unknown field '${key}' (a model has ${MODEL_FIELDS.join(', ')})`);
  }
  if (model.description !== undefined && typeof model.description !== 'string') throw new ConfigError(`${where}.description must be a string`);
  if (model.architecture !== undefined && model.architecture !== 'musiq' && model.architecture !== 'vila') {
    throw new ConfigError(`${where}.architecture must be 'musiq' or 'vila', not ${JSON.stringify(model.architecture)}`);
  }
  if (model.tfhub != null) checkUrl(model.tfhub, `${where}.tfhub`);
  if (model.npz != null) checkUrl(model.npz, `${where}.npz`);
  if (model.kaggle != null) checkKaggleHandle(model.kaggle, `${where}.kaggle`);
  if (model.local != null) {
    const names = Array.isArray(model.local) ? model.local : [model.local];
    for (const local of names) checkText(local, `${where}.local`, 'a file name or a list of file names');
  }
  if (model.order !== undefined) model.order = parseOrder(model.order, `${where}.order`);
  const range = model.scoreRange;
  if (range !== undefined && !(Array.isArray(range) && range.length === 2 && range.every(Number.isFinite) && range[0] < range[1])) {
    throw new ConfigError(`${where}.scoreRange must be [low, high], two numbers with low < high, not ${JSON.stringify(range)}`);
  }
  if (model.numClasses !== undefined && !(Number.isInteger(model.numClasses) && (model.numClasses as number) > 0)) throw new ConfigError(`${where}.numClasses must be a whole number > 0`);
  if (model.patchCaps !== undefined) {
    if (!isObject(model.patchCaps)) throw new ConfigError(`${where}.patchCaps must be an object such as {"npz": "all", "tfhub": 1024}`);
    for (const [kind, cap] of Object.entries(model.patchCaps)) {
      if (!isKind(kind)) throw new ConfigError(`${where}.patchCaps.${kind}: not a source (${SOURCE_KINDS.join(', ')})`);
      if (cap !== 'all' && !(Number.isInteger(cap) && (cap as number) >= 0)) throw new ConfigError(`${where}.patchCaps.${kind} must be 'all' or a whole number ≥ 0, not ${JSON.stringify(cap)}`);
    }
  }
}

function validateConfig(raw: unknown, file: string): SourcesConfig {
  if (!isObject(raw)) throw new ConfigError(`${file}: expected a JSON object`);
  const config = raw;
  const known = new Set(['order', 'mirrors', 'checkpointsDir', 'timeout', 'retries', 'parallel', 'rank', 'models', '$schema', 'comment']);
  for (const key of Object.keys(config)) if (!known.has(key)) throw new ConfigError(`${file}: unknown setting '${key}'`);
  if (config.order !== undefined) config.order = parseOrder(config.order, `${file}: order`);
  if (config.mirrors !== undefined) {
    if (!isObject(config.mirrors)) throw new ConfigError(`${file}: mirrors must be an object`);
    for (const [kind, url] of Object.entries(config.mirrors)) {
      if (!(MIRROR_KINDS as readonly string[]).includes(kind)) throw new ConfigError(`${file}: mirrors.${kind}: not a source with URLs (${MIRROR_KINDS.join(', ')})`);
      checkUrl(url, `${file}: mirrors.${kind}`);
    }
  }
  if (config.checkpointsDir !== undefined) checkText(config.checkpointsDir, `${file}: checkpointsDir`, 'a folder path');
  for (const key of ['timeout', 'retries'] as const) {
    if (config[key] !== undefined && (typeof config[key] !== 'number' || !((config[key] as number) >= 0))) {
      throw new ConfigError(`${file}: ${key} must be a number ≥ 0`);
    }
  }
  for (const key of ['parallel', 'rank'] as const) {
    if (config[key] !== undefined && typeof config[key] !== 'boolean') throw new ConfigError(`${file}: ${key} must be true or false, not ${JSON.stringify(config[key])}`);
  }
  if (config.models !== undefined) {
    if (!isObject(config.models)) throw new ConfigError(`${file}: models must be an object`);
    for (const [name, model] of Object.entries(config.models)) validateModel(name, model, file);
  }
  return config as SourcesConfig;
}

/**
 * Reads the user config: the named file (which must exist), else the default path if it exists, else none.
 */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): { config: SourcesConfig; file?: string } {
  const file = path ?? defaultConfigPath(env);
  if (!existsSync(file)) {
    if (path !== undefined || env.MUSIQ_NATIVE_CONFIG) throw new ConfigError(`config file ${file} not found`);
    return { config: {} };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return { config: validateConfig(raw, file), file };
}

/** The built-in registry with the config's models merged in (overrides field by field; null removes a source). */
export function mergeRegistry(config: SourcesConfig, builtins: readonly ModelEntry[] = BUILTIN_MODELS): Map<string, ModelEntry> {
  const models = new Map<string, ModelEntry>(builtins.map((m) => [m.name, structuredClone(m)]));
  for (const [name, override] of Object.entries(config.models ?? {})) {
    const base: ModelEntry = models.get(name) ?? {
      name,
      description: 'user model',
      architecture: 'musiq',
      scoreRange: override.numClasses && override.numClasses > 1 ? [1, override.numClasses] : [0, 100],
      better: 'higher',
      numClasses: 1,
      local: [],
      patchCaps: { npz: 'all' },
    };
    const entry: ModelEntry = { ...base, patchCaps: { ...base.patchCaps, ...override.patchCaps } };
    if (override.description !== undefined) entry.description = override.description;
    if (override.architecture !== undefined) entry.architecture = override.architecture;
    if (override.scoreRange !== undefined) entry.scoreRange = override.scoreRange;
    if (override.numClasses !== undefined) entry.numClasses = override.numClasses;
    if (override.order !== undefined) entry.order = override.order;
    for (const kind of ['tfhub', 'kaggle', 'npz'] as const) {
      if (override[kind] === null) delete entry[kind];
      else if (override[kind] !== undefined) entry[kind] = override[kind];
    }
    if (override.local === null) entry.local = [];
    else if (override.local !== undefined) entry.local = Array.isArray(override.local) ? override.local : [override.local];
    models.set(name, entry);
  }
  return models;
}

/** Whether the model entry offers this kind of source at all. */
export function offers(model: ModelEntry, kind: SourceKind): boolean {
  if (kind === 'local') return model.local.length > 0;
  return typeof model[kind] === 'string';
}

/** What each source delivers for a model: hub sources serve SavedModels unless the handle is a user's own. */
export function expectedFormat(model: ModelEntry, kind: SourceKind): ArtifactFormat {
  if (kind === 'npz') return 'npz';
  if (kind === 'local') return 'any';
  return BUILTIN_MODELS.some((m) => m.name === model.name && m[kind] === model[kind]) ? 'savedmodel' : 'any';
}
