/**
 * Errors raised by the runtime. Every one carries a stable code (VT6xxx, documented in spec/diagnostics.md) and a
 * message a user can act on; none of them is a compiler bug, and the CLI prints them without a stack trace.
 */

export type RuntimeErrorCode =
  | 'VT6001' // no WebGPU adapter
  | 'VT6002' // the adapter refused to create a device
  | 'VT6003' // the device was lost
  | 'VT6004' // a WebGPU validation error
  | 'VT6005' // the device ran out of memory
  | 'VT6006' // an internal error of the WebGPU implementation
  | 'VT6007' // a kernel ran but its result is wrong
  | 'VT6008' // the WebGPU implementation could not be loaded
  | 'VT6009' // a dataset file is missing
  | 'VT6010' // a dataset file is malformed (IDX header, size, gzip)
  | 'VT6011' // a .safetensors file is malformed, truncated or corrupt
  | 'VT6012' // a checkpoint or run folder to resume from is missing or incomplete
  | 'VT6013' // a file could not be written (disk full, permissions)
  | 'VT6014' // a data selection or transform cannot be satisfied
  | 'VT6015' // a checkpoint does not fit the model (missing tensor, wrong dtype or shape)
  | 'VT6016' // the output folder already holds a run (and --resume was not given)
  | 'VT6017' // the loss became NaN or infinite
  | 'VT6018' // an experiment's training settings cannot run (optimizer, schedule, data, hooks)
  | 'VT6019'; // a law does not hold (vitm test)

export class VitmRuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  /** What the user can do about it, printed after the message. */
  readonly hint: string | undefined;

  constructor(code: RuntimeErrorCode, message: string, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VitmRuntimeError';
    this.code = code;
    this.hint = hint;
  }

  /** The one-paragraph form the CLI prints: `error VT6001: ...` and the hint on the next line. */
  render(): string {
    return `error ${this.code}: ${this.message}` + (this.hint ? `\n  hint: ${this.hint}` : '');
  }
}

export const SETUP_HINT =
  "run `npm run setup` (on Debian/Ubuntu it installs Mesa's software Vulkan driver, lavapipe), or install your GPU's Vulkan driver; `vitm doctor` checks the result";

export function noAdapterError(backend: string): VitmRuntimeError {
  return new VitmRuntimeError(
    'VT6001',
    `no WebGPU adapter found (${backend})`,
    backend === 'browser'
      ? 'use a browser with WebGPU enabled (Chromium 113+; headless Chromium needs --enable-unsafe-webgpu)'
      : SETUP_HINT,
  );
}

/** Which GPU work an error came from: the kernel's name and, once the compiler provides it, its `.vitm` span. */
export interface WorkLabel {
  readonly kernel: string;
  readonly source?: string;
}

function describe(label: WorkLabel | undefined): string {
  if (!label) return '';
  return ` in kernel '${label.kernel}'` + (label.source ? ` (from ${label.source})` : '');
}

export function deviceLostError(reason: string, message: string): VitmRuntimeError {
  return new VitmRuntimeError(
    'VT6003',
    `the WebGPU device was lost (${reason}): ${message || 'no message from the driver'}`,
    'a driver reset or a dispatch that ran too long; a training run resumes from its last checkpoint with --resume',
  );
}

export function gpuError(
  kind: 'validation' | 'out-of-memory' | 'internal',
  message: string,
  label?: WorkLabel,
): VitmRuntimeError {
  switch (kind) {
    case 'validation':
      return new VitmRuntimeError('VT6004', `WebGPU validation error${describe(label)}: ${message}`);
    case 'out-of-memory':
      return new VitmRuntimeError(
        'VT6005',
        `the device ran out of memory${describe(label)}: ${message}`,
        'use a smaller batch, or check the memory plan printed by `vitm compile`',
      );
    case 'internal':
      return new VitmRuntimeError('VT6006', `internal WebGPU error${describe(label)}: ${message}`);
  }
}
