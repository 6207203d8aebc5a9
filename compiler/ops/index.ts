/** The op union and its rule tables (see `spec/ir.md`). */
export { OP_NAMES, isOpName, type OpAttrs, type OpName } from './op.js';
export { TYPE_RULES, VJP_RULES, inferType, isDifferentiable } from './registry.js';
export { NO_GRADIENT, type GradientRule, type TypeRule, type VjpRule } from './rule.js';
