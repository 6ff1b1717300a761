// The memory module's surface: per-process figures from smaps_rollup and host-wide accounting.

export { type MemoryFigures, addFigures, parseSmapsRollup, readSmapsRollup, zeroFigures } from './smaps.js';
export { type ContainerMemory, type HostMemory, accountContainers, accountProcesses, readHostUsedBytes } from './accounting.js';
