/**
 * The static memory plan of a `KernelPlan`: which device buffer (a *slot*) holds each value and scratch buffer, so
 * that buffers whose lifetimes do not overlap share one allocation. A pure pass: no device.
 *
 * Lifetimes come from the plan's steps. A buffer is live from the first step that touches it (its definition) to the
 * last step that reads it, both inclusive, so a kernel's inputs and output never share a slot. Some buffers are
 * pinned for the whole plan: graph inputs (parameters stay resident between runs; data is written before the run),
 * constant uploads (written once, when the buffers are created), gradients (a training step keeps them for the
 * optimizer) and buffers no step touches; the other outputs live from their definition to the end of the plan, since
 * they are read back after it. Aliases (`reshape`, `stop_gradient`) have no buffer of their own: a reference to an
 * alias is a reference to its source, so the source lives as long as the alias is used.
 *
 * Assignment is greedy by size: buffers sorted by size (largest first, then by definition), each placed in the
 * smallest existing slot none of whose occupants is live at the same time, or in a new slot. Since larger buffers
 * come first, a slot's size is that of its first occupant and every later occupant fits. This is the "greedy by
 * size" strategy of TFLite's arena planner restricted to whole buffers (WebGPU binds whole buffers, and offsets into
 * one arena would have to respect `minStorageBufferOffsetAlignment` and the binding size limit); it is not optimal
 * in general but is within a few percent of the live-set bound on transformer graphs.
 *
 * The report gives the bytes of the slots (what a runtime allocates), the bytes one buffer per value would take, and
 * a lower bound for any plan that keeps parameters, gradients and optimizer state resident:
 * `parameters + gradients + optimizer state + largest live set of the other buffers` (at one step, everything live
 * needs distinct memory). Peak device memory is the slots plus the optimizer state (which lives outside the graph).
 */

import type { Graph } from '../ir/graph.js';
import { byteSize } from '../types/shape.js';
import type { BufferRef, BufferSpec, KernelPlan, PlannedStep } from './kernel.js';

/** What the graph's values are to the memory plan (value ids; aliases are resolved by `planMemory`). */
export interface MemoryRoles {
  /** Values the host writes (parameters and data); pinned for the whole plan. */
  readonly inputs: readonly number[];
  /** The parameter inputs (counted in the lower bound). */
  readonly parameters: readonly number[];
  /** The parameters that are trained (optimizer state is counted per element of these). */
  readonly trainable: readonly number[];
  /** Values read back after a run; live from their definition to the end. */
  readonly outputs: readonly number[];
  /** The gradient outputs; pinned for the whole plan. */
  readonly gradients: readonly number[];
}

export interface MemoryOptions {
  /** Share slots between buffers with disjoint lifetimes (default true); false gives one slot per buffer. */
  readonly reuse?: boolean;
  /** The largest buffer one binding may hold, in bytes (default unbounded). */
  readonly maxBindingBytes?: number;
  /** Bytes of optimizer state per trainable parameter element (e.g. 8 for Adam's two f32 moments; default 0). */
  readonly stateBytesPerParameterElement?: number;
}

/** Why a buffer is pinned or how long it lives. */
export type BufferRole = 'input' | 'parameter' | 'constant' | 'gradient' | 'output' | 'value' | 'temp';

/** One value or scratch buffer with its lifetime and slot. */
export interface PlannedBuffer {
  readonly ref: BufferRef;
  readonly label: string;
  /** Bytes the buffer needs, rounded up to whole 4-byte words (at least 4, as the device allocates). */
  readonly bytes: number;
  /** First and last step index it is live at (inclusive); pinned buffers span -1 to `steps.length`. */
  readonly first: number;
  readonly last: number;
  readonly role: BufferRole;
  readonly slot: number;
}

export interface MemorySlot {
  readonly bytes: number;
  /** Indices into `MemoryPlan.buffers`, in placement order. */
  readonly members: readonly number[];
  /** The first occupant's label (the buffer that sized the slot). */
  readonly label: string;
}

export interface MemoryReport {
  /** Bytes of all slots: what a runtime allocates for the plan. */
  readonly slotBytes: number;
  /** Bytes of one buffer per value and scratch buffer, plus optimizer state. */
  readonly noReuseBytes: number;
  /** Peak device memory: slots plus optimizer state. */
  readonly peakBytes: number;
  readonly parameterBytes: number;
  readonly gradientBytes: number;
  readonly stateBytes: number;
  /** The most bytes of other buffers (activations, data, scratch, constants) live at one step, and that step. */
  readonly largestLiveBytes: number;
  readonly largestLiveStep: number;
  /** `parameterBytes + gradientBytes + stateBytes + largestLiveBytes`: no plan keeping those resident needs less. */
  readonly lowerBoundBytes: number;
}

