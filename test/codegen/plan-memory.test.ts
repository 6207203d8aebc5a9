/**
 * The static memory plan (`planMemory`): on random graphs (forward and gradient) and on the tiny ViT's training graph,
 * no two buffers live at the same time share a slot, checked two ways: by the plan's own lifetimes, and by replaying
 * the steps and checking that every buffer a step reads still holds what was last written into it (so a slot is
 * never overwritten while a later step or the readback still needs its contents). Also: every buffer fits its slot,
 * pinned buffers (inputs, constants, gradients) keep their slot to themselves, and the report's figures are
 * consistent (lower bound <= peak <= no-reuse bytes, peak below no-reuse for the ViT).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.js';
import type { KernelPlan } from '../../compiler/codegen/kernel.js';
import { planGraph, planGraphMemory } from '../../compiler/codegen/wgsl/ops/plan.js';
import {
  BufferTooLargeError,
  graphRoles,
  planMemory,
  slotOf,
  stepBuffers,
  type MemoryPlan,
} from '../../compiler/codegen/plan-memory.js';
import { CLEANUP_PASSES, differentiatePass, runPasses } from '../../compiler/passes/run-passes.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { TINY_VIT, vitGraph } from '../ir/fixtures/vit.js';
import { arbGraphCase, buildGraph } from './random-graphs.js';

const CAPS = { maxWorkgroupsPerDimension: 65535, shaderF16: false };

/** A readable key of a buffer reference (alias resolved). */
function key(plan: KernelPlan, ref: { kind: 'value'; id: number } | { kind: 'temp'; index: number }): string {
  return ref.kind === 'value' ? `v${plan.aliases.get(ref.id) ?? ref.id}` : `t${ref.index}`;
}

/** Checks the memory plan of `plan` for `graph`; returns it. */
function checkPlan(graph: Graph, plan: KernelPlan, memory: MemoryPlan): void {
  // 1. Overlapping lifetimes never share a slot; every buffer fits its slot.
  const { buffers, slots } = memory;
  for (let i = 0; i < buffers.length; i++) {
    const a = buffers[i];
    if (!a) continue;
    expect(slots[a.slot]?.bytes ?? 0).toBeGreaterThanOrEqual(a.bytes);
    for (let j = i + 1; j < buffers.length; j++) {
      const b = buffers[j];
      if (b && a.first <= b.last && b.first <= a.last) expect(a.slot, `${a.label} and ${b.label}`).not.toBe(b.slot);
    }
  }
  // 2. Replay: each slot remembers the buffer last written into it; a read must find the buffer it wants there.
  const owner = new Map<number, string>();
  const roles = graphRoles(graph);
  const written = (ref: Parameters<typeof key>[1]): void => {
    owner.set(slotOf(memory, plan, ref), key(plan, ref));
  };
  for (const id of roles.inputs) written({ kind: 'value', id });
  const uploads = plan.steps.filter((s) => s.kind === 'upload');
  for (const s of uploads) written(s.target);
  for (let run = 0; run < 2; run++) {
    for (const step of plan.steps) {
      if (step.kind === 'upload') continue;
      const writes =
        step.kind === 'matmul'
          ? [
              step.c,
              ...(step.epilogue?.second ? [step.epilogue.second.out] : []),
              ...(step.rowSums ? [step.rowSums] : []),
            ]
          : step.bindings.filter((b) => b.access === 'read_write').map((b) => b.buffer);
      const reads = stepBuffers(step).filter((r) => !writes.some((w) => key(plan, w) === key(plan, r)));
      for (const r of reads)
        expect(owner.get(slotOf(memory, plan, r)), `${step.name} reads ${key(plan, r)}`).toBe(key(plan, r));
      writes.forEach(written);
    }
    for (const id of [...roles.outputs, ...roles.inputs])
      expect(owner.get(slotOf(memory, plan, { kind: 'value', id })), `%${id} at the end`).toBe(
        key(plan, { kind: 'value', id }),
      );
  }
  // 3. Pinned buffers own their slot.
  for (const b of buffers)
    if (b.first === -1 && b.last === plan.steps.length) expect(slots[b.slot]?.members.length, b.label).toBe(1);
  // 4. The figures.
  const r = memory.report;
  expect(r.peakBytes).toBe(r.slotBytes + r.stateBytes);
  expect(r.lowerBoundBytes).toBeLessThanOrEqual(r.peakBytes);
  expect(r.peakBytes).toBeLessThanOrEqual(r.noReuseBytes);
  expect(r.lowerBoundBytes).toBe(r.parameterBytes + r.gradientBytes + r.stateBytes + r.largestLiveBytes);
}

