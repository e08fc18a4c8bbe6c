// `musiq-native models [--json]`: the models known by name (built in, plus the user config's), what their
// scores mean and which way is better. Where each one can be fetched from is `musiq-native sources`.
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_WEIGHTS } from '../../runtime/combine.js';
import { resolveSettings } from '../../sources/context.js';
import { SOURCE_KINDS, SOURCE_LABELS, offers, type ModelEntry } from '../../sources/registry.js';

interface ModelsArgs {
  json: boolean;
  config?: string;
}

export interface ModelListing {
  name: string;
  description: string;
  architecture: ModelEntry['architecture'];
  scoreRange: [number, number];
  better: ModelEntry['better'];
  classes: number;
  /** Default weight in the combined score (0 = not part of it unless --weights names it). */
  combinedWeight: number;
  sources: string[];
}

export function listModels(registry: ReadonlyMap<string, ModelEntry>): ModelListing[] {
  return [...registry.values()].map((m) => ({
    name: m.name,
    description: m.description,
    architecture: m.architecture,
    scoreRange: m.scoreRange,
    better: m.better,
    classes: m.numClasses,
    combinedWeight: DEFAULT_WEIGHTS[m.name] ?? 0,
    sources: SOURCE_KINDS.filter((kind) => offers(m, kind)).map((kind) => SOURCE_LABELS[kind]),
  }));
}

function table(rows: readonly ModelListing[]): string {
  const header = ['name', 'range', 'better', 'classes', 'weight', 'sources', 'description'];
  const cells = rows.map((r) => [
    r.name,
    `${r.scoreRange[0]}..${r.scoreRange[1]}`,
    r.better,
    String(r.classes),
    r.combinedWeight.toFixed(2),
    r.sources.join(', '),
    r.description,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return `${[line(header), ...cells.map(line)].join('\n')}\n`;
}

export const modelsCommand: CommandModule<object, ModelsArgs> = {
  command: 'models',
  describe: 'list the models known by name: score range, which way is better, classes, combined weight',
  builder: (y: Argv) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print the list as JSON' })
      .option('config', { type: 'string', describe: 'sources config file that adds models (default $MUSIQ_NATIVE_CONFIG or ~/.config/musiq-native/sources.json)' }) as unknown as Argv<ModelsArgs>,
  handler: (argv) => {
    const rows = listModels(resolveSettings({ config: argv.config }).registry);
    process.stdout.write(argv.json ? `${JSON.stringify(rows, null, 2)}\n` : table(rows));
  },
};
