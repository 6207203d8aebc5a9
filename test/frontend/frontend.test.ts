/**
 * The front end as an API: the ViT-B/16 parameter count, the elaborated program's structure (timm names, shapes,
 * sharing, typed forward bodies), several independent errors in one file, and the builtin table.
 */
import { describe, expect, test } from 'vitest';
import { CATALOG } from '../../compiler/diagnostics/catalog.js';
import { BUILTIN_NAMES, BUILTINS } from '../../compiler/semantic/builtins.js';
import type { ElaboratedModel, TExpr } from '../../compiler/semantic/elaborated.js';
import { isTupleType } from '../../compiler/semantic/elaborated.js';
import { concrete, numel, shape, typeToString } from '../../compiler/types/shape.js';
import { check, withFiles } from './support.js';

function count(m: ElaboratedModel): number {
  return m.parameters.reduce((n, e) => n + (concrete(numel(e.parameter.type.shape)) ?? Number.NaN), 0);
}

function model(path: string, name: string): ElaboratedModel {
  const r = check(path);
  expect(r.diagnostics).toEqual([]);
  const m = r.program?.models.find((x) => x.name === name);
  if (m === undefined) throw new Error(`no model ${name}`);
  return m;
}

describe('ViT-B/16', () => {
  const vit = model('examples/vit_base.vitm', 'ViTBase16');

  test('has exactly timm’s 86,567,656 parameters', () => {
    expect(count(vit)).toBe(86_567_656);
    expect(vit.parameters).toHaveLength(152);
  });

  test('uses timm names and PyTorch layouts', () => {
    const byPath = new Map(vit.parameters.map((e) => [e.parameter.path, typeToString(e.parameter.type)]));
    expect(byPath.get('cls_token')).toBe('f32[1, 1, 768]');
    expect(byPath.get('pos_embed')).toBe('f32[1, 197, 768]');
    expect(byPath.get('patch_embed.proj.weight')).toBe('f32[768, 3, 16, 16]');
    expect(byPath.get('blocks.0.attn.qkv.weight')).toBe('f32[2304, 768]');
    expect(byPath.get('blocks.0.attn.qkv.bias')).toBe('f32[2304]');
    expect(byPath.get('blocks.11.mlp.fc1.weight')).toBe('f32[3072, 768]');
    expect(byPath.get('blocks.11.mlp.fc2.weight')).toBe('f32[768, 3072]');
    expect(byPath.get('norm.weight')).toBe('f32[768]');
    expect(byPath.get('head.weight')).toBe('f32[1000, 768]');
    expect(vit.parameters.every((e) => e.parameter.trainable && e.uses.length === 1)).toBe(true);
  });

  test('types the forward with a symbolic batch', () => {
    const fwd = vit.root.forward;
    expect(fwd?.inputs.map((i) => typeToString(i.type))).toEqual(['f32[B, 3, 224, 224]']);
    expect(fwd === undefined || isTupleType(fwd.type) ? undefined : typeToString(fwd.type)).toBe('f32[B, 1000]');
    const attn = vit.root.children.find((c) => c.name === 'blocks');
    expect(attn?.kind).toBe('sequence');
  });

  test('resolves calls to instances and builtins, every node typed', () => {
    const ops = new Set<string>();
    let calls = 0;
    const walk = (e: TExpr): void => {
      expect(e.type).toBeDefined();
      expect(e.span.end).toBeGreaterThanOrEqual(e.span.start);
      switch (e.kind) {
        case 'builtin':
          ops.add(e.op);
          e.args.forEach(walk);
          break;
        case 'call':
          calls++;
          e.args.forEach(walk);
          break;
        case 'index':
          walk(e.target);
          break;
        case 'tuple':
          e.items.forEach(walk);
          break;
        case 'project':
          walk(e.tuple);
          break;
        case 'input':
        case 'local':
        case 'param':
        case 'const':
          break;
      }
    };
    const attn = vit.root.children
      .flatMap((c) => (c.kind === 'sequence' ? c.instances : []))[0]
      ?.children.find((c) => c.name === 'attn');
    const fwd = attn?.kind === 'single' ? attn.instance.forward : undefined;
    expect(fwd).toBeDefined();
    for (const l of fwd?.lets ?? []) walk(l.value);
    if (fwd) walk(fwd.result);
    expect([...ops].sort()).toEqual(['matmul', 'mul', 'permute', 'reshape', 'softmax', 'transpose']);
    expect(calls).toBe(2);
    const lets = fwd?.lets ?? [];
    expect(typeToString((lets[0]?.value.type ?? { dtype: 'f32', shape: [] }) as never)).toBe('f32[3, B, 12, N, 64]');
  });
});