function gradientGraph(graph: Graph): Graph {
  return runPasses(graph, [differentiatePass({ loss: 'loss' }), ...CLEANUP_PASSES], { verify: true });
}

describe('the memory plan', () => {
  it('never gives two simultaneously live buffers one slot, on random graphs', () => {
    fc.assert(
      fc.property(arbGraphCase, fc.boolean(), (c, fuse) => {
        const graph = buildGraph(c);
        const plan = planGraph(graph, { caps: CAPS, fuse });
        const memory = planMemory(plan, graphRoles(graph), { stateBytesPerParameterElement: 8 });
        checkPlan(graph, plan, memory);
        const plain = planMemory(plan, graphRoles(graph), { reuse: false, stateBytesPerParameterElement: 8 });
        expect(plain.slots.length).toBe(plain.buffers.length);
        expect(plain.report.peakBytes).toBe(plain.report.noReuseBytes);
        expect(memory.report.lowerBoundBytes).toBe(plain.report.lowerBoundBytes);
      }),
      { numRuns: 150, seed: 0x5107 },
    );
  });

  it('plans the tiny ViT training graph at B=64 below one buffer per value, above the lower bound', () => {
    const graph = gradientGraph(vitGraph(TINY_VIT));
    const { plan, memory } = planGraphMemory(graph, {
      caps: CAPS,
      symbols: { B: 64 },
      stateBytesPerParameterElement: 8,
    });
    checkPlan(graph, plan, memory);
    const r = memory.report;
    const params = graph.inputs.filter((i) => i.kind === 'param');
    const paramElements = params.reduce((s, p) => s + (plan.values.get(p.value.id)?.elements ?? 0), 0);
    expect(r.parameterBytes).toBe(paramElements * 4);
    expect(r.gradientBytes).toBe(paramElements * 4);
    expect(r.stateBytes).toBe(paramElements * 8);
    // Reuse must save most of the activation memory of a training step, not a rounding error.
    expect(r.peakBytes).toBeLessThan(0.6 * r.noReuseBytes);
    expect(r.peakBytes).toBeGreaterThanOrEqual(r.lowerBoundBytes);
    if (process.env.VITM_DEBUG)
      process.stdout.write(
        `tiny ViT B=64: peak ${r.peakBytes} no-reuse ${r.noReuseBytes} lower bound ${r.lowerBoundBytes} (${memory.slots.length} slots for ${memory.buffers.length} buffers)\n`,
      );
  });

  it('names the tensor that does not fit one binding', () => {
    const b = new GraphBuilder();
    const graph = b.build({ y: b.add(b.broadcastTo(b.data('x', [1]), [1000]), 1) });
    const plan = planGraph(graph, { caps: CAPS });
    expect(() => planMemory(plan, graphRoles(graph), { maxBindingBytes: 3000 })).toThrow(BufferTooLargeError);
    expect(() => planMemory(plan, graphRoles(graph), { maxBindingBytes: 3000 })).toThrow(
      /the tensor %\d+:broadcast_to needs 4000 bytes/,
    );
    expect(planMemory(plan, graphRoles(graph), { maxBindingBytes: 4000 }).slots.length).toBeGreaterThan(0);
  });
});
