// `musiq-native sources`: per model and source, whether it is cached, available, needs authentication, is
// unreachable or not offered, like the original system's "FALLBACK MECHANISM STATUS". Without `check` the
// network is not touched (network sources are "unchecked"); with it each is probed without downloading.
import { convertedModelPath, lookupModel, NETWORK_KINDS, readHealth, recordHealth, RESOLVERS, sourcesFor, asSourceError, type SourceHealth } from './chain.js';
import { resolveSettings, type ChainOptions, type Settings } from './context.js';
import { existsSync } from 'node:fs';
import { sidecarPath } from '../convert/convert.js';
import { expectedFormat, offers, SOURCE_KINDS, SOURCE_LABELS, type ArtifactFormat, type ModelEntry, type SourceKind } from './registry.js';

export type SourceStatus = 'cached' | 'available' | 'auth needed' | 'unreachable' | 'not found' | 'not offered' | 'unchecked';

export interface SourceRow {
  kind: SourceKind;
  label: string;
  /** 1-based place in this run's order; absent when not offered. */
  position?: number;
  status: SourceStatus;
  location?: string;
  format?: ArtifactFormat;
  patchCap?: 'all' | number;
  detail?: string;
  latencyMs?: number;
  health?: SourceHealth;
}

export interface ModelStatus {
  name: string;
  description: string;
  scoreRange: [number, number];
  numClasses: number;
  order: SourceKind[];
  converted: { status: 'cached' | 'not cached'; path: string };
  sources: SourceRow[];
  accessible: boolean;
}

export interface StatusReport {
  checked: boolean;
  offline: boolean;
  configFile: string | null;
  models: ModelStatus[];
  summary: { allAccessible: boolean; inaccessible: string[]; line: string };
}

const ACCESSIBLE: ReadonlySet<SourceStatus> = new Set(['cached', 'available']);

async function sourceRow(model: ModelEntry, kind: SourceKind, position: number | undefined, settings: Settings, check: boolean): Promise<SourceRow> {
  const { ctx } = settings;
  const resolver = RESOLVERS[kind];
  const row: SourceRow = { kind, label: SOURCE_LABELS[kind], status: 'not offered' };
  if (!offers(model, kind)) return row;
  row.position = position;
  row.location = resolver.location(model, ctx);
  row.format = expectedFormat(model, kind);
  const cap = model.patchCaps[kind];
  if (cap !== undefined) row.patchCap = cap;
  try {
    const cached = await resolver.cached(model, ctx);
    if (cached) return { ...row, status: 'cached', format: cached.kind, detail: cached.path };
  } catch (error) {
    row.detail = `cache unusable: ${asSourceError(error).message}`;
  }
  if (kind === 'local') {
    const probe = await resolver.probe(model, ctx);
    return { ...row, status: probe.status, detail: probe.detail };
  }
  // A source left out of the order is not one to touch, --check or not.
  if (position === undefined) return { ...row, status: 'unchecked', detail: row.detail ?? 'not in the order' };
  if (!check || ctx.offline) return { ...row, status: 'unchecked', detail: row.detail ?? (ctx.offline ? 'offline' : 'not checked (use --check)') };
  try {
    const probe = await resolver.probe(model, ctx);
    await recordHealth(ctx, kind, probe.status === 'available', { latencyMs: probe.latencyMs, error: probe.status === 'available' ? undefined : probe.detail });
    return { ...row, status: probe.status, detail: probe.detail, latencyMs: probe.latencyMs };
  } catch (error) {
    const failure = asSourceError(error);
    await recordHealth(ctx, kind, false, { error: failure.message });
    const status: SourceStatus = failure.kind === 'auth' ? 'auth needed' : failure.kind === 'not-found' ? 'not found' : 'unreachable';
    return { ...row, status, detail: failure.message };
  }
}