describe('sharing', () => {
  test('one instance used in several blocks has one entry with every use site', () => {
    const t = model('test/frontend/corpus/good/shared.vitm', 'T');
    const gate = t.parameters.find((e) => e.parameter.path === 'pool.gate');
    expect(gate?.uses).toEqual([
      'pool.gate',
      'blocks.0.adapter.gate',
      'blocks.1.adapter.gate',
      'blocks.2.adapter.gate',
    ]);
    expect(gate?.parameter.trainable).toBe(false);
    expect(t.parameters.filter((e) => e.parameter.path.includes('adapter'))).toEqual([]);
  });
});

describe('several independent errors', () => {
  const text = [
    'import std.nn.{Linear}', // 1
    'import std.vit.{ViT}', // 2
    '', // 3
    'model A = Linaer(3, 4)', // 4
    'model B = ViT(image: 32, patch: 8, dim: 64, depth: 2, heads: 3)', // 5
    'model C = Linear(3, 4) with { freeze wieght; }', // 6
  ].join('\n');
  const r = check('three.vitm', withFiles({ 'three.vitm': text }));

  test('are all reported, in order, with their positions', () => {
    const found = r.diagnostics.map((d) => {
      const p = r.files.get(d.span.file)?.position(d.span.start);
      return `${d.code} ${p?.line}:${p?.column}`;
    });
    expect(found).toEqual(['VT2001 4:11', 'VT3004 5:11', 'VT4001 6:38']);
    expect(r.program).toBeUndefined();
  });

  test('three syntax errors are all reported too', () => {
    const bad =
      'module M(n: int) {\n  param w f32[n] = zeros()\n}\nmodel A = Linear(3 4)\nexperiment e {\n  batch: 32 32\n}\n';
    const s = check('syntax.vitm', withFiles({ 'syntax.vitm': bad }));
    const found = s.diagnostics.map((d) => {
      const p = s.files.get(d.span.file)?.position(d.span.start);
      return `${d.code} ${p?.line}:${p?.column}`;
    });
    expect(found).toEqual(['VT1003 2:11', 'VT1003 4:20', 'VT1003 6:13']);
  });
});

describe('catalog and builtins', () => {
  test('every catalog entry has a title', () => {
    for (const [code, entry] of Object.entries(CATALOG)) {
      expect(code).toMatch(/^VT[1-5]\d{3}$/);
      expect(entry.title.length).toBeGreaterThan(5);
    }
  });

  test('every builtin has a signature, a doc and a working rule', () => {
    for (const name of BUILTIN_NAMES) {
      const spec = BUILTINS[name];
      expect(spec.doc.length, name).toBeGreaterThan(2);
      expect(new Set(spec.params.map((p) => p.name)).size, name).toBe(spec.params.length);
    }
    const r = BUILTINS.matmul.infer({
      tensors: new Map([
        ['a', { dtype: 'f32', shape: shape(['B', 7, 3]) }],
        ['b', { dtype: 'f32', shape: shape([3, 5]) }],
      ]),
      lists: new Map(),
      attrs: {},
    });
    expect(r.ok && !isTupleType(r.type) ? typeToString(r.type) : r).toBe('f32[B, 7, 5]');
    const bad = BUILTINS.add.infer({
      tensors: new Map([
        ['a', { dtype: 'f32', shape: shape(['B', 4]) }],
        ['b', { dtype: 'f32', shape: shape([3]) }],
      ]),
      lists: new Map(),
      attrs: {},
    });
    expect(bad.ok ? 'ok' : bad.code).toBe('VT3002');
  });

  test('weight-space coefficients are combined per model', () => {
    const r = check('test/frontend/corpus/good/merge.vitm');
    const ta = r.program?.models.find((m) => m.name === 'TaskArithmetic');
    expect(ta?.derivation).toEqual({
      kind: 'merge',
      terms: [
        { model: 'Pre', coefficient: 0 },
        { model: 'TaskA', coefficient: 0.5 },
        { model: 'TaskB', coefficient: 0.5 },
      ],
    });
  });
});