export interface MemoryPlan {
  readonly buffers: readonly PlannedBuffer[];
  readonly slots: readonly MemorySlot[];
  /** Slot of each value with storage (alias sources only; use `slotOf` for any reference). */
  readonly valueSlots: ReadonlyMap<number, number>;
  /** Slot of each scratch buffer, by index. */
  readonly tempSlots: readonly number[];
  readonly report: MemoryReport;
}

/** Thrown when one buffer needs more bytes than a binding holds; names the tensor. */
export class BufferTooLargeError extends RangeError {
  constructor(
    readonly label: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`the tensor ${label} needs ${bytes} bytes, more than one buffer binding holds on this device (${maxBytes})`);
    this.name = 'BufferTooLargeError';
  }
}

/** The roles of a graph's values: its inputs, parameters, outputs and `grad:` outputs. */
export function graphRoles(graph: Graph): MemoryRoles {
  const parameters = graph.inputs.filter((i) => i.kind === 'param');
  return {
    inputs: graph.inputs.map((i) => i.value.id),
    parameters: parameters.map((p) => p.value.id),
    trainable: parameters.filter((p) => p.trainable).map((p) => p.value.id),
    outputs: graph.outputs.map((o) => o.value.id),
    gradients: graph.outputs.filter((o) => o.name.startsWith('grad:')).map((o) => o.value.id),
  };
}

/** Bytes a buffer of `spec` occupies on the device (whole 4-byte words, at least one). */
export function bufferBytes(spec: BufferSpec): number {
  return Math.max(4, Math.ceil((spec.elements * byteSize(spec.dtype)) / 4) * 4);
}

/** The buffers a step reads or writes. */
export function stepBuffers(step: PlannedStep): BufferRef[] {
  switch (step.kind) {
    case 'wgsl':
      return step.bindings.map((b) => b.buffer);
    case 'matmul':
      return [
        step.a,
        step.b,
        step.c,
        ...(step.epilogue?.inputs.map((i) => i.buffer) ?? []),
        ...(step.epilogue?.second ? [step.epilogue.second.out] : []),
        ...(step.rowSums ? [step.rowSums] : []),
      ];
    case 'upload':
      return [step.target];
  }
}

/** The slot holding `ref` (an alias resolves to its source's slot). */
export function slotOf(memory: MemoryPlan, plan: KernelPlan, ref: BufferRef): number {
  const slot =
    ref.kind === 'value' ? memory.valueSlots.get(plan.aliases.get(ref.id) ?? ref.id) : memory.tempSlots[ref.index];
  if (slot === undefined) throw new RangeError(`no slot for ${ref.kind} ${ref.kind === 'value' ? ref.id : ref.index}`);
  return slot;
}

/** Computes the slots of `plan` and the memory report. */
export function planMemory(plan: KernelPlan, roles: MemoryRoles, options: MemoryOptions = {}): MemoryPlan {
  const root = (id: number): number => plan.aliases.get(id) ?? id;
  const end = plan.steps.length;
  const maxBytes = options.maxBindingBytes ?? Infinity;
  for (const [, spec] of plan.values) checkFits(spec, maxBytes);
  for (const spec of plan.temps) checkFits(spec, maxBytes);

  // First and last step touching each value (by its alias root) and each scratch buffer.
  const valueSpan = new Map<number, [number, number]>();
  const tempSpan = new Map<number, [number, number]>();
  const constants = new Set<number>();
  plan.steps.forEach((step, index) => {
    if (step.kind === 'upload' && step.target.kind === 'value') constants.add(root(step.target.id));
    for (const ref of stepBuffers(step)) {
      const [map, key] = ref.kind === 'value' ? [valueSpan, root(ref.id)] : [tempSpan, ref.index];
      const span = map.get(key);
      if (span) span[1] = index;
      else map.set(key, [index, index]);
    }
  });
  const inputs = new Set(roles.inputs.map(root));
  const parameters = new Set(roles.parameters.map(root));
  const gradients = new Set(roles.gradients.map(root));
  const outputs = new Set(roles.outputs.map(root));

  const buffers: Omit<PlannedBuffer, 'slot'>[] = [];
  for (const [id, spec] of plan.values) {
    const span = valueSpan.get(id);
    const role: BufferRole = parameters.has(id)
      ? 'parameter'
      : inputs.has(id)
        ? 'input'
        : constants.has(id)
          ? 'constant'
          : gradients.has(id)
            ? 'gradient'
            : outputs.has(id)
              ? 'output'
              : 'value';
    const pinned = role !== 'output' && role !== 'value';
    const [first, last] = pinned || !span ? [-1, end] : role === 'output' ? [span[0], end] : [span[0], span[1]];
    buffers.push({ ref: { kind: 'value', id }, label: spec.label, bytes: bufferBytes(spec), first, last, role });
  }
  plan.temps.forEach((spec, index) => {
    const span = tempSpan.get(index) ?? [-1, end];
    buffers.push({
      ref: { kind: 'temp', index },
      label: spec.label,
      bytes: bufferBytes(spec),
      first: span[0],
      last: span[1],
      role: 'temp',
    });
  });

  const slotOfBuffer = assignSlots(buffers, options.reuse ?? true);
  const slots: { bytes: number; members: number[]; label: string }[] = [];
  const placed: PlannedBuffer[] = buffers.map((b, i) => ({ ...b, slot: slotOfBuffer[i] ?? -1 }));
  for (const [i, b] of placed.entries()) {
    const slot = (slots[b.slot] ??= { bytes: 0, members: [], label: b.label });
    slot.bytes = Math.max(slot.bytes, b.bytes);
    slot.members.push(i);
  }
  const valueSlots = new Map<number, number>();
  const tempSlots: number[] = [];
  for (const b of placed) {
    if (b.ref.kind === 'value') valueSlots.set(b.ref.id, b.slot);
    else tempSlots[b.ref.index] = b.slot;
  }
  return { buffers: placed, slots, valueSlots, tempSlots, report: report(plan, placed, slots, roles, options) };
}

