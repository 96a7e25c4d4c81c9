# One image for every role: `haproxy-peer-sync webhook | syncer | init`.
# The image runs compiled JavaScript (tsconfig.build.json): type stripping at start-up would cost every
# injected sidecar ~18 MB of resident memory.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY bin ./bin
COPY common ./common
COPY certs ./certs
COPY init ./init
COPY syncer ./syncer
COPY webhook ./webhook
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:24.21.0-bookworm-slim
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./
RUN ln -s /app/bin/haproxy-peer-sync.js /usr/local/bin/haproxy-peer-sync && chmod 0755 /app/bin/haproxy-peer-sync.js
# Non-root by default; the webhook's injected containers also set runAsNonRoot and a read-only root.
USER 65532:65532
ENTRYPOINT ["haproxy-peer-sync"]
