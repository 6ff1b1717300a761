# syntax=docker/dockerfile:1
# The web app image (base/web.yaml): the Next.js classroom and the one-origin router (server.mjs).
# From the repository root:
#   docker build -f deploy/kubernetes/images/web.Dockerfile -t registry.school.example/reg/reg-web:0.1.0 .
# Not built by this repository's tests: their machine has no container base images to start from.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN npm ci \
 && npx turbo run build --filter=@reg/web... \
 && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production
# The web app needs no privilege at all; base/web.yaml also makes its root filesystem read-only.
USER 10001:10001
WORKDIR /app/apps/web
EXPOSE 3000
CMD ["node", "server.mjs"]