function checkFits(spec: BufferSpec, maxBytes: number): void {
  const bytes = spec.elements * byteSize(spec.dtype);
  if (bytes > maxBytes) throw new BufferTooLargeError(spec.label, bytes, maxBytes);
}

/** Greedy by size: returns the slot of each buffer (by index). */
function assignSlots(buffers: readonly Omit<PlannedBuffer, 'slot'>[], reuse: boolean): number[] {
  const order = buffers.map((_, i) => i);
  order.sort((a, b) => {
    const x = buffers[a] as Omit<PlannedBuffer, 'slot'>;
    const y = buffers[b] as Omit<PlannedBuffer, 'slot'>;
    return y.bytes - x.bytes || x.first - y.first || a - b;
  });
  const occupants: number[][] = [];
  const sizes: number[] = [];
  const result = new Array<number>(buffers.length).fill(-1);
  for (const i of order) {
    const b = buffers[i] as Omit<PlannedBuffer, 'slot'>;
    let best = -1;
    if (reuse)
      for (let s = 0; s < occupants.length; s++) {
        const size = sizes[s] ?? 0;
        if (best >= 0 && size >= (sizes[best] ?? 0)) continue;
        const clash = (occupants[s] ?? []).some((j) => {
          const o = buffers[j] as Omit<PlannedBuffer, 'slot'>;
          return o.first <= b.last && b.first <= o.last;
        });
        if (!clash) best = s;
      }
    if (best < 0) {
      best = occupants.length;
      occupants.push([]);
      sizes.push(b.bytes);
    }
    occupants[best]?.push(i);
    result[i] = best;
  }
  return result;
}

function report(
  plan: KernelPlan,
  buffers: readonly PlannedBuffer[],
  slots: readonly MemorySlot[],
  roles: MemoryRoles,
  options: MemoryOptions,
): MemoryReport {
  const sum = (xs: readonly PlannedBuffer[]): number => xs.reduce((s, b) => s + b.bytes, 0);
  const parameterBytes = sum(buffers.filter((b) => b.role === 'parameter'));
  const gradientBytes = sum(buffers.filter((b) => b.role === 'gradient'));
  const root = (id: number): number => plan.aliases.get(id) ?? id;
  const trainableElements = [...new Set(roles.trainable.map(root))].reduce(
    (s, id) => s + (plan.values.get(id)?.elements ?? 0),
    0,
  );
  const stateBytes = trainableElements * (options.stateBytesPerParameterElement ?? 0);
  // Live bytes per step of everything but parameters and gradients, by a sweep over lifetime boundaries.
  const end = plan.steps.length;
  const delta = new Array<number>(end + 3).fill(0);
  for (const b of buffers) {
    if (b.role === 'parameter' || b.role === 'gradient') continue;
    delta[b.first + 1] = (delta[b.first + 1] ?? 0) + b.bytes;
    delta[b.last + 2] = (delta[b.last + 2] ?? 0) - b.bytes;
  }
  let live = 0;
  let largestLiveBytes = 0;
  let largestLiveStep = -1;
  for (let t = 0; t <= end + 1; t++) {
    live += delta[t] ?? 0;
    if (live > largestLiveBytes) {
      largestLiveBytes = live;
      largestLiveStep = t - 1;
    }
  }
  const slotBytes = slots.reduce((s, slot) => s + slot.bytes, 0);
  return {
    slotBytes,
    noReuseBytes: sum(buffers) + stateBytes,
    peakBytes: slotBytes + stateBytes,
    parameterBytes,
    gradientBytes,
    stateBytes,
    largestLiveBytes,
    largestLiveStep,
    lowerBoundBytes: parameterBytes + gradientBytes + stateBytes + largestLiveBytes,
  };
}