export async function sourcesStatus(options: ChainOptions & { check?: boolean; models?: string[] } = {}): Promise<StatusReport> {
  const settings = resolveSettings(options);
  const { ctx } = settings;
  const check = options.check ?? false;
  const names = options.models?.length ? options.models : [...settings.registry.keys()];
  const health = await readHealth(ctx);
  const models = await Promise.all(
    names.map(async (name): Promise<ModelStatus> => {
      const model = lookupModel(name, settings);
      const order = await sourcesFor(model, settings);
      const kinds = [...order, ...SOURCE_KINDS.filter((k) => !order.includes(k))];
      const sources = await Promise.all(
        kinds.map(async (kind) => {
          const row = await sourceRow(model, kind, order.includes(kind) ? order.indexOf(kind) + 1 : undefined, settings, check);
          if (!check && health[kind] && NETWORK_KINDS.includes(kind) && row.position) row.health = health[kind];
          return row;
        }),
      );
      const path = convertedModelPath(name, ctx);
      const converted = existsSync(path) && existsSync(sidecarPath(path));
      return {
        name,
        description: model.description,
        scoreRange: model.scoreRange,
        numClasses: model.numClasses,
        order,
        converted: { status: converted ? 'cached' : 'not cached', path },
        sources,
        accessible: converted || sources.some((s) => ACCESSIBLE.has(s.status)),
      };
    }),
  );
  const inaccessible = models.filter((m) => !m.accessible).map((m) => m.name);
  const line =
    inaccessible.length === 0
      ? `✓ All models have at least one accessible source`
      : `✗ ${inaccessible.length === models.length && models.length > 1 ? 'No model has a' : `${inaccessible.join(', ')} ${inaccessible.length === 1 ? 'has' : 'have'} no`} source known to be accessible` +
        (check || ctx.offline ? '' : ' (network sources unchecked: run `musiq-native sources --check`)');
  return {
    checked: check && !ctx.offline,
    offline: ctx.offline,
    configFile: settings.configFile ?? null,
    models,
    summary: { allAccessible: inaccessible.length === 0, inaccessible, line },
  };
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

const FORMAT_NAMES: Record<ArtifactFormat, string> = { savedmodel: 'SavedModel', npz: '.npz', onnx: '.onnx', any: 'any' };

/** "2 sources (cache → …)"; a model with none says whether it names none or the order leaves them all out. */
function chainSummary(model: ModelStatus): string {
  const { order } = model;
  if (order.length > 0) return `${order.length} source${order.length === 1 ? '' : 's'} (cache → ${order.map((k) => SOURCE_LABELS[k]).join(' → ')})`;
  const offered = model.sources.filter((s) => s.status !== 'not offered').map((s) => SOURCE_LABELS[s.kind]);
  return offered.length === 0 ? 'no sources configured' : `no source in the order (it offers ${offered.join(', ')})`;
}

/** The human table, then the FALLBACK MECHANISM STATUS block and the summary line. */
export function formatStatus(report: StatusReport): string {
  const header = ['MODEL', 'SOURCE', 'STATUS', 'FORMAT', 'PATCHES', 'WHERE / DETAIL'];
  const rows: string[][] = [];
  for (const model of report.models) {
    rows.push([model.name, 'models cache', model.converted.status, '.onnx', '', model.converted.path]);
    for (const s of model.sources) {
      const where = s.status === 'not offered' ? '' : [s.location, s.detail && s.detail !== s.location ? `(${s.detail})` : ''].filter(Boolean).join(' ');
      const latency = s.latencyMs !== undefined ? ` ${s.latencyMs} ms` : '';
      rows.push([
        '',
        s.position ? `${s.position}. ${s.label}` : `-  ${s.label}`,
        `${s.status}${latency}`,
        s.format ? FORMAT_NAMES[s.format] : '',
        s.patchCap !== undefined ? String(s.patchCap) : '',
        where,
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...r[i]!].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]!))).join('  ').trimEnd();
  const out = [line(header), ...rows.map(line), ''];
  const rule = '='.repeat(70);
  out.push(rule, 'FALLBACK MECHANISM STATUS', rule);
  for (const model of report.models) {
    const usable = model.sources.filter((s) => ACCESSIBLE.has(s.status)).map((s) => `${SOURCE_LABELS[s.kind]} ${s.status}`);
    const state = model.converted.status === 'cached' ? 'converted model cached' : usable.length ? usable.join(', ') : 'no source known to be accessible';
    out.push(`${model.accessible ? '✓' : '✗'} ${pad(model.name.toUpperCase(), 10)} - ${chainSummary(model)}; ${state}`);
  }
  out.push('', report.summary.line);
  return `${out.join('\n')}\n`;
}
