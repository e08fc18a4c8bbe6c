// The fallback chain: a model name → a converted ONNX model in <cache>/models/<name>.onnx.
//   1. the models cache (no network, no lock);
//   2. the caches of the sources, in order (TF Hub's and kagglehub's folders, our .npz downloads): no network;
//   3. the sources themselves, in order (default TF Hub → Kaggle Models → .npz URL → local files), each failure
//      logged in one line with its reason and the next source named, in the style of the original system;
//      --offline skips the network sources. With `parallel`, the network sources are probed at once and the
//      first healthy one is tried first (the other probes are cancelled).
// One process at a time resolves a given model (a lock next to it); the others wait and then find it cached.
// Each network outcome goes into <cache>/sources-health.json, which `rank` uses to order sources on later runs.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readSidecarFile, sidecarPath, writeFileAtomic, type ModelSidecar } from '../convert/convert.js';
import { convertFrom, UnsupportedArtifactError } from '../convert/convert-from.js';
import { applyMirror, orderFor, removeEmptyDirs, resolveSettings, type Artifact, type ChainOptions, type Resolver, type Settings, type SourceContext } from './context.js';
import { scrub } from './credentials.js';
import { SourceError, type FailureKind } from './http.js';
import { kaggleResolver } from './kaggle.js';
import { localFingerprint, localResolver } from './local.js';
import { withLock } from './lock.js';
import { npzUrlResolver } from './npz-url.js';
import { offers, SOURCE_LABELS, type ModelEntry, type SourceKind } from './registry.js';
import { tfhubResolver } from './tfhub.js';

export type { ChainOptions, SourceOptions } from './context.js';

export const RESOLVERS: Record<SourceKind, Resolver> = {
  tfhub: tfhubResolver,
  kaggle: kaggleResolver,
  npz: npzUrlResolver,
  local: localResolver,
};

export const NETWORK_KINDS: readonly SourceKind[] = ['tfhub', 'kaggle', 'npz'];

export class UnknownModelError extends Error {
  override name = 'UnknownModelError';
}

export interface SourceFailure {
  kind: SourceKind;
  /** 'cache' when the source's cache held something unusable. */
  stage: 'cache' | 'source';
  reason: FailureKind;
  message: string;
}

export class SourceChainError extends Error {
  override name = 'SourceChainError';
  constructor(
    message: string,
    readonly failures: SourceFailure[],
  ) {
    super(message);
  }
}

export interface ChainResult {
  name: string;
  path: string;
  sidecar: ModelSidecar;
  /** 'cache' = the models cache already held it; else the source whose artifact was converted. */
  source: 'cache' | SourceKind;
  /** Whether the artifact came from the source's cache (no network) or was fetched now. */
  from?: 'source cache' | 'fetched';
  artifact?: Artifact;
  failures: SourceFailure[];
}

/** <cache>/models/<name>.onnx */
export function convertedModelPath(name: string, ctx: Pick<SourceContext, 'cacheRoot'>): string {
  return join(ctx.cacheRoot, 'models', `${name}.onnx`);
}

/** The cached model's sidecar; undefined when either file is missing or the sidecar is damaged (then it is converted again). */
async function readConverted(path: string): Promise<ModelSidecar | undefined> {
  if (!existsSync(path) || !existsSync(sidecarPath(path))) return undefined;
  return readSidecarFile(path).catch(() => undefined);
}

const ARCHITECTURES: Record<ModelEntry['architecture'], string> = { musiq: 'MUSIQ', vila: 'VILA-R' };

/** Why a converted model is not the one the registry describes (architecture, head size); undefined if it is. */
function notAsRegistered(sidecar: ModelSidecar, model: ModelEntry, what: string): string | undefined {
  if (sidecar.architecture !== model.architecture) {
    return `${what} is a ${ARCHITECTURES[sidecar.architecture]} model, but ${model.name} is registered with architecture '${model.architecture}'`;
  }
  const classes = sidecar.config?.numClasses;
  if (classes !== undefined && classes !== model.numClasses) return `${what} has a ${classes}-class head, but ${model.name} has ${model.numClasses}`;
  return undefined;
}

