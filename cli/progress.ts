/**
 * The training progress bar. On a terminal it is one line redrawn in place (at most every `redrawMs`):
 *
 *   train ▕███████▋          ▏  1,200/5,000  24%  loss 0.4123  acc 85.1%  1,234 img/s  ETA 3m05s
 *
 * When the stream is not a terminal, or CI is set, or TERM is `dumb`, it prints plain lines instead, one every
 * `lineEveryMs` (the last step's line only once, at the end), which read well in log files:
 *
 *   train step 1,200/5,000 (24%) loss 0.4123 acc 85.1% 1,234 img/s elapsed 1m00s ETA 3m05s
 *
 * Rates and the ETA come from a sliding window of recent updates (`windowMs`), so the slow first steps (pipeline
 * compilation) stop weighing on them once the run is going; the time before the first update (start-up, compiling
 * pipelines and timing matmul tiles) never counts, so the first line shows no rate and `ETA ?`. The clock is
 * injectable, so tests drive it by hand.
 */

/** Where the bar writes: a `process.stdout`-like stream. */
export interface ProgressStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  /** The step the run ends at. */
  readonly total: number;
  readonly stream: ProgressStream;
  /** A word before the bar (default `train`). */
  readonly label?: string;
  /** The step the run starts from (a resumed run starts > 0); default 0. */
  readonly start?: number;
  /** Force terminal (true) or plain-line (false) output; default: decided from the stream and the environment. */
  readonly interactive?: boolean;
  /** The environment to look at for CI and TERM (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since some origin (default `performance.now`). */
  readonly now?: () => number;
  /** Minimum time between two redraws on a terminal (default 100 ms). */
  readonly redrawMs?: number;
  /** Time between two plain lines (default 10 s). */
  readonly lineEveryMs?: number;
  /** The span of the rate window (default 20 s). */
  readonly windowMs?: number;
  /** Line width on a terminal (default the stream's columns, else 100). */
  readonly width?: number;
}

export interface ProgressUpdate {
  /** Steps completed. */
  readonly step: number;
  readonly loss?: number;
  /** Accuracy in [0, 1]. */
  readonly accuracy?: number;
  /** Images processed since the start of this run (cumulative), for images/s. */
  readonly images?: number;
}

interface Sample {
  readonly t: number;
  readonly step: number;
  readonly images: number;
}

/** True when the stream is a terminal that can redraw a line: a TTY, no CI, a TERM other than `dumb`. */
export function isInteractiveStream(
  stream: ProgressStream,
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  return stream.isTTY === true && !ci && env.TERM !== 'dumb';
}

/** `12s`, `3m05s`, `1h02m`, or `?` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The seconds left at a rate of `stepsPerSecond`, or NaN when the rate is unknown. */
export function etaSeconds(step: number, total: number, stepsPerSecond: number): number {
  if (step >= total) return 0;
  return stepsPerSecond > 0 ? (total - step) / stepsPerSecond : NaN;
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** A bar of `width` cells filled to `fraction`, with eighth-cell resolution. */
export function renderBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = eighths % 8;
  const partials = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
  const body = '█'.repeat(full) + (partials[partial] ?? '');
  return '▕' + body + ' '.repeat(width - full - (partial > 0 ? 1 : 0)) + '▏';
}

export class ProgressBar {
  readonly interactive: boolean;
  private readonly options: ProgressOptions;
  private readonly now: () => number;
  private readonly startedAt: number;
  private samples: Sample[] = [];
  /** The sample at construction: the time from it to the first update is start-up, not progress. */
  private readonly startSample: Sample;
  private last: ProgressUpdate;
  private lastDraw = -Infinity;
  private lastLine = -Infinity;
  /** The step of the last plain line, so that `finish` and `interrupt` do not print the same state twice. */
  private lastLineStep = -1;
  private drawnOnce = false;
  private done = false;

  constructor(options: ProgressOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.interactive = options.interactive ?? isInteractiveStream(options.stream, options.env);
    this.startedAt = this.now();
    const start = options.start ?? 0;
    this.last = { step: start, images: 0 };
    this.startSample = { t: this.startedAt, step: start, images: 0 };
    this.samples.push(this.startSample);
  }

  /** Records progress and redraws (terminal) or prints a line (plain) when its interval has passed. */
  update(update: ProgressUpdate): void {
    if (this.done) return;
    const t = this.now();
    this.last = { ...this.last, ...update };
    this.samples.push({ t, step: update.step, images: update.images ?? this.last.images ?? 0 });
    const windowMs = this.options.windowMs ?? 20_000;
    while (this.samples.length > 2 && t - (this.samples[1] as Sample).t >= windowMs) this.samples.shift();
    const final = update.step >= this.options.total;
    if (this.interactive) {
      if (final || t - this.lastDraw >= (this.options.redrawMs ?? 100)) this.draw(t);
    } else if (!final && t - this.lastLine >= (this.options.lineEveryMs ?? 10_000) && t > this.startedAt) {
      this.printLine(t);
    }
  }

