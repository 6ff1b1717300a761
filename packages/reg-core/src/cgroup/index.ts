// The cgroup module's surface: the driver interface, its two implementations, detection, and the
// fakes other modules use in their tests.

export * from './driver.js';
export { detectCgroupDriver, detectCgroupVersion, type DetectOptions } from './detect.js';
export { CgroupV1Driver } from './v1.js';
export { CgroupV2Driver } from './v2.js';
export { type CgroupFs, realCgroupFs } from './cgroupfs.js';
export { FakeCgroupFs, type FakeCgroupTreeOptions } from './fake-cgroupfs.js';
export { RecordingCgroupDriver, type RecordedCgroupCall } from './recording-driver.js';
export { PooledCgroupDriver, isPoolMember, poolOptionsFromEnv, type CgroupPoolOptions, type CgroupPoolStats } from './pool.js';
