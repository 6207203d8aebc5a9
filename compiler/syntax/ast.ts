/**
 * The `.vitm` abstract syntax tree: closed discriminated unions (on `kind`), every node with its `Span` (character
 * offsets). The tree is immutable and purely syntactic: names are not resolved, and type annotations are kept as
 * written. `print.ts` prints it back to canonical source.
 */
import type { Span } from '../source/source.js';

/** An identifier with its own span. */
export interface Name {
  readonly text: string;
  readonly span: Span;
}

/** A parsed file. */
export interface Program {
  readonly kind: 'program';
  readonly file: string;
  readonly decls: readonly Decl[];
  readonly span: Span;
}

export type Decl = ImportDecl | ModuleDecl | ModelDecl | ExperimentDecl | LawDecl;

/** `import std.vit.{ViT, Block}` (source `std`) or `import "./lib.vitm".{Foo}` (source `file`). */
export interface ImportDecl {
  readonly kind: 'import';
  readonly source:
    { readonly kind: 'std'; readonly parts: readonly string[] } | { readonly kind: 'file'; readonly path: string };
  readonly sourceSpan: Span;
  readonly names: readonly Name[];
  readonly span: Span;
}

/** `name: type = default`: a hyperparameter, a forward input or a law parameter. */
export interface Binder {
  readonly name: Name;
  readonly type: TypeExpr;
  readonly default?: Expr;
  readonly span: Span;
}

/**
 * A type as written: `int` / `Adapter` (named), `f32[B, N, dim]` (tensor), or `Mlp(dim: 8)` (an instance of a module
 * with those arguments; law parameters only).
 */
export type TypeExpr =
  | { readonly kind: 'named'; readonly name: Name; readonly span: Span }
  | { readonly kind: 'tensor'; readonly dtype: Name; readonly dims: readonly DimExpr[]; readonly span: Span }
  | { readonly kind: 'instance'; readonly module: Name; readonly args: readonly Arg[]; readonly span: Span };

/** A dimension in a tensor type: an expression, or `...` (any number of leading dimensions, at most once). */
export type DimExpr = Expr | { readonly kind: 'ellipsis'; readonly span: Span };

/** `module Name(hyperparameters) { items }`. */
export interface ModuleDecl {
  readonly kind: 'module';
  readonly name: Name;
  readonly params: readonly Binder[];
  readonly items: readonly ModuleItem[];
  readonly span: Span;
}

export type ModuleItem = ParamDecl | RequireDecl | LetDecl | SubmoduleDecl | ForwardDecl;

/** `frozen? param name: f32[...] = initializer`. */
export interface ParamDecl {
  readonly kind: 'param';
  readonly frozen: boolean;
  readonly name: Name;
  readonly type: TypeExpr;
  readonly init: Expr;
  readonly span: Span;
}

/** `require condition, "message"`: checked when the module is instantiated. */
export interface RequireDecl {
  readonly kind: 'require';
  readonly condition: Expr;
  readonly message?: string;
  readonly span: Span;
}

/** `let name = expr` or `let (a, b) = expr`: a constant in a module body, a binding in a forward body. */
export interface LetDecl {
  readonly kind: 'let';
  readonly names: readonly Name[];
  /** True for the destructuring form `let (a, b) = ...` (even with one name). */
  readonly tuple: boolean;
  readonly value: Expr;
  readonly span: Span;
}

/** `name = expr`: a submodule (an instance, or a repetition `[Block(...); depth]`). */
export interface SubmoduleDecl {
  readonly kind: 'submodule';
  readonly name: Name;
  readonly value: Expr;
  readonly span: Span;
}

/** `forward(inputs) -> type { lets; return expr }`. */
export interface ForwardDecl {
  readonly kind: 'forward';
  readonly inputs: readonly Binder[];
  readonly result?: TypeExpr;
  readonly body: readonly LetDecl[];
  readonly returns: Expr;
  readonly span: Span;
}

/** `model Name = expr`. */
export interface ModelDecl {
  readonly kind: 'model';
  readonly name: Name;
  readonly value: Expr;
  readonly span: Span;
}

/** `experiment name { key: value ... }`. */
export interface ExperimentDecl {
  readonly kind: 'experiment';
  readonly name: Name;
  readonly fields: readonly Field[];
  readonly span: Span;
}

/** `key: value` or `key: value as Model` in an experiment. */
export interface Field {
  readonly key: Name;
  readonly value: Expr;
  readonly as?: Name;
  readonly span: Span;
}

/** `law name(params) when condition: lhs == rhs`. */
export interface LawDecl {
  readonly kind: 'law';
  readonly name: Name;
  readonly params: readonly Binder[];
  readonly when?: Expr;
  readonly body: Expr;
  readonly span: Span;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '@' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';
export type UnaryOp = '-' | 'not';

/** A call argument, positional or `name: value`. */
export interface Arg {
  readonly name?: Name;
  readonly value: Expr;
  readonly span: Span;
}

/** One item of an index: `*`, an expression, or a slice `start:stop:step`. */
export type IndexItem =
  | { readonly kind: 'star'; readonly span: Span }
  | { readonly kind: 'at'; readonly index: Expr; readonly span: Span }
  | { readonly kind: 'slice'; readonly start?: Expr; readonly stop?: Expr; readonly step?: Expr; readonly span: Span };

export type Expr =
  | { readonly kind: 'number'; readonly value: number; readonly isInt: boolean; readonly span: Span }
  | { readonly kind: 'string'; readonly value: string; readonly span: Span }
  | { readonly kind: 'bool'; readonly value: boolean; readonly span: Span }
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | { readonly kind: 'it'; readonly span: Span }
  | { readonly kind: 'tuple'; readonly items: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'list'; readonly items: readonly Expr[]; readonly span: Span }
  | { readonly kind: 'repeat'; readonly item: Expr; readonly count: Expr; readonly span: Span }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly operand: Expr; readonly span: Span }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr; readonly span: Span }
  | { readonly kind: 'call'; readonly callee: Expr; readonly args: readonly Arg[]; readonly span: Span }
  | { readonly kind: 'index'; readonly target: Expr; readonly items: readonly IndexItem[]; readonly span: Span }
  | { readonly kind: 'member'; readonly target: Expr; readonly name: Name; readonly span: Span }
  | { readonly kind: 'with'; readonly target: Expr; readonly edits: readonly Edit[]; readonly span: Span };

/** One edit in a `with { ... }` block. */
export type Edit =
  | { readonly kind: 'set'; readonly path: Path; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'insert'; readonly path: Path; readonly value: Expr; readonly span: Span }
  | { readonly kind: 'freeze' | 'unfreeze'; readonly paths: readonly Path[]; readonly span: Span };

/** A path pattern: `blocks[1::2].mlp`, `**.norm*`, `blocks[*].attn.qkv`. */
export interface Path {
  readonly segments: readonly PathSegment[];
  readonly span: Span;
}

/**
 * A path segment: a name pattern (`mlp`, `norm*`, `*`; `*` matches any run of characters within one name), `**`
 * (any number of levels, including none), or an index selector on a repetition.
 */
export type PathSegment =
  | { readonly kind: 'name'; readonly pattern: string; readonly span: Span }
  | { readonly kind: 'any'; readonly span: Span }
  | { readonly kind: 'index'; readonly selector: IndexSelector; readonly span: Span };

/** `[*]`, `[3]`, or `[start:stop:step]` with each part optional. */
export type IndexSelector =
  | { readonly kind: 'all' }
  | { readonly kind: 'at'; readonly index: number }
  | { readonly kind: 'range'; readonly start?: number; readonly stop?: number; readonly step?: number };
