// `musiq-native inspect <SavedModel folder | .npz | .onnx> [--json]`: signatures, tensors, op histogram and
// what musiq-native recognises the artifact as. Exit codes, as for `score`: 0 when it is recognised as a model,
// 1 when it was read but is not one (the report says why), 2 when it cannot be read at all.
import type { CommandModule } from 'yargs';
import { inspectArtifact, type InspectReport, type Recognition, type TensorListing } from '../../convert/inspect.js';
import type { TensorSpec } from '../../convert/savedmodel/saved-model.js';
import { describeVila } from '../../convert/vila-params.js';
import { EXIT_OK, EXIT_SOME_FAILED } from '../output.js';

interface InspectArgs {
  path: string;
  json: boolean;
}

const shape = (dims: ReadonlyArray<number | string> | null): string => (dims ? `[${dims.join(', ')}]` : '(unknown rank)');

function histogramLine(histogram: Record<string, number>): string {
  return Object.entries(histogram)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
}

function tensorLines(tensors: readonly TensorListing[]): string[] {
  return tensors.map((t) => `  ${t.name}  ${t.dtype} ${shape(t.shape)}`);
}

function specLine(direction: string, name: string, spec: TensorSpec): string {
  return `    ${direction} ${name}: ${spec.dtype} ${shape(spec.shape)} (${spec.name})`;
}

function recognitionLines(r: Recognition): string[] {
  if (!r.recognised) return ['recognised as: nothing musiq-native converts', ...r.reason.split('\n').map((l) => `  ${l}`)];
  if (r.model === 'vila') return [`recognised as: VILA-R '${r.name}': ${describeVila(r.config)}`, ...r.notes.map((n) => `  ${n}`)];
  const c = r.config;
  return [
    `recognised as: MUSIQ '${r.name}': hidden ${c.hiddenSize}, ${c.numLayers} layers, ${c.numHeads} heads of ${c.headDim}, MLP ${c.mlpDim}, ` +
      `${c.numClasses} class${c.numClasses > 1 ? 'es' : ''}, ${c.numScales} scale${c.numScales > 1 ? 's' : ''}; ` +
      `native patches: ${r.nativePatches === 'all' ? 'all (published script)' : `capped at ${r.nativePatches}`}`,
    ...r.notes.map((n) => `  ${n}`),
  ];
}

function format(report: InspectReport): string[] {
  switch (report.kind) {
    case 'savedmodel': {
      const s = report.summary;
      const lines = [`${report.path}: TensorFlow SavedModel (tags ${s.tags.join(', ') || 'none'}; TensorFlow ${s.tensorflowVersion ?? 'unknown'})`, 'signatures:'];
      for (const [key, sig] of Object.entries(s.signatures)) {
        lines.push(`  ${key}${sig.methodName ? ` (${sig.methodName})` : ''}`);
        for (const [name, spec] of Object.entries(sig.inputs)) lines.push(specLine('in ', name, spec));
        for (const [name, spec] of Object.entries(sig.outputs)) lines.push(specLine('out', name, spec));
      }
      lines.push(`tensors (${report.tensors.length}, checksums verified):`, ...tensorLines(report.tensors));
      lines.push(`ops in the graph (${s.graph.nodeCount} nodes): ${histogramLine(s.graph.opHistogram)}`);
      lines.push(`ops in ${s.functions.count} functions (${s.functions.nodeCount} nodes): ${histogramLine(s.functions.opHistogram)}`);
      if (s.largeConstants.length > 0) lines.push(`large constants: ${s.largeConstants.length} (≥ 1 KiB)`);
      lines.push(`forward pass: ${report.forwardPass.description}`);
      return [...lines, ...recognitionLines(report.recognition)];
    }
    case 'npz':
      return [`${report.path}: numpy .npz checkpoint`, `tensors (${report.tensors.length}):`, ...tensorLines(report.tensors), ...recognitionLines(report.recognition)];
    case 'onnx': {
      const io = (v: { name: string; dims: Array<number | string> }): string => `  ${v.name} ${shape(v.dims)}`;
      return [
        `${report.path}: ONNX model (${report.producer || 'unknown producer'}; opsets ${report.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')})`,
        'inputs:',
        ...report.inputs.map(io),
        'outputs:',
        ...report.outputs.map(io),
        ...recognitionLines(report.recognition),
      ];
    }
  }
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <path>',
  describe: 'show what a SavedModel folder, .npz checkpoint or .onnx model holds and what musiq-native recognises it as (exit 1 when it is not a valid model)',
  builder: (y) =>
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'SavedModel folder, .npz or .onnx' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }) as never,
  handler: async (argv) => {
    const report = await inspectArtifact(argv.path);
    process.stdout.write(argv.json ? `${JSON.stringify(report)}\n` : `${format(report).join('\n')}\n`);
    process.exitCode = report.recognition.recognised ? EXIT_OK : EXIT_SOME_FAILED;
  },
};
