// Loads proto/onnx.proto, our own subset of the ONNX schema that musiq-native writes and reads back. The
// file sits at the package root, two folders above this module both in ts/ and in the compiled dist/.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

const PROTO_PATH = new URL('../../proto/onnx.proto', import.meta.url);
const root = protobuf.parse(readFileSync(PROTO_PATH, 'utf8'), { keepCase: true }).root;

export const ModelProto = root.lookupType('onnx.ModelProto');

/** ONNX TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, INT64: 7 } as const;
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;
