// The public surface of @reg/core. The host and the CLI import from here only.

export * from './errors.js';
export { regHome, type RegHome } from './home.js';
export * from './ret/schema.js';
export { parseRet, stringifyRet, lockId } from './ret/parse.js';
export * from './ret/version.js';
export { listRets, loadRet, loadMeta, findRet, saveRet, removeRet, type RetMeta } from './ret/repository.js';
export { buildFromHost, type HostBuildReport, type HostBuildOptions } from './ret/build-from-host.js';
export { addRet } from './ret/add.js';
export { buildFromDeb, type DebBuildOptions, type DebBuildReport } from './ret/build-from-deb.js';
export { buildFromNpm, type NpmBuildOptions, type NpmBuildReport } from './ret/build-from-npm.js';
export { composeRet, type ComposeOptions } from './ret/compose.js';
export { TOOLBOX, ensureToolbox, ensureToolboxEnvironment } from './ret/toolbox.js';
export { resolveGraph, filePlan, type FilePlan, type PlanEntry, type RetGraph } from './resolve/resolve.js';
export { materialise, exportTree, ensureLayer, type Materialised } from './resolve/materialise.js';
export { BlobWriter, hashFile } from './store/put.js';
export { verifyStore, type VerifyReport } from './store/verify.js';
export { gcStore, type GcReport } from './store/gc.js';
export { storeStats, type StoreStats } from './store/stats.js';
// The container lifecycle, for the sandbox host (appended for apps/sandbox-host).
export { Engine, cgroupParentFor, type EngineOptions, type RunOptions } from './container/engine.js';
export { removeCgroupParent } from './cgroup/parents.js';
export type { ContainerState } from './container/state.js';
export type { GenerateOptions } from './container/generate.js';
export type { Started } from './container/start.js';
export { STATUSES, type ContainerStatus, type Outcome } from './container/status.js';
export type { HostStats, ContainerStats } from './container/stats.js';
export { childProcessSpawner, type SpawnLauncher, type SpawnedLauncher } from './launch/launcher.js';
export { LauncherPool, POOL_KEYS, poolKeyOf, isParkCgroup, type PoolKey, type PoolMember, type PoolStatus, type LauncherPoolOptions } from './launch/park.js';
export type { CgroupLimits } from './cgroup/driver.js';
// Registries: RETs as OCI artifacts, pushed and pulled through any OCI distribution registry.
export { pushRet, type PushOptions, type PushReport, type PushedRet } from './registry/push.js';
export { pullRet, pullMany, type PullOptions, type PullReport, type PulledRet } from './registry/pull.js';
export { ensureRet, type EnsureOptions } from './registry/ensure.js';
export { searchRegistry, type RemoteRet, type SearchOptions } from './registry/search.js';
export { RegistryClient, type ClientOptions, type ClientStats, type RequestEvent, type RequestKind } from './registry/client.js';
export { parseRegistryTarget, isLoopbackHost, repositoryOf, repoComponent, retNameOfComponent, versionToTag, tagToVersion, type RegistryTarget } from './registry/reference.js';
export { credentialsFor, defaultRegistry, type Credentials } from './registry/config.js';
export { retArtifact, RET_ARTIFACT_TYPE, RET_CONFIG_MEDIA_TYPE, RET_FILE_MEDIA_TYPE } from './registry/artifact.js';
export { ProgressDisplay, type TransferEvent, type ProgressSink } from './registry/progress.js';
// Limits: one policy (admin defaults and ceilings, class and student layers) for host and CLI.
export { effectiveLimits, hostCeilings, defaultPolicy, validatePolicy, cgroupLimitsOf, assertContainerCap, formatLimit, limitsLayerSchema, limitPolicySchema, LIMIT_FIELDS, DEFAULT_LIMITS as DEFAULT_POLICY_LIMITS, DEFAULT_MAX_CONTAINERS_PER_USER, type Limits, type LimitPolicy } from './limits/policy.js';
// Disk quotas (size-limited volumes) and persistent per-student workspaces.
export { Workspaces, WORKSPACE_UID_BASE, type WorkspaceKey, type WorkspaceUsage } from './workspace/workspaces.js';
export { volumeUsage, type DiskQuota, type VolumeUsage } from './quota/volume.js';
export { loadLimitPolicy, saveLimitPolicy, policyFrom, policyFilePath, diskQuotaOf, policyFileSchema, type PolicyFile } from './limits/policy-file.js';
