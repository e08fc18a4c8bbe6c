// Loads proto/savedmodel.proto, our own subset of TensorFlow's schema, and types the decoded messages. The file
// sits at the package root, three folders above this module both in ts/ and in the compiled dist/.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

const PROTO_PATH = new URL('../../../proto/savedmodel.proto', import.meta.url);
const root = protobuf.parse(readFileSync(PROTO_PATH, 'utf8'), { keepCase: true }).root;

// int64 fields become Numbers (offsets, sizes and dims are checked to be safe integers where they are used),
// enums stay numbers, and every field is present with its default.
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true, arrays: true, objects: true };

function decoder<T>(name: string): (bytes: Uint8Array) => T {
  const type = root.lookupType(`tensorflow.${name}`);
  return (bytes) => type.toObject(type.decode(bytes), TO_OBJECT) as T;
}

export interface TensorShapeProto {
  dim: Array<{ size: number; name: string }>;
  unknown_rank: boolean;
}

/** The dimensions (-1 = unknown), or null for an unknown rank. A missing shape is a scalar. */
export function shapeDims(shape: TensorShapeProto | null): number[] | null {
  if (!shape) return [];
  return shape.unknown_rank ? null : shape.dim.map((d) => d.size);
}

export interface TensorProto {
  dtype: number;
  tensor_shape: TensorShapeProto | null;
  tensor_content: Uint8Array;
  float_val: number[];
  double_val: number[];
  int_val: number[];
  string_val: Uint8Array[];
  int64_val: number[];
  bool_val: boolean[];
  half_val: number[];
}

export interface AttrValue {
  list?: { s: Uint8Array[]; i: number[]; f: number[]; b: boolean[]; type: number[]; shape: TensorShapeProto[] };
  s?: Uint8Array;
  i?: number;
  f?: number;
  b?: boolean;
  type?: number;
  shape?: TensorShapeProto;
  tensor?: TensorProto;
  func?: { name: string };
}

export interface NodeDef {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, AttrValue>;
}

export interface FunctionDef {
  signature: { name: string; input_arg: Array<{ name: string; type: number }>; output_arg: Array<{ name: string; type: number }> } | null;
  node_def: NodeDef[];
}

export interface TensorInfo {
  name: string;
  dtype: number;
  tensor_shape: TensorShapeProto | null;
}

export interface SignatureDef {
  inputs: Record<string, TensorInfo>;
  outputs: Record<string, TensorInfo>;
  method_name: string;
}

export interface ObjectReference {
  node_id: number;
  local_name: string;
}

export interface SavedObject {
  children: ObjectReference[];
  slot_variables: Array<{ original_variable_node_id: number; slot_name: string; slot_variable_node_id: number }>;
  user_object?: { identifier: string };
  variable?: { dtype: number; shape: TensorShapeProto | null; trainable: boolean; name: string };
  function?: { concrete_functions: string[] };
  bare_concrete_function?: { concrete_function_name: string };
  asset?: object;
  constant?: { operation: string };
  resource?: object;
  captured_tensor?: object;
}

export interface MetaGraphDef {
  meta_info_def: { tags: string[]; tensorflow_version: string; tensorflow_git_version: string; stripped_default_attrs: boolean } | null;
  graph_def: { node: NodeDef[]; library: { function: FunctionDef[] } | null; versions: { producer: number; min_consumer: number } | null } | null;
  signature_def: Record<string, SignatureDef>;
  asset_file_def: Array<{ filename: string }>;
  object_graph_def: { nodes: SavedObject[]; concrete_functions: Record<string, { bound_inputs: number[] }> } | null;
}

export interface SavedModelProto {
  saved_model_schema_version: number;
  meta_graphs: MetaGraphDef[];
}

export interface BundleHeaderProto {
  num_shards: number;
  endianness: number;
  version: { producer: number; min_consumer: number; bad_consumers: number[] } | null;
}

export interface BundleEntryProto {
  dtype: number;
  shape: TensorShapeProto | null;
  shard_id: number;
  offset: number;
  size: number;
  crc32c: number;
  slices: unknown[];
}

export interface TrackableObjectGraph {
  nodes: Array<{
    children: ObjectReference[];
    attributes: Array<{ name: string; full_name: string; checkpoint_key: string }>;
    slot_variables: Array<{ original_variable_node_id: number; slot_name: string; slot_variable_node_id: number }>;
  }>;
}

export const decodeSavedModel = decoder<SavedModelProto>('SavedModel');
export const decodeBundleHeader = decoder<BundleHeaderProto>('BundleHeaderProto');
export const decodeBundleEntry = decoder<BundleEntryProto>('BundleEntryProto');
export const decodeTrackableObjectGraph = decoder<TrackableObjectGraph>('TrackableObjectGraph');
/** For tests that write corrupt or unusual checkpoints. */
export const BundleEntryType = root.lookupType('tensorflow.BundleEntryProto');