const sameRange = (a: readonly number[], b: readonly number[]): boolean => a[0] === b[0] && a[1] === b[1];

/**
 * The cached model, unless it was converted from a local file that has changed since, or the registry now
 * describes another architecture or head size (then it is converted again, and `log` says why). A local file
 * that is gone leaves the conversion in use: it is all that remains. A score range the config changed since
 * is only a description: the sidecar file is rewritten with it, no conversion needed.
 */
async function upToDate(out: string, model: ModelEntry, log: (line: string) => void): Promise<ModelSidecar | undefined> {
  const sidecar = await readConverted(out);
  if (!sidecar) return undefined;
  const name = model.name;
  const then = sidecar.source?.local;
  const now = then && (await localFingerprint(then.path).catch(() => undefined));
  if (then && now && (now.size !== then.size || now.mtimeMs !== then.mtimeMs)) {
    log(`${then.path} changed since ${name} was converted from it (${then.size} → ${now.size} bytes, modified ${new Date(now.mtimeMs).toISOString()}); converting it again`);
    return undefined;
  }
  const mismatch = notAsRegistered(sidecar, model, out);
  if (mismatch) {
    log(`${mismatch}; converting it again`);
    return undefined;
  }
  if (sameRange(sidecar.scoreRange, model.scoreRange)) return sidecar;
  const updated = { ...sidecar, scoreRange: model.scoreRange };
  await writeFileAtomic(sidecarPath(out), `${JSON.stringify(updated, null, 2)}\n`);
  log(`${name}: score range ${model.scoreRange.join('..')} from the registry replaces ${sidecar.scoreRange.join('..')} in ${sidecarPath(out)}`);
  return updated;
}

/** Where a source is fetched from, for the log: with a mirror, the mirror's URL first (it is what is contacted). */
function contacted(resolver: Resolver, model: ModelEntry, ctx: SourceContext): string {
  const location = resolver.location(model, ctx);
  const mirror = resolver.kind === 'local' ? undefined : ctx.mirrors[resolver.kind];
  if (!mirror) return location;
  return /^https?:\/\//i.test(location) ? `${applyMirror(location, mirror)} (mirror of ${location})` : `${location} through the mirror ${mirror}`;
}

/** One line, no secrets. */
function oneLine(text: string, ctx: SourceContext): string {
  return scrub(text.replace(/\s*\n\s*/g, ' ').trim(), ctx.secrets);
}

