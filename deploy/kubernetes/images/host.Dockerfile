# syntax=docker/dockerfile:1
# The sandbox host image (base/hosts.yaml). From the repository root:
#   docker build -f deploy/kubernetes/images/host.Dockerfile -t registry.school.example/reg/reg-host:0.1.0 .
# Not built by this repository's tests: their machine has no container base images to start from.
# The image runs the Reg host and its C launcher; RETs come from the registry (REG_REGISTRY), so no
# language runtime is installed here for students.
FROM node:20-bookworm-slim AS build
# node-gyp builds reg-launch, node-pty and better-sqlite3 (npm's allowScripts in package.json).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN npm ci \
 && npx turbo run build --filter=@reg/sandbox-host... \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
# mount/losetup (util-linux, mount) and mkfs.ext4 (e2fsprogs): the disk-quota volumes of workspaces
# and containers' writable layers; ca-certificates: HTTPS to the registry.
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux mount e2fsprogs ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
COPY deploy/kubernetes/images/host-entrypoint.sh /usr/local/bin/reg-host-entrypoint
ENV NODE_ENV=production
EXPOSE 3001
# Runs as root: the host creates namespaces, mounts and cgroups (base/hosts.yaml says why); every
# student's program runs under its own uid with no capabilities.
ENTRYPOINT ["/usr/local/bin/reg-host-entrypoint"]
