// Prints the WebGPU adapter Dawn finds ("vendor architecture: description") and exits 0, or exits 1 if none.
// Used by scripts/setup.sh to decide whether a Vulkan driver must be installed. Plain JavaScript so that it runs
// before anything is built.
import { create, globals } from 'webgpu';

const timer = setTimeout(() => process.exit(1), 20_000);
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
clearTimeout(timer);
if (!adapter) process.exit(1);
const { vendor, architecture, description } = adapter.info;
console.log(`${vendor || '?'} ${architecture || '?'}${description ? `: ${description}` : ''}`);
process.exit(0);
