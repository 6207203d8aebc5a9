/**
 * The kernel description: what code generation hands to a runtime. A graph lowers (at run time, once the shape
 * symbols have values) into a `KernelPlan`: a list of steps over buffers, each step a WGSL compute kernel, a matmul of
 * the tuned matmul family, or a constant upload. A step records where it came from (the equations and their source
 * span), so a device error can name the kernel and the `.vitm` text.
 *
 * Buffers are named abstractly: `value` buffers hold one IR value each (an alias may share its source's buffer);
 * `temp` buffers are scratch space a kernel family needs (permutation keys, materialised matmul operands). A later
 * memory plan maps both onto a few reused allocations; nothing here assumes one buffer per value.
 */

import type { MatmulEpilogue, MatmulLayout } from './wgsl/matmul.js';
import type { Span } from '../source/source.js';
import type { DType } from '../types/shape.js';

/** A buffer a step reads or writes. */
export type BufferRef =
  { readonly kind: 'value'; readonly id: number } | { readonly kind: 'temp'; readonly index: number };

/** Where a step came from: the equations it computes (by result value), their ops, and the first source span. */
export interface KernelOrigin {
  readonly values: readonly number[];
  readonly ops: readonly string[];
  readonly span?: Span;
}

/** A WGSL compute kernel: uniform words at binding 0, then storage buffers at bindings 1.. in `bindings` order. */
export interface WgslKernel {
  readonly kind: 'wgsl';
  /** A stable, descriptive name (the family and its specialisation), used as the pipeline and error label. */
  readonly name: string;
  readonly wgsl: string;
  readonly entryPoint: string;
  /** u32 words of the uniform block (sizes, strides, bit patterns of float attributes); a multiple of 4 long. */
  readonly params: readonly number[];
  readonly bindings: readonly KernelBinding[];
  /** Workgroups per dimension, each at most the device's `maxComputeWorkgroupsPerDimension`. */
  readonly grid: readonly [number, number, number];
}

export interface KernelBinding {
  readonly buffer: BufferRef;
  readonly access: 'read' | 'read_write';
}

/**
 * A batched matmul `C[b] = op(A[b]) op(B[b])`, run by the matmul family (compiler/codegen/wgsl/matmul.ts) with a tile
 * the runtime chooses per device. Fields match the runtime's `MatmulShape`.
 */
export interface MatmulStep {
  readonly kind: 'matmul';
  readonly name: string;
  readonly problem: {
    readonly batch: number;
    readonly batchA: number;
    readonly batchB: number;
    readonly m: number;
    readonly n: number;
    readonly k: number;
    readonly transposeA: boolean;
    readonly transposeB: boolean;
    /** Operands read, or the result written, in place through strides (a head of a fused projection, say). */
    readonly layout?: MatmulLayout;
  };
  readonly a: BufferRef;
  readonly b: BufferRef;
  readonly c: BufferRef;
  /** An elementwise epilogue applied to each element of C before it is stored (fused consumers of the product). */
  readonly epilogue?: MatmulStepEpilogue;
  /**
   * Where the kernel also stores the sum over k of every row of op(A), [batch, M] (`MatmulKernelSpec.sums`): a
   * reduction of the operand folded into the product that reads it (a linear layer's bias gradient beside its weight
   * gradient).
   */
  readonly rowSums?: BufferRef;
}

/**
 * A matmul's epilogue: WGSL declaring `fn epilogue(value: f32, batch: u32, row: u32, col: u32) -> f32` (the
 * contract of `MatmulEpilogue` in compiler/codegen/wgsl/matmul.ts), reading the f32 storage arrays named in
 * `inputs`, bound after A, B and C in that order.
 */
export interface MatmulStepEpilogue {
  readonly wgsl: string;
  readonly inputs: readonly { readonly name: string; readonly buffer: BufferRef }[];
  /** Inputs read at the product's column alone, passed to `epilogue` as arguments (`MatmulEpilogue.columns`). */
  readonly columns?: readonly string[];
  /** Inputs laid out as the product, passed to `epilogue` as arguments (`MatmulEpilogue.elements`). */
  readonly elements?: readonly string[];
  /** A second result stored beside C (`MatmulEpilogue.second`): its WGSL and the buffer it goes to. */
  readonly second?: { readonly wgsl: string; readonly out: BufferRef };
}

/** The kernel generator's view of a step's epilogue (input names without their buffers). */
export function matmulEpilogueOf(epilogue: MatmulStepEpilogue | undefined): MatmulEpilogue | undefined {
  if (!epilogue) return undefined;
  const inputs = epilogue.inputs.map((i) => i.name);
  return {
    wgsl: epilogue.wgsl,
    inputs,
    ...(epilogue.columns ? { columns: epilogue.columns } : {}),
    ...(epilogue.elements ? { elements: epilogue.elements } : {}),
    ...(epilogue.second ? { second: { wgsl: epilogue.second.wgsl } } : {}),
  };
}

/** Data written into a buffer once, when the plan's buffers are created (literal `constant` tensors). */
export interface UploadStep {
  readonly kind: 'upload';
  readonly name: string;
  readonly target: BufferRef;
  /** The bytes, in the target dtype's storage layout. */
  readonly bytes: Uint8Array;
}

export type KernelStep = WgslKernel | MatmulStep | UploadStep;

/** A step together with its origin. */
export type PlannedStep = KernelStep & { readonly origin: KernelOrigin };

/** The storage of one buffer: its dtype (for the element layout) and element count. */
export interface BufferSpec {
  readonly dtype: DType;
  readonly elements: number;
  readonly label: string;
}

/** Everything a runtime needs to run a graph at one binding of its symbols. */
export interface KernelPlan {
  /** Concrete storage per value id (values that alias another have no entry here). */
  readonly values: ReadonlyMap<number, BufferSpec>;
  /** Values sharing the buffer of another value (reshape, stop_gradient): alias id -> source id (already resolved). */
  readonly aliases: ReadonlyMap<number, number>;
  readonly temps: readonly BufferSpec[];
  readonly steps: readonly PlannedStep[];
}

/** A readable description of a step's origin, e.g. `add %12 @model.vitm:120-131`. */
export function describeOrigin(origin: KernelOrigin): string {
  const eqs = origin.values.map((v, i) => `${origin.ops[i] ?? '?'} %${v}`).join(', ');
  return origin.span ? `${eqs} @${origin.span.file}:${origin.span.start}-${origin.span.end}` : eqs;
}
