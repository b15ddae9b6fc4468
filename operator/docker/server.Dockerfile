# syntax=docker/dockerfile:1
# The Conclave server image (conclave/server), run by the operator's StatefulSets with arguments
# only (`--config /etc/conclave/conclave.yaml`): the entrypoint is the server. Build from the
# repository root:
#   docker build -f operator/docker/server.Dockerfile -t conclave/server:0.1.0 .
ARG NODE_VERSION=20

# Build: install the workspaces it needs (with the compiler), generate the proto types, compile.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
# Every workspace's package.json, so that `npm ci` sees the lockfile's workspaces.
COPY proto/package.json proto/
COPY server/package.json server/
COPY client/package.json client/
COPY operator/package.json operator/
COPY e2e/package.json e2e/
COPY bench/package.json bench/
RUN npm ci --no-audit --no-fund --workspace @conclave/proto --workspace @conclave/server --include-workspace-root
COPY proto proto
COPY server server
RUN npm run gen -w @conclave/proto && npx tsc -b proto server

# Production dependencies only, for the run stage.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /src
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/proto/package.json proto/
COPY --from=build /src/server/package.json server/
COPY --from=build /src/client/package.json client/
COPY --from=build /src/operator/package.json operator/
COPY --from=build /src/e2e/package.json e2e/
COPY --from=build /src/bench/package.json bench/
RUN npm ci --omit=dev --no-audit --no-fund --workspace @conclave/proto --workspace @conclave/server

# Run: distroless Node.js (no shell, no package manager), as a non-root user.
FROM gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/proto/package.json proto/
COPY --from=build /src/proto/conclave proto/conclave
COPY --from=build /src/proto/dist proto/dist
COPY --from=build /src/server/package.json server/
COPY --from=build /src/server/dist/src server/dist/src
# The operator's pods run as 10001 (runAsUser) with the volume group-owned through fsGroup.
USER 10001:10001
EXPOSE 2281 2882 9281
VOLUME ["/var/lib/conclave"]
# The member's node flags: server/src/cli/node-flags.ts (MEMBER_NODE_FLAGS).
ENTRYPOINT ["/nodejs/bin/node", "--initial-old-space-size=256", "/app/server/dist/src/cli/main.js"]
