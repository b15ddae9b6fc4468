# syntax=docker/dockerfile:1
# The Conclave operator image (conclave/operator), run by the Helm chart's Deployment. Build from
# the repository root:
#   docker build -f operator/docker/operator.Dockerfile -t conclave/operator:0.1.0 .
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY proto/package.json proto/
COPY server/package.json server/
COPY client/package.json client/
COPY operator/package.json operator/
COPY e2e/package.json e2e/
COPY bench/package.json bench/
RUN npm ci --no-audit --no-fund --workspace @conclave/proto --workspace @conclave/operator --include-workspace-root
COPY proto proto
COPY operator operator
RUN npm run gen -w @conclave/proto && npx tsc -b proto operator

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
RUN npm ci --omit=dev --no-audit --no-fund --workspace @conclave/proto --workspace @conclave/operator

FROM gcr.io/distroless/nodejs${NODE_VERSION}-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=deps /src/node_modules node_modules
COPY --from=build /src/proto/package.json proto/
COPY --from=build /src/proto/conclave proto/conclave
COPY --from=build /src/proto/dist proto/dist
COPY --from=build /src/operator/package.json operator/
COPY --from=build /src/operator/dist/src operator/dist/src
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "/app/operator/dist/src/main.js"]
