/**
 * The `.vitm` lexer: token types and the chevrotain `Lexer`. Keywords are reserved; identifiers that merely start
 * with a keyword (`models`, `import_x`) stay identifiers through `longer_alt`. Whitespace and comments are skipped.
 * Malformed input (an unterminated string or block comment) is lexed as a token of its own so that the parser can
 * carry on and the visitor reports it with a code.
 */
import { createToken, Lexer, type TokenType } from 'chevrotain';

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

function keyword(word: string): TokenType {
  return createToken({
    name: (word[0] ?? '').toUpperCase() + word.slice(1),
    pattern: new RegExp(`${word}\\b`),
    longer_alt: Identifier,
  });
}

export const Import = keyword('import');
export const Module = keyword('module');
export const Param = keyword('param');
export const Frozen = keyword('frozen');
export const Forward = keyword('forward');
export const Return = keyword('return');
export const Let = keyword('let');
export const Require = keyword('require');
export const Model = keyword('model');
export const With = keyword('with');
export const Freeze = keyword('freeze');
export const Unfreeze = keyword('unfreeze');
export const Insert = keyword('insert');
export const Experiment = keyword('experiment');
export const Law = keyword('law');
export const When = keyword('when');
export const As = keyword('as');
export const It = keyword('it');
export const True = keyword('true');
export const False = keyword('false');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');

/** The reserved words, in the order the lexer tries them. */
export const KEYWORDS = [
  Import,
  Module,
  Param,
  Frozen,
  Forward,
  Return,
  Let,
  Require,
  Model,
  With,
  Freeze,
  Unfreeze,
  Insert,
  Experiment,
  Law,
  When,
  As,
  It,
  True,
  False,
  And,
  Or,
  Not,
] as const;

export const NumberLit = createToken({ name: 'NumberLit', pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/ });
export const StringLit = createToken({ name: 'StringLit', pattern: /"(?:[^"\\\n\r]|\\.)*"/ });
/** A string that reaches the end of its line: reported as VT1002. */
export const BadString = createToken({ name: 'BadString', pattern: /"(?:[^"\\\n\r]|\\.)*/ });

export const Arrow = createToken({ name: 'Arrow', pattern: '->' });
export const EqEq = createToken({ name: 'EqEq', pattern: '==' });
export const NotEq = createToken({ name: 'NotEq', pattern: '!=' });
export const LtEq = createToken({ name: 'LtEq', pattern: '<=' });
export const GtEq = createToken({ name: 'GtEq', pattern: '>=' });
export const Lt = createToken({ name: 'Lt', pattern: '<' });
export const Gt = createToken({ name: 'Gt', pattern: '>' });
export const Eq = createToken({ name: 'Eq', pattern: '=' });
export const DoubleStar = createToken({ name: 'DoubleStar', pattern: '**' });
export const Star = createToken({ name: 'Star', pattern: '*' });
export const Slash = createToken({ name: 'Slash', pattern: '/' });
export const Percent = createToken({ name: 'Percent', pattern: '%' });
export const Plus = createToken({ name: 'Plus', pattern: '+' });
export const Minus = createToken({ name: 'Minus', pattern: '-' });
export const At = createToken({ name: 'At', pattern: '@' });
export const Ellipsis = createToken({ name: 'Ellipsis', pattern: '...' });
export const Dot = createToken({ name: 'Dot', pattern: '.' });
export const Comma = createToken({ name: 'Comma', pattern: ',' });
export const Colon = createToken({ name: 'Colon', pattern: ':' });
export const Semi = createToken({ name: 'Semi', pattern: ';' });
export const LParen = createToken({ name: 'LParen', pattern: '(' });
export const RParen = createToken({ name: 'RParen', pattern: ')' });
export const LBracket = createToken({ name: 'LBracket', pattern: '[' });
export const RBracket = createToken({ name: 'RBracket', pattern: ']' });
export const LCurly = createToken({ name: 'LCurly', pattern: '{' });
export const RCurly = createToken({ name: 'RCurly', pattern: '}' });

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /\s+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n\r]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED });
/** A block comment that never closes: reported as VT1006, then skipped. */
export const BadComment = createToken({ name: 'BadComment', pattern: /\/\*[\s\S]*/, group: 'bad' });

/** Every token type, in matching order. */
export const ALL_TOKENS: readonly TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  BadComment,
  ...KEYWORDS,
  Identifier,
  NumberLit,
  StringLit,
  BadString,
  Arrow,
  EqEq,
  NotEq,
  LtEq,
  GtEq,
  Lt,
  Gt,
  Eq,
  DoubleStar,
  Star,
  Slash,
  Percent,
  Plus,
  Minus,
  At,
  Ellipsis,
  Dot,
  Comma,
  Colon,
  Semi,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LCurly,
  RCurly,
];

export const vitmLexer = new Lexer([...ALL_TOKENS], { positionTracking: 'onlyOffset', ensureOptimizations: false });
