// The public surface of @reg/core. The host and the CLI import from here only.

export * from './errors.js';
export { regHome, type RegHome } from './home.js';
export * from './ret/schema.js';
export { parseRet, stringifyRet, lockId } from './ret/parse.js';
export * from './ret/version.js';
export { listRets, loadRet, loadMeta, findRet, saveRet, removeRet, type RetMeta } from './ret/repository.js';
export { buildFromHost, type HostBuildReport, type HostBuildOptions } from './ret/build-from-host.js';
export { addRet } from './ret/add.js';
export { resolveGraph, filePlan, type FilePlan, type PlanEntry, type RetGraph } from './resolve/resolve.js';
export { materialise, exportTree, ensureLayer, type Materialised } from './resolve/materialise.js';
export { BlobWriter, hashFile } from './store/put.js';
export { verifyStore, type VerifyReport } from './store/verify.js';
export { gcStore, type GcReport } from './store/gc.js';
export { storeStats, type StoreStats } from './store/stats.js';
