// How a jax2tf export lowered its JAX computation (savedmodel-format.md §9): native serialisation puts the
// whole forward pass in `XlaCallModule` ops holding StableHLO; the older graph serialisation spreads it over
// `XlaDotV2`, `XlaReduceWindow` and other `Xla*` ops. musiq-native runs neither; it only reports which one a
// model uses and reads the parameter names that jax2tf leaves on the StableHLO arguments.
import { allNodes } from './saved-model.js';
import type { MetaGraphDef } from './schema.js';

export interface XlaCallModuleInfo {
  function: string | null;
  node: string;
  version: number;
  platforms: string[];
  /** Size of the serialized StableHLO. */
  moduleBytes: number;
  dataInputs: number;
  /**
   * Parameter paths named by the StableHLO argument locations (`params['Transformer']['cls']` →
   * `Transformer/cls`), in the order they appear in the module; empty when the module carries no names.
   */
  parameterNames: string[];
}

export interface Jax2tfLowering {
  kind: 'native' | 'graph' | 'none';
  callModules: XlaCallModuleInfo[];
  /** Graph-serialisation ops (`Xla*` other than XlaCallModule) and their counts. */
  xlaOps: Record<string, number>;
}

const PARAM_NAME = /params((?:\['[^'\]]+'\])+)/g;
const LATIN1 = new TextDecoder('latin1');

function parameterNames(module: Uint8Array): string[] {
  const text = LATIN1.decode(module);
  const names: string[] = [];
  for (const match of text.matchAll(PARAM_NAME)) {
    const path = [...match[1]!.matchAll(/\['([^'\]]+)'\]/g)].map((m) => m[1]).join('/');
    if (!names.includes(path)) names.push(path);
  }
  return names;
}

export function jax2tfLowering(metaGraph: MetaGraphDef): Jax2tfLowering {
  const callModules: XlaCallModuleInfo[] = [];
  const xlaOps: Record<string, number> = {};
  for (const { function: fn, node } of allNodes(metaGraph)) {
    if (node.op === 'XlaCallModule') {
      const module = node.attr.module?.s ?? new Uint8Array(0);
      callModules.push({
        function: fn,
        node: node.name,
        version: node.attr.version?.i ?? 0,
        platforms: (node.attr.platforms?.list?.s ?? []).map((s) => LATIN1.decode(s)),
        moduleBytes: module.length,
        dataInputs: node.input.filter((input) => !input.startsWith('^')).length,
        parameterNames: parameterNames(module),
      });
    } else if (node.op.startsWith('Xla')) {
      xlaOps[node.op] = (xlaOps[node.op] ?? 0) + 1;
    }
  }
  const kind = callModules.length > 0 ? 'native' : Object.keys(xlaOps).length > 0 ? 'graph' : 'none';
  return { kind, callModules, xlaOps };
}
