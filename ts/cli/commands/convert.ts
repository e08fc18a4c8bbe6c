// `musiq-native convert --from <checkpoint> --out <model.onnx>`, or `convert --model <name>`: the model is
// fetched through the sources chain (caches, TF Hub, Kaggle Models, .npz URL, local files) and converted into
// the cache (and copied to --out when given).
import { copyFile } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { checkOnnxPath, checkOutputPath, convertFrom, OutputPathError } from '../../convert/convert-from.js';
import { sidecarPath, writeFileAtomic, type ModelSidecar } from '../../convert/convert.js';
import { describeVila } from '../../convert/vila-params.js';
import { resolveNamedModel } from '../../sources/chain.js';
import { SOURCE_LABELS } from '../../sources/registry.js';
import { UsageError, warn } from '../output.js';
import { sourceOptions, sourceOptionsFrom, type SourceArgs } from '../source-options.js';

interface ConvertArgs extends SourceArgs {
  from?: string;
  model?: string;
  out?: string;
  name?: string;
  refresh?: boolean;
}

function describe(sidecar: ModelSidecar): string {
  if (!sidecar.config) return `${sidecar.name}; score range ${sidecar.scoreRange?.join('..')}`;
  if (sidecar.architecture === 'vila') return `${sidecar.name}: VILA-R ${describeVila(sidecar.config)}; score: cosine, normalised by clipping to 0..1`;
  const c = sidecar.config;
  return (
    `${sidecar.name}: hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads, ` +
    `MLP ${c.mlpDim}, ${c.numClasses} class${c.numClasses > 1 ? 'es' : ''}, ${c.numScales} scales; score range ${sidecar.scoreRange.join('..')}`
  );
}

/** An output path refused as a usage error (exit 2), before anything is read or written. */
function usageCheck(check: () => void): void {
  try {
    check();
  } catch (error) {
    if (error instanceof OutputPathError) throw new UsageError(`--out ${error.message}`);
    throw error;
  }
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert',
  describe: 'convert a checkpoint (.npz, SavedModel folder) to an ONNX model plus a .json sidecar; or fetch and convert a model by name',
  builder: (y: Argv) =>
    sourceOptions(
      y
        .option('from', { type: 'string', describe: 'checkpoint: .npz file, SavedModel folder or converted .onnx' })
        .option('model', { type: 'string', describe: 'model name (koniq, spaq, ava, paq2piq, vila, or one from the config): fetched and converted into the cache' })
        .option('out', { type: 'string', describe: 'ONNX model to write (with --model: a copy of the cached one)' })
        .option('name', { type: 'string', describe: 'model name for --from (default: from the file name, e.g. koniq)' })
        .option('refresh', { type: 'boolean', describe: 'with --model: convert again even when the models cache holds it (the sources’ caches are still used)' })
        .conflicts('from', 'model')
        .check((argv) => {
          if (!argv.from && !argv.model) throw new UsageError('name a checkpoint with --from (and --out), or a model with --model');
          if (argv.from && !argv.out) throw new UsageError('--from needs --out (the ONNX model to write)');
          if (argv.model && argv.name) throw new UsageError('--name is for --from; with --model the name is the model’s');
          if (argv.from && argv.refresh) throw new UsageError('--refresh is for --model (--from always converts)');
          if (argv.out) usageCheck(() => checkOnnxPath(argv.out!));
          return true;
        }),
    ) as unknown as Argv<ConvertArgs>,
  handler: async (argv) => {
    if (argv.from) {
      usageCheck(() => checkOutputPath(argv.from!, argv.out!));
      const sidecar = await convertFrom(argv.from, argv.out!, { name: argv.name, warn });
      warn(`musiq-native: wrote ${argv.out} (${describe(sidecar)})`);
      return;
    }
    const result = await resolveNamedModel(argv.model!, { ...sourceOptionsFrom(argv), refresh: argv.refresh });
    const origin =
      result.source === 'cache' ? 'already in the models cache' : `from ${SOURCE_LABELS[result.source]}${result.from === 'source cache' ? ' (its cache)' : ''}`;
    warn(`musiq-native: ${result.path} ${origin} (${describe(result.sidecar)})`);
    if (argv.out) {
      usageCheck(() => checkOutputPath(result.path, argv.out!));
      await copyFile(result.path, argv.out);
      await writeFileAtomic(sidecarPath(argv.out), `${JSON.stringify(result.sidecar, null, 2)}\n`);
      warn(`musiq-native: wrote ${argv.out}`);
    }
  },
};