/** A SourceError for anything a resolver or the conversion threw. */
export function asSourceError(error: unknown): SourceError {
  if (error instanceof SourceError) return error;
  if (error instanceof UnsupportedArtifactError) return new SourceError('unsupported', `not implemented for this format (${error.message})`, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new SourceError('invalid', message, { cause: error });
}

/**
 * Converts an artifact into the models cache (temporary names, renamed when complete and checked). A local
 * file's size and time go into the sidecar, taken before reading it so that a change made meanwhile is seen.
 */
async function convertInto(model: ModelEntry, kind: SourceKind, artifact: Artifact, out: string, ctx: SourceContext): Promise<ModelSidecar> {
  const temp = join(dirname(out), `.${model.name}.${randomUUID().slice(0, 8)}.onnx`);
  const local = kind === 'local' ? await localFingerprint(artifact.path) : undefined;
  try {
    let sidecar: ModelSidecar;
    try {
      sidecar = await convertFrom(artifact.path, temp, { name: model.name, signal: ctx.signal, warn: (line) => ctx.log(`  ${line}`) });
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      if (error instanceof UnsupportedArtifactError) throw asSourceError(error);
      throw new SourceError('invalid', `conversion failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const mismatch = notAsRegistered(sidecar, model, `the ${artifact.kind}`);
    if (mismatch) throw new SourceError('invalid', mismatch);
    // The converter can only guess the range from the name; the registry (a config's scoreRange) knows it.
    // A local file's fingerprint is where the cache got the model from. Both go into the sidecar file, which
    // the runtime reads; the copy in the ONNX metadata keeps what the converter wrote.
    sidecar = { ...sidecar, scoreRange: model.scoreRange, ...(local ? { source: { ...sidecar.source, local } } : {}) };
    await writeFile(sidecarPath(temp), `${JSON.stringify(sidecar, null, 2)}\n`);
    await rename(temp, out);
    await rename(sidecarPath(temp), sidecarPath(out));
    return sidecar;
  } finally {
    await rm(temp, { force: true });
    await rm(sidecarPath(temp), { force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Health record

export interface SourceHealth {
  ok: number;
  fail: number;
  lastOk: boolean;
  lastError?: string;
  /** Time to the first answer of the last probe or download, in milliseconds. */
  latencyMs?: number;
  at: string;
}

export type HealthRecord = Partial<Record<SourceKind, SourceHealth>>;

export function healthPath(ctx: Pick<SourceContext, 'cacheRoot'>): string {
  return join(ctx.cacheRoot, 'sources-health.json');
}

export async function readHealth(ctx: Pick<SourceContext, 'cacheRoot'>): Promise<HealthRecord> {
  try {
    return JSON.parse(await readFile(healthPath(ctx), 'utf8')) as HealthRecord;
  } catch {
    return {};
  }
}

export async function recordHealth(ctx: SourceContext, kind: SourceKind, ok: boolean, detail: { latencyMs?: number; error?: string }): Promise<void> {
  try {
    const record = await readHealth(ctx);
    const previous = record[kind] ?? { ok: 0, fail: 0, lastOk: ok, at: '' };
    record[kind] = {
      ok: previous.ok + (ok ? 1 : 0),
      fail: previous.fail + (ok ? 0 : 1),
      lastOk: ok,
      ...(ok ? {} : { lastError: detail.error }),
      latencyMs: detail.latencyMs ?? previous.latencyMs,
      at: new Date().toISOString(),
    };
    const path = healthPath(ctx);
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}`;
    await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(temp, path);
  } catch {
    // The record is a hint; never fail a resolution over it.
  }
}

/** Sources that worked last time first (fastest first), then unknown ones, then those that failed last. */
export function rankOrder(order: SourceKind[], health: HealthRecord): SourceKind[] {
  const group = (kind: SourceKind): number => {
    const h = health[kind];
    if (!h) return 1;
    return h.lastOk ? 0 : 2;
  };
  return order
    .map((kind, index) => ({ kind, index }))
    .sort((a, b) => {
      const ga = group(a.kind);
      const gb = group(b.kind);
      if (ga !== gb) return ga - gb;
      if (ga === 0) {
        const la = health[a.kind]?.latencyMs ?? Infinity;
        const lb = health[b.kind]?.latencyMs ?? Infinity;
        if (la !== lb) return la - lb;
      }
      return a.index - b.index;
    })
    .map((entry) => entry.kind);
}

// ---------------------------------------------------------------------------------------------------------

export function lookupModel(name: string, settings: Settings): ModelEntry {
  const model = settings.registry.get(name);
  if (!model) {
    throw new UnknownModelError(
      `unknown model '${name}': the registry has ${[...settings.registry.keys()].join(', ')}` +
        ` (add models in ${settings.configFile ?? 'a config file (--config)'})`,
    );
  }
  return model;
}

/** The sources tried for a model, in the order of this run (ranked when asked). */
export async function sourcesFor(model: ModelEntry, settings: Settings): Promise<SourceKind[]> {
  let order = orderFor(model, settings).filter((kind) => offers(model, kind));
  if (settings.ctx.rank) order = rankOrder(order, await readHealth(settings.ctx));
  return order;
}

/** Probes the network sources at once; the first available one wins and the other probes are cancelled. */
async function raceProbes(model: ModelEntry, kinds: SourceKind[], ctx: SourceContext): Promise<{ winner?: SourceKind; failed: Map<SourceKind, SourceError> }> {
  const failed = new Map<SourceKind, SourceError>();
  if (kinds.length === 0) return { failed };
  const controllers = new Map(kinds.map((kind) => [kind, new AbortController()]));
  const winner = await new Promise<SourceKind | undefined>((resolve) => {
    let pending = kinds.length;
    for (const kind of kinds) {
      const controller = controllers.get(kind)!;
      const signal = ctx.signal ? AbortSignal.any([ctx.signal, controller.signal]) : controller.signal;
      RESOLVERS[kind]
        .probe(model, { ...ctx, signal })
        .then(async (result) => {
          if (result.status === 'available') {
            await recordHealth(ctx, kind, true, { latencyMs: result.latencyMs });
            resolve(kind);
          } else {
            const kindOf: FailureKind = result.status === 'auth needed' ? 'auth' : result.status === 'not found' ? 'not-found' : 'http';
            failed.set(kind, new SourceError(kindOf, result.status === 'auth needed' ? `authentication required (${result.detail})` : result.detail));
          }
        })
        .catch((error: unknown) => {
          if (!controller.signal.aborted) failed.set(kind, asSourceError(error));
        })
        .finally(() => {
          if (--pending === 0) resolve(undefined);
        });
    }
  });
  for (const [kind, controller] of controllers) if (kind !== winner) controller.abort(new Error('another source answered first'));
  return { winner, failed };
}

/**
 * Resolves a registry model to a converted ONNX model in the cache, trying the caches first and then the
 * sources in order. Throws UnknownModelError for a name the registry lacks, SourceChainError when no source
 * could provide it.
 */
export async function resolveNamedModel(name: string, options: ChainOptions = {}, given?: Settings): Promise<ChainResult> {
  const settings = given ?? resolveSettings(options);
  const { ctx } = settings;
  const model = lookupModel(name, settings);
  const out = convertedModelPath(name, ctx);
  if (ctx.refresh) ctx.log(`refresh: converting ${name} again, whatever the models cache holds`);
  const ready = ctx.refresh ? undefined : await upToDate(out, model, ctx.log);
  if (ready) return { name, path: out, sidecar: ready, source: 'cache', failures: [] };
  await mkdir(dirname(out), { recursive: true });
  try {
    return await withLock(
      `${out}.lock`,
      { pollMs: ctx.lockPollMs, signal: ctx.signal, onWait: (holder) => ctx.log(`waiting for ${holder}, which is preparing ${name}`) },
      async () => {
        // Another process may have finished it while we waited (the reason to convert again was logged above).
        const done = ctx.refresh ? undefined : await upToDate(out, model, () => undefined);
        if (done) return { name, path: out, sidecar: done, source: 'cache' as const, failures: [] };
        return runChain(model, out, settings);
      },
    );
  } finally {
    if (!existsSync(out)) await removeEmptyDirs(dirname(out), ctx.cacheRoot);
  }
}

async function runChain(model: ModelEntry, out: string, settings: Settings): Promise<ChainResult> {
  const { ctx } = settings;
  const name = model.name;
  const failures: SourceFailure[] = [];
  const order = await sourcesFor(model, settings);
  const label = (kind: SourceKind): string => SOURCE_LABELS[kind];

  // A downloaded artifact that did not convert would fail the same way on every later run: our own cache
  // drops it so that the next attempt downloads afresh (the Python clients' caches are only reported).
  const discard = async (kind: SourceKind, artifact: Artifact | undefined): Promise<void> => {
    const resolver = RESOLVERS[kind];
    if (!artifact || !resolver.discard) return;
    await resolver.discard(artifact, ctx);
    ctx.log(`removed ${artifact.path} from the ${label(kind)} cache: it did not convert, so it will be downloaded again`);
  };

  // Caches: no network.
  for (const kind of order) {
    let artifact: Artifact | undefined;
    try {
      artifact = await RESOLVERS[kind].cached(model, ctx);
      if (!artifact) continue;
      ctx.log(`Loading ${name} from the ${label(kind)} cache: ${artifact.path}`);
      const sidecar = await convertInto(model, kind, artifact, out, ctx);
      ctx.log(`✓ ${name} loaded from the ${label(kind)} cache (converted to ${out})`);
      return { name, path: out, sidecar, source: kind, from: 'source cache', artifact, failures };
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      const failure = asSourceError(error);
      failures.push({ kind, stage: 'cache', reason: failure.kind, message: oneLine(failure.message, ctx) });
      ctx.log(`⚠ the ${label(kind)} cache of ${name} is unusable: ${oneLine(failure.message, ctx)}; trying the sources`);
      await discard(kind, artifact);
    }
  }

  let attempts = order;
  if (ctx.offline) {
    const skipped = attempts.filter((kind) => NETWORK_KINDS.includes(kind));
    attempts = attempts.filter((kind) => !NETWORK_KINDS.includes(kind));
    if (skipped.length > 0) ctx.log(`offline: not trying ${skipped.map(label).join(', ')} for ${name}`);
  }
  const probeFailures = new Map<SourceKind, SourceError>();
  if (ctx.parallel && !ctx.offline) {
    const network = attempts.filter((kind) => NETWORK_KINDS.includes(kind));
    if (network.length > 1) {
      const { winner, failed } = await raceProbes(model, network, ctx);
      for (const [kind, error] of failed) probeFailures.set(kind, error);
      if (winner) {
        ctx.log(`${label(winner)} answered first for ${name}; the other probes were cancelled`);
        attempts = [winner, ...attempts.filter((kind) => kind !== winner)];
      }
    }
  }

  for (const [index, kind] of attempts.entries()) {
    const resolver = RESOLVERS[kind];
    const next = attempts[index + 1];
    const fallback = next ? `falling back to ${label(next)}` : 'no sources left';
    const probeFailure = probeFailures.get(kind);
    if (probeFailure) {
      failures.push({ kind, stage: 'source', reason: probeFailure.kind, message: oneLine(probeFailure.message, ctx) });
      ctx.log(`⚠ ${label(kind)} failed for ${name}: ${oneLine(probeFailure.message, ctx)}; ${fallback}`);
      continue;
    }
    ctx.log(`Loading ${name} from ${label(kind)}: ${contacted(resolver, model, ctx)}`);
    const started = performance.now();
    let artifact: Artifact | undefined;
    try {
      artifact = await resolver.fetch(model, ctx);
      const fetchedMs = Math.round(performance.now() - started);
      const sidecar = await convertInto(model, kind, artifact, out, ctx);
      if (NETWORK_KINDS.includes(kind)) await recordHealth(ctx, kind, true, { latencyMs: fetchedMs });
      ctx.log(`✓ ${name} loaded from ${label(kind)} (converted to ${out})`);
      return { name, path: out, sidecar, source: kind, from: 'fetched', artifact, failures };
    } catch (error) {
      if (ctx.signal?.aborted) throw error;
      const failure = asSourceError(error);
      const message = oneLine(failure.message, ctx);
      failures.push({ kind, stage: 'source', reason: failure.kind, message });
      if (NETWORK_KINDS.includes(kind)) await recordHealth(ctx, kind, false, { error: message });
      ctx.log(`⚠ ${label(kind)} failed for ${name}: ${message}; ${fallback}`);
      await discard(kind, artifact);
    }
  }
  const tried = failures.filter((f) => f.stage === 'source').map((f) => `${label(f.kind)}: ${f.message}`);
  const none =
    order.length === 0
      ? 'it offers no source'
      : tried.length === 0
        ? 'offline, and no cache holds it'
        : `${tried.join('; ')}${ctx.offline ? '; offline, so the network sources were not tried' : ''}`;
  throw new SourceChainError(`no source could provide ${name} (${none})`, failures);
}
