import { describe, expect, it } from 'vitest';
import {
  ProgressBar,
  etaSeconds,
  formatDuration,
  isInteractiveStream,
  renderBar,
  type ProgressOptions,
} from '../../cli/progress.js';

/** A stream that records what is written, and a clock moved by hand. */
function harness(tty: boolean, options: Partial<ProgressOptions> = {}) {
  const writes: string[] = [];
  const clock = { ms: 0 };
  const stream = { isTTY: tty, columns: 120, write: (s: string) => writes.push(s) };
  const bar = new ProgressBar({ total: 1000, stream, env: {}, now: () => clock.ms, ...options });
  return { bar, writes, clock, text: () => writes.join('') };
}

describe('progress bar formatting', () => {
  it('formats durations', () => {
    expect([0, 9.4, 59.6, 61, 3599, 3600, 7322].map(formatDuration)).toEqual([
      '0s',
      '9s',
      '1m00s',
      '1m01s',
      '59m59s',
      '1h00m',
      '2h02m',
    ]);
    expect(formatDuration(NaN)).toBe('?');
    expect(formatDuration(Infinity)).toBe('?');
  });

  it('computes the ETA from the remaining steps and the rate', () => {
    expect(etaSeconds(100, 1000, 10)).toBe(90);
    expect(etaSeconds(1000, 1000, 0)).toBe(0);
    expect(etaSeconds(5, 1000, 0)).toBeNaN();
  });

  it('draws a bar of fixed width with eighth-cell resolution', () => {
    expect(renderBar(0, 10)).toBe('▕          ▏');
    expect(renderBar(1, 10)).toBe('▕██████████▏');
    expect(renderBar(0.5, 10)).toBe('▕█████     ▏');
    expect(renderBar(0.05, 10)).toBe('▕▌         ▏'); // 4 eighths of a cell
    expect(renderBar(0.0625, 10)).toBe('▕▋         ▏'); // 5 eighths
    for (let f = 0; f <= 1; f += 0.01) expect(renderBar(f, 17)).toHaveLength(19); // all one UTF-16 unit each
  });

  it('is interactive only on a TTY without CI and with a capable TERM', () => {
    expect(isInteractiveStream({ isTTY: true, write: () => 0 }, {})).toBe(true);
    expect(isInteractiveStream({ isTTY: false, write: () => 0 }, {})).toBe(false);
    expect(isInteractiveStream({ isTTY: true, write: () => 0 }, { CI: 'true' })).toBe(false);
    expect(isInteractiveStream({ isTTY: true, write: () => 0 }, { CI: 'false' })).toBe(true);
    expect(isInteractiveStream({ isTTY: true, write: () => 0 }, { TERM: 'dumb' })).toBe(false);
  });
});

describe('progress bar on a terminal', () => {
  it('redraws one line in place with step, loss, images/s and ETA', () => {
    const { bar, writes, clock } = harness(true);
    expect(bar.interactive).toBe(true);
    for (let step = 1; step <= 100; step++) {
      clock.ms = step * 100; // 10 steps/s, 64 images per step
      bar.update({ step, loss: 1 / step, images: step * 64 });
    }
    const last = writes[writes.length - 1] ?? '';
    expect(last.startsWith('\r')).toBe(true);
    expect(last.endsWith('\x1b[K')).toBe(true);
    expect(writes.join('')).not.toContain('\n');
    expect(last).toContain('100/1,000');
    expect(last).toContain('10%');
    expect(last).toContain('loss 0.0100');
    expect(last).toContain('640 img/s');
    expect(last).toContain('ETA 1m30s'); // 900 steps left at 10 steps/s
    expect(last.length - 4).toBeLessThanOrEqual(119); // fits the 120 columns
  });

  it('redraws at a bounded rate, but always draws the last step', () => {
    const { bar, writes, clock } = harness(true, { redrawMs: 100 });
    for (let step = 1; step <= 1000; step++) {
      clock.ms = step; // 1000 updates over one second
      bar.update({ step });
    }
    expect(writes.length).toBeGreaterThanOrEqual(10);
    expect(writes.length).toBeLessThanOrEqual(12);
    expect(writes[writes.length - 1]).toContain('1,000/1,000');
  });

  it('the rate window forgets a slow start (pipeline compilation)', () => {
    const { bar, clock } = harness(true, { windowMs: 5000 });
    clock.ms = 60_000; // the first step took a minute
    bar.update({ step: 1, images: 64 });
    for (let step = 2; step <= 200; step++) {
      clock.ms = 60_000 + (step - 1) * 100;
      bar.update({ step, images: step * 64 });
    }
    expect(bar.rates().stepsPerSecond).toBeCloseTo(10, 5);
  });

  it('counts no rate until a step after the first: the start-up before it is not progress', () => {
    const { bar, clock, writes } = harness(true, { windowMs: 60_000 });
    clock.ms = 40_000; // compiling pipelines and timing matmul tiles
    bar.update({ step: 1, images: 128 });
    expect(bar.rates()).toEqual({ stepsPerSecond: 0, imagesPerSecond: 0 });
    expect(writes.at(-1)).toContain('ETA ?');
    expect(writes.at(-1)).not.toContain('img/s');
    clock.ms = 41_000;
    bar.update({ step: 5, images: 640 });
    expect(bar.rates().imagesPerSecond).toBeCloseTo(512, 5);
  });

  it('prints messages above the bar, then finishes with a newline', () => {
    const { bar, clock, text } = harness(true);
    clock.ms = 1000;
    bar.update({ step: 10, loss: 0.5 });
    bar.log('eval step 10: accuracy 71.2%');
    clock.ms = 2000;
    bar.update({ step: 1000, loss: 0.25 });
    bar.finish('saved runs/x/checkpoints/step-00001000');
    const out = text();
    expect(out).toContain('\r\x1b[Keval step 10: accuracy 71.2%\n');
    expect(out).toMatch(/1,000\/1,000 100% .*done in 2s/);
    expect(out.endsWith('done in 2s\x1b[K\nsaved runs/x/checkpoints/step-00001000\n')).toBe(true);
    bar.update({ step: 5 }); // ignored after finish
    expect(text()).toBe(out);
  });

  it('an interrupt ends the line and says where it stopped', () => {
    const { bar, clock, text } = harness(true);
    clock.ms = 500;
    bar.update({ step: 42 });
    bar.interrupt('Ctrl-C, checkpoint saved');
    expect(text().endsWith('\x1b[K\ninterrupted at step 42: Ctrl-C, checkpoint saved\n')).toBe(true);
  });
});