  /** Prints a message on its own line (above the bar on a terminal), e.g. an evaluation result. */
  log(message: string): void {
    if (this.interactive && this.drawnOnce && !this.done) {
      this.options.stream.write(`\r\x1b[K${message}\n`);
      this.draw(this.now());
    } else {
      this.options.stream.write(message + '\n');
    }
  }

  /** Draws the final state and ends the line. Later updates are ignored. */
  finish(message?: string): void {
    if (this.done) return;
    const t = this.now();
    if (this.interactive) {
      this.draw(t, true);
      this.options.stream.write('\n');
    } else {
      this.printLine(t, true);
    }
    this.done = true;
    if (message) this.options.stream.write(message + '\n');
  }

  /** Ends the bar early (Ctrl-C, an error): the last state, then `interrupted at step N: reason`. */
  interrupt(reason: string): void {
    if (this.done) return;
    const t = this.now();
    if (this.interactive) {
      if (this.drawnOnce) this.options.stream.write('\n');
    } else if (this.lastLineStep !== this.last.step) {
      this.printLine(t);
    }
    this.done = true;
    this.options.stream.write(`interrupted at step ${count(this.last.step)}: ${reason}\n`);
  }

  /** Steps and images per second over the window, start-up excluded (0 when not measurable yet). */
  rates(): { stepsPerSecond: number; imagesPerSecond: number } {
    const first = this.samples[0] === this.startSample ? this.samples[1] : this.samples[0];
    const last = this.samples[this.samples.length - 1] as Sample;
    if (first === undefined) return { stepsPerSecond: 0, imagesPerSecond: 0 };
    const dt = (last.t - first.t) / 1000;
    if (!(dt > 0)) return { stepsPerSecond: 0, imagesPerSecond: 0 };
    return { stepsPerSecond: (last.step - first.step) / dt, imagesPerSecond: (last.images - first.images) / dt };
  }

  /** The terminal line for the current state (no control characters). */
  terminalLine(t: number, final = false): string {
    const { total } = this.options;
    const step = Math.min(this.last.step, total);
    const label = this.options.label ?? 'train';
    const pct = `${Math.floor((100 * step) / Math.max(1, total))}%`.padStart(4);
    const counter = `${count(step).padStart(count(total).length)}/${count(total)}`;
    const tail = this.stats(t, final).join('  ');
    const width = this.options.width ?? this.options.stream.columns ?? 100;
    const fixed = `${label}   ${counter} ${pct}  ${tail}`.length + 2;
    const barWidth = Math.max(10, Math.min(40, width - 1 - fixed));
    const line = `${label} ${renderBar(step / Math.max(1, total), barWidth)} ${counter} ${pct}  ${tail}`;
    return line.length > width - 1 ? line.slice(0, Math.max(0, width - 1)) : line;
  }

  /** The plain line for the current state. */
  plainLine(t: number, final = false): string {
    const { total } = this.options;
    const step = Math.min(this.last.step, total);
    const pct = Math.floor((100 * step) / Math.max(1, total));
    const label = this.options.label ?? 'train';
    const elapsed = `elapsed ${formatDuration((t - this.startedAt) / 1000)}`;
    return [`${label} step ${count(step)}/${count(total)} (${pct}%)`, ...this.stats(t, final, elapsed)].join(' ');
  }

  private stats(t: number, final: boolean, elapsed?: string): string[] {
    const out: string[] = [];
    const { loss, accuracy } = this.last;
    if (loss !== undefined) out.push(`loss ${Number.isFinite(loss) ? loss.toFixed(4) : String(loss)}`);
    if (accuracy !== undefined) out.push(`acc ${(accuracy * 100).toFixed(1)}%`);
    const { stepsPerSecond, imagesPerSecond } = this.rates();
    if (imagesPerSecond > 0) out.push(`${count(imagesPerSecond)} img/s`);
    if (elapsed) out.push(elapsed);
    if (final) {
      if (!elapsed) out.push(`done in ${formatDuration((t - this.startedAt) / 1000)}`);
    } else {
      out.push(`ETA ${formatDuration(etaSeconds(this.last.step, this.options.total, stepsPerSecond))}`);
    }
    return out;
  }

  private draw(t: number, final = false): void {
    this.options.stream.write(`\r${this.terminalLine(t, final)}\x1b[K`);
    this.lastDraw = t;
    this.drawnOnce = true;
  }

  private printLine(t: number, final = false): void {
    this.options.stream.write(this.plainLine(t, final) + '\n');
    this.lastLine = t;
    this.lastLineStep = this.last.step;
  }
}
