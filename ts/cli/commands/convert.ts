// `musiq-native convert --from <checkpoint> --out <model.onnx>`
import type { CommandModule } from 'yargs';
import { convertFrom } from '../../convert/convert-from.js';
import { warn } from '../output.js';

interface ConvertArgs {
  from: string;
  out: string;
  name?: string;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert',
  describe: 'convert a MUSIQ .npz checkpoint to an ONNX model (plus a .json sidecar)',
  builder: (y) =>
    y
      .option('from', { type: 'string', demandOption: true, describe: 'checkpoint (.npz)' })
      .option('out', { type: 'string', demandOption: true, describe: 'ONNX model to write' })
      .option('name', { type: 'string', describe: 'model name (default: from the file name, e.g. koniq)' }),
  handler: async (argv) => {
    const sidecar = await convertFrom(argv.from, argv.out, { name: argv.name, warn });
    const c = sidecar.config;
    warn(
      `musiq-native: wrote ${argv.out} (${sidecar.name}: hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads, ` +
        `MLP ${c.mlpDim}, ${c.numClasses} class${c.numClasses > 1 ? 'es' : ''}, ${c.numScales} scales; score range ${sidecar.scoreRange.join('..')})`,
    );
  },
};
