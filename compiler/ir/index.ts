/** The tensor IR: graphs, the builder, the printer and the verifier (see `spec/ir.md`). */
export { GraphBuilder, type Operand, type ParamOptions, type ShapeLike } from './builder.js';
export { IrTypeError, IrVerifyError } from './errors.js';
export {
  definitions,
  findInput,
  getOutput,
  gradientName,
  useCounts,
  type DataInput,
  type Equation,
  type EquationOf,
  type Graph,
  type GraphInput,
  type GraphOutput,
  type ParamInput,
  type Value,
} from './graph.js';
export { formatAttr, printEquation, printGraph, printInput, printLines, type PrintOptions } from './print.js';
export { typesEqual, verifyGraph } from './verify.js';
