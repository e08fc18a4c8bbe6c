// The model-source options shared by `convert --model`, `score --model` and `sources`: apply
// `sourceOptions(yargs)` in a command's builder and pass `sourceOptionsFrom(argv)` on.
import type { Argv } from 'yargs';
import type { ChainOptions } from '../sources/context.js';
import { ConfigError, MIRROR_KINDS, parseOrder, type MirrorKind } from '../sources/registry.js';
import { UsageError, warn } from './output.js';

export type { SourceOptions } from '../sources/context.js';

export interface SourceArgs {
  offline?: boolean;
  config?: string;
  checkpointsDir?: string;
  mirror?: string[];
  sources?: string;
  sourceTimeout?: number;
  retries?: number;
  parallelSources?: boolean;
  rankSources?: boolean;
}

const GROUP = 'Model sources (registry names such as koniq, spaq, ava, paq2piq, vila):';

export function sourceOptions<T>(y: Argv<T>): Argv<T & SourceArgs> {
  return y
    .option('offline', { type: 'boolean', describe: 'never touch the network: caches and local files only (env MUSIQ_NATIVE_OFFLINE=1)' })
    .option('config', { type: 'string', describe: 'sources config file (default $MUSIQ_NATIVE_CONFIG or ~/.config/musiq-native/sources.json)' })
    .option('checkpoints-dir', { type: 'string', describe: 'folder with local .npz / SavedModel / .onnx files (env MUSIQ_NATIVE_CHECKPOINTS)' })
    .option('mirror', { type: 'string', array: true, describe: 'base URL for a source kind, e.g. npz=http://mirror.local (repeatable; kinds: tfhub, kaggle, npz)' })
    .option('sources', { type: 'string', describe: 'source order for this run, e.g. npz,local (kinds: tfhub, kaggle, npz, local)' })
    .option('source-timeout', { type: 'number', describe: 'seconds to wait for a connection, an answer, or more data (default 30)' })
    .option('retries', { type: 'number', describe: 'retries of a timed-out or cut-off request (default 2)' })
    .option('parallel-sources', { type: 'boolean', describe: 'probe the network sources at once and use the first that answers' })
    .option('rank-sources', { type: 'boolean', describe: 'order sources by how they did on earlier runs' })
    .group(['offline', 'config', 'checkpoints-dir', 'mirror', 'sources', 'source-timeout', 'retries', 'parallel-sources', 'rank-sources'], GROUP) as unknown as Argv<
    T & SourceArgs
  >;
}

function parseMirrors(values: string[] | undefined): Partial<Record<MirrorKind, string>> | undefined {
  if (!values?.length) return undefined;
  const mirrors: Partial<Record<MirrorKind, string>> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    const kind = value.slice(0, at) as MirrorKind;
    const url = value.slice(at + 1);
    if (at < 1 || !MIRROR_KINDS.includes(kind)) throw new UsageError(`--mirror: expected KIND=URL with KIND one of ${MIRROR_KINDS.join(', ')}, not '${value}'`);
    if (!/^https?:\/\/[^/]/i.test(url)) throw new UsageError(`--mirror ${kind}: '${url}' is not an http(s) URL`);
    mirrors[kind] = url;
  }
  return mirrors;
}

/** Options for the sources chain from parsed arguments; chain messages go to stderr. */
export function sourceOptionsFrom(argv: SourceArgs, log: (line: string) => void = (line) => warn(`musiq-native: ${line}`)): ChainOptions {
  let order;
  try {
    order = argv.sources === undefined ? undefined : parseOrder(argv.sources, '--sources');
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  for (const [flag, value] of [['--source-timeout', argv.sourceTimeout], ['--retries', argv.retries]] as const) {
    if (value !== undefined && !(value >= 0)) throw new UsageError(`${flag} must be a number ≥ 0`);
  }
  return {
    offline: argv.offline,
    config: argv.config,
    checkpointsDir: argv.checkpointsDir,
    mirrors: parseMirrors(argv.mirror),
    order,
    timeoutSeconds: argv.sourceTimeout,
    retries: argv.retries,
    parallel: argv.parallelSources,
    rank: argv.rankSources,
    log,
  };
}
