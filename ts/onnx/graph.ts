// A small builder for ONNX graphs: named initializers, nodes with typed attributes, and serialisation to the
// ModelProto wire format. Names are generated from a prefix and a counter so graph builders read like maths.
import { AttributeType, ModelProto, OnnxDataType } from './schema.js';

/** Integers are INT attributes, `{ float }` FLOAT, arrays INTS, strings STRING. */
export type AttributeValue = number | { float: number } | string | number[];
export type Dim = number | string;

interface TensorInit {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Array<{ dim_value: number } | { dim_param: string }> } } };
}

interface NodeInit {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: Array<Record<string, unknown>>;
}

export const OPSET_VERSION = 17;
const IR_VERSION = 8; // the IR version that goes with opset 17

function attribute(name: string, value: AttributeValue): Record<string, unknown> {
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: ${value} is not an integer; use { float }`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  return { name, type: AttributeType.FLOAT, f: value.float };
}

export class GraphBuilder {
  private readonly nodes: NodeInit[] = [];
  private readonly initializers: TensorInit[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  private fresh(prefix: string): string {
    let name = prefix;
    while (this.used.has(name)) name = `${prefix}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  private static valueInfo(name: string, elemType: number, dims: Dim[]): ValueInfo {
    const dim = dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
    return { name, type: { tensor_type: { elem_type: elemType, shape: { dim } } } };
  }

  input(name: string, dims: Dim[], elemType: number = OnnxDataType.FLOAT): string {
    this.used.add(name);
    this.inputs.push(GraphBuilder.valueInfo(name, elemType, dims));
    return name;
  }

  output(value: string, name: string, dims: Dim[], elemType: number = OnnxDataType.FLOAT): void {
    this.op('Identity', [value], {}, name);
    this.outputs.push(GraphBuilder.valueInfo(name, elemType, dims));
  }

  /** A float32 initializer. The bytes are shared with `data`, not copied, until serialisation. */
  float(name: string, data: Float32Array, dims: number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims.join(',')}]`);
    const unique = this.fresh(name);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name: unique, dims, data_type: OnnxDataType.FLOAT, raw_data: raw });
    return unique;
  }

  scalar(name: string, value: number): string {
    return this.float(name, Float32Array.of(value), []);
  }

  int64(name: string, values: number[]): string {
    const unique = this.fresh(name);
    const raw = new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
    this.initializers.push({ name: unique, dims: [values.length], data_type: OnnxDataType.INT64, raw_data: raw });
    return unique;
  }

  /** Adds one node and returns its (first) output name. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputName?: string): string {
    return this.opMulti(opType, inputs, 1, attributes, outputName)[0]!;
  }

  opMulti(
    opType: string,
    inputs: string[],
    outputCount: number,
    attributes: Record<string, AttributeValue> = {},
    outputName?: string,
  ): string[] {
    const base = outputName ?? opType.toLowerCase();
    const outputs = Array.from({ length: outputCount }, (_, i) => this.fresh(i === 0 ? base : `${base}_out${i}`));
    const attrs = Object.entries(attributes).map(([key, value]) => attribute(key, value));
    this.nodes.push({ input: inputs, output: outputs, name: this.fresh(`${base}_node`), op_type: opType, attribute: attrs });
    return outputs;
  }

  serialize(options: { producerVersion: string; docString: string; metadata: Record<string, string> }): Uint8Array {
    const model = ModelProto.fromObject({
      ir_version: IR_VERSION,
      opset_import: [{ domain: '', version: OPSET_VERSION }],
      producer_name: 'musiq-native',
      producer_version: options.producerVersion,
      doc_string: options.docString,
      graph: {
        name: 'musiq',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadata_props: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
    });
    return ModelProto.encode(model).finish();
  }
}
