# One image for every role: `haproxy-peer-sync webhook | syncer | init | cli | status`.
# The image runs compiled JavaScript (tsconfig.build.json): type stripping at start-up would cost every
# injected sidecar ~18 MB of resident memory.
FROM node:24.21.0-bookworm-slim AS build
# Optional, and seen by this build stage only: extra CAs for `npm ci` behind a TLS-intercepting proxy. The
# bundle is mounted for the build, never copied, e.g. `buildah bud --volume <bundle>:/run/build-ca.pem:ro
# --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.pem` (scripts/build-images.sh does so with the host's).
ARG NODE_EXTRA_CA_CERTS
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY bin ./bin
COPY common ./common
COPY certs ./certs
COPY init ./init
COPY syncer ./syncer
COPY webhook ./webhook
COPY cli ./cli
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:24.21.0-bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="haproxy-peer-sync" \
      org.opencontainers.image.description="Kubernetes mutating webhook and HAProxy peers syncer sidecar" \
      org.opencontainers.image.source="https://github.com/haproxy-peer-sync/haproxy-peer-sync" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./
RUN ln -s /app/bin/haproxy-peer-sync.js /usr/local/bin/haproxy-peer-sync && chmod 0755 /app/bin/haproxy-peer-sync.js
# Non-root by default; the webhook's injected containers also set runAsNonRoot and a read-only root.
USER 65532:65532
ENTRYPOINT ["haproxy-peer-sync"]