describe('progress bar off a terminal', () => {
  it('prints plain periodic lines when not a TTY', () => {
    const { bar, writes, clock } = harness(false, { lineEveryMs: 10_000 });
    expect(bar.interactive).toBe(false);
    for (let step = 1; step <= 300; step++) {
      clock.ms = step * 100;
      bar.update({ step, loss: 2, images: step * 32 });
    }
    // One line at the first update, then one every 10 s of the 30 s.
    expect(writes).toHaveLength(3);
    for (const w of writes) {
      expect(w.endsWith('\n')).toBe(true);
      expect(w.includes('\r') || w.includes('\x1b')).toBe(false);
    }
    expect(writes[1]).toBe('train step 101/1,000 (10%) loss 2.0000 320 img/s elapsed 10s ETA 1m30s\n');
    bar.finish();
    expect(writes[3]).toMatch(/^train step 300\/1,000 \(30%\) .*elapsed 30s\n$/);
  });

  it('prints the last step once, at the finish', () => {
    const { bar, writes, clock } = harness(false, { total: 20, lineEveryMs: 10_000 });
    clock.ms = 20_000;
    bar.update({ step: 20, loss: 1 });
    expect(writes).toHaveLength(0);
    bar.finish('done');
    expect(writes).toEqual([
      expect.stringMatching(/^train step 20\/20 \(100%\) loss 1\.0000 elapsed 20s\n$/),
      'done\n',
    ]);
  });

  it('an interrupt right after a plain line does not print that line again', () => {
    const { bar, writes, clock } = harness(false);
    clock.ms = 10_000;
    bar.update({ step: 40 });
    bar.interrupt('stopped as asked');
    expect(writes).toEqual([
      expect.stringMatching(/^train step 40\/1,000/),
      'interrupted at step 40: stopped as asked\n',
    ]);
    const other = harness(false);
    other.clock.ms = 10_000;
    other.bar.update({ step: 40 });
    other.clock.ms = 11_000;
    other.bar.update({ step: 41 });
    other.bar.interrupt('stopped');
    expect(other.writes.map((w) => w.slice(0, 22))).toEqual([
      'train step 40/1,000 (4',
      'train step 41/1,000 (4',
      'interrupted at step 41',
    ]);
  });

  it('uses plain lines on a TTY when CI is set', () => {
    const writes: string[] = [];
    const bar = new ProgressBar({
      total: 10,
      stream: { isTTY: true, write: (s: string) => writes.push(s) },
      env: { CI: '1' },
      now: () => 1000,
    });
    expect(bar.interactive).toBe(false);
    bar.interrupt('stopped');
    expect(writes.join('')).toBe('train step 0/10 (0%) elapsed 0s ETA ?\ninterrupted at step 0: stopped\n');
  });

  it('a resumed run counts from its start step', () => {
    const { bar, clock, writes } = harness(false, { start: 500 });
    clock.ms = 10_000;
    bar.update({ step: 600 });
    expect(writes[0]).toContain('step 600/1,000 (60%)');
    expect(writes[0]).toContain('ETA ?'); // the time before the first update is start-up, not a rate
    clock.ms = 20_000;
    bar.update({ step: 700 });
    expect(writes[1]).toContain('step 700/1,000 (70%)');
    expect(writes[1]).toContain('ETA 30s'); // 100 steps in 10 s, 300 left
  });
});
