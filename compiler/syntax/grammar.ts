/**
 * The `.vitm` grammar: a pure chevrotain `CstParser` (no embedded actions) with error recovery on, so several
 * syntax errors are found in one run. `ast.ts`'s visitor turns its CST into the AST. Every rule here has a
 * production of the same name in spec/language.md's EBNF (a test keeps them in sync).
 */
import { CstParser, type CstNode } from 'chevrotain';
import * as T from './tokens.js';

export class VitmParser extends CstParser {
  constructor() {
    super([...T.ALL_TOKENS], { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'onlyOffset' });
    this.performSelfAnalysis();
  }

  readonly program = this.RULE('program', () => {
    this.MANY(() => this.SUBRULE(this.declaration));
  });

  readonly declaration = this.RULE('declaration', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importDecl) },
      { ALT: () => this.SUBRULE(this.moduleDecl) },
      { ALT: () => this.SUBRULE(this.modelDecl) },
      { ALT: () => this.SUBRULE(this.experimentDecl) },
      { ALT: () => this.SUBRULE(this.lawDecl) },
    ]);
  });

  readonly importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.OR([
      { ALT: () => this.CONSUME(T.StringLit) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.MANY(() => {
            this.CONSUME(T.Dot);
            this.CONSUME2(T.Identifier);
          });
        },
      },
    ]);
    this.CONSUME2(T.Dot);
    this.CONSUME(T.LCurly);
    this.SUBRULE(this.nameList);
    this.CONSUME(T.RCurly);
  });

  readonly nameList = this.RULE('nameList', () => {
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.Identifier) });
  });

  readonly moduleDecl = this.RULE('moduleDecl', () => {
    this.CONSUME(T.Module);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.binder) });
    this.CONSUME(T.RParen);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.moduleItem));
    this.CONSUME(T.RCurly);
  });

  /** `name: type` with an optional default: hyperparameters, forward inputs and law parameters. */
  readonly binder = this.RULE('binder', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.typeExpr);
    this.OPTION(() => {
      this.CONSUME(T.Eq);
      this.SUBRULE(this.expression);
    });
  });

  readonly typeExpr = this.RULE('typeExpr', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.LBracket);
            this.MANY_SEP({
              SEP: T.Comma,
              DEF: () => {
                this.OR2([{ ALT: () => this.CONSUME(T.Ellipsis) }, { ALT: () => this.SUBRULE(this.expression) }]);
              },
            });
            this.CONSUME(T.RBracket);
          },
        },
        { ALT: () => this.SUBRULE(this.argList) },
      ]);
    });
  });

  readonly moduleItem = this.RULE('moduleItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.paramDecl) },
      { ALT: () => this.SUBRULE(this.requireDecl) },
      { ALT: () => this.SUBRULE(this.letDecl) },
      { ALT: () => this.SUBRULE(this.forwardDecl) },
      { ALT: () => this.SUBRULE(this.submoduleDecl) },
    ]);
  });

  readonly paramDecl = this.RULE('paramDecl', () => {
    this.OPTION(() => this.CONSUME(T.Frozen));
    this.CONSUME(T.Param);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.typeExpr);
    this.CONSUME(T.Eq);
    this.SUBRULE(this.expression);
  });

  readonly requireDecl = this.RULE('requireDecl', () => {
    this.CONSUME(T.Require);
    this.SUBRULE(this.expression);
    this.OPTION(() => {
      this.CONSUME(T.Comma);
      this.CONSUME(T.StringLit);
    });
  });

  readonly letDecl = this.RULE('letDecl', () => {
    this.CONSUME(T.Let);
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.nameList);
          this.CONSUME(T.RParen);
        },
      },
    ]);
    this.CONSUME(T.Eq);
    this.SUBRULE(this.expression);
  });

  readonly submoduleDecl = this.RULE('submoduleDecl', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Eq);
    this.SUBRULE(this.expression);
  });

  readonly forwardDecl = this.RULE('forwardDecl', () => {
    this.CONSUME(T.Forward);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.binder) });
    this.CONSUME(T.RParen);
    this.OPTION(() => {
      this.CONSUME(T.Arrow);
      this.SUBRULE(this.typeExpr);
    });
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.letDecl));
    this.CONSUME(T.Return);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RCurly);
  });

  readonly modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Eq);
    this.SUBRULE(this.expression);
  });

  readonly experimentDecl = this.RULE('experimentDecl', () => {
    this.CONSUME(T.Experiment);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.field));
    this.CONSUME(T.RCurly);
  });

  readonly field = this.RULE('field', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.Model) }]);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.expression);
    this.OPTION(() => {
      this.CONSUME(T.As);
      this.CONSUME2(T.Identifier);
    });
  });

  readonly lawDecl = this.RULE('lawDecl', () => {
    this.CONSUME(T.Law);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.binder) });
    this.CONSUME(T.RParen);
    this.OPTION(() => {
      this.CONSUME(T.When);
      this.SUBRULE(this.expression);
    });
    this.CONSUME(T.Colon);
    this.SUBRULE2(this.expression);
  });

  readonly expression = this.RULE('expression', () => {
    this.SUBRULE(this.orExpr);
    this.MANY(() => {
      this.CONSUME(T.With);
      this.CONSUME(T.LCurly);
      this.MANY2(() => this.SUBRULE(this.edit));
      this.CONSUME(T.RCurly);
    });
  });

  readonly edit = this.RULE('edit', () => {
    this.OR([
      {
        ALT: () => {
          this.OR2([{ ALT: () => this.CONSUME(T.Freeze) }, { ALT: () => this.CONSUME(T.Unfreeze) }]);
          this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.path) });
        },
      },
      {
        ALT: () => {
          this.OPTION(() => this.CONSUME(T.Insert));
          this.SUBRULE2(this.path);
          this.CONSUME(T.Eq);
          this.SUBRULE(this.expression);
        },
      },
    ]);
    this.OPTION2(() => this.CONSUME(T.Semi));
  });

  readonly path = this.RULE('path', () => {
    this.SUBRULE(this.pathName);
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.Dot);
            this.SUBRULE2(this.pathName);
          },
        },
        { ALT: () => this.SUBRULE(this.pathIndex) },
      ]);
    });
  });

  readonly pathName = this.RULE('pathName', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.DoubleStar) },
      {
        ALT: () => {
          this.AT_LEAST_ONE(() =>
            this.OR2([{ ALT: () => this.CONSUME(T.Identifier) }, { ALT: () => this.CONSUME(T.Star) }]),
          );
        },
      },
    ]);
  });

  readonly pathIndex = this.RULE('pathIndex', () => {
    this.CONSUME(T.LBracket);
    this.OR([
      { ALT: () => this.CONSUME(T.Star) },
      {
        ALT: () => {
          this.OPTION(() => this.CONSUME(T.NumberLit));
          this.OPTION2(() => {
            this.CONSUME(T.Colon);
            this.OPTION3(() => this.CONSUME2(T.NumberLit));
            this.OPTION4(() => {
              this.CONSUME2(T.Colon);
              this.OPTION5(() => this.CONSUME3(T.NumberLit));
            });
          });
        },
      },
    ]);
    this.CONSUME(T.RBracket);
  });

  readonly orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  readonly andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr);
    });
  });

  readonly notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  readonly comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.additive);
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.LtEq) },
        { ALT: () => this.CONSUME(T.GtEq) },
        { ALT: () => this.CONSUME(T.Lt) },
        { ALT: () => this.CONSUME(T.Gt) },
      ]);
      this.SUBRULE2(this.additive);
    });
  });

  readonly additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.multiplicative);
    });
  });

  readonly multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
        { ALT: () => this.CONSUME(T.At) },
      ]);
      this.SUBRULE2(this.unary);
    });
  });

  readonly unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.postfix) },
    ]);
  });

  readonly postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.argList) },
        { ALT: () => this.SUBRULE(this.indexSuffix) },
        {
          ALT: () => {
            this.CONSUME(T.Dot);
            this.CONSUME(T.Identifier);
          },
        },
      ]);
    });
  });

  readonly argList = this.RULE('argList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.argument) });
    this.CONSUME(T.RParen);
  });

  readonly argument = this.RULE('argument', () => {
    this.OPTION(() => {
      this.CONSUME(T.Identifier);
      this.CONSUME(T.Colon);
    });
    this.SUBRULE(this.expression);
  });

  readonly indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.indexItem) });
    this.CONSUME(T.RBracket);
  });

  readonly indexItem = this.RULE('indexItem', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Star) },
      { ALT: () => this.SUBRULE(this.sliceTail) },
      {
        ALT: () => {
          this.SUBRULE(this.expression);
          this.OPTION(() => this.SUBRULE2(this.sliceTail));
        },
      },
    ]);
  });

  /** `: stop? (: step?)?` after an optional start. */
  readonly sliceTail = this.RULE('sliceTail', () => {
    this.CONSUME(T.Colon);
    this.OPTION(() => this.SUBRULE(this.expression));
    this.OPTION2(() => {
      this.CONSUME2(T.Colon);
      this.OPTION3(() => this.SUBRULE2(this.expression));
    });
  });

  readonly primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLit) },
      { ALT: () => this.CONSUME(T.StringLit) },
      { ALT: () => this.CONSUME(T.BadString) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.It) },
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expression);
          this.MANY(() => {
            this.CONSUME(T.Comma);
            this.SUBRULE2(this.expression);
          });
          this.OPTION(() => this.CONSUME2(T.Comma));
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.listExpr) },
    ]);
  });

  /** `[a, b, c]` or the repetition `[item; count]`. */
  readonly listExpr = this.RULE('listExpr', () => {
    this.CONSUME(T.LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.expression);
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.Semi);
            this.SUBRULE2(this.expression);
          },
        },
        {
          ALT: () => {
            this.MANY(() => {
              this.CONSUME(T.Comma);
              this.SUBRULE3(this.expression);
            });
          },
        },
      ]);
    });
    this.CONSUME(T.RBracket);
  });
}

/** The one parser instance (chevrotain parsers are reusable: set `input`, call a rule). */
export const parser = new VitmParser();

/** The names of every grammar rule (for the EBNF sync test). */
export function ruleNames(): string[] {
  return Object.keys(parser.getGAstProductions());
}

export type { CstNode };
