# One image for every role: `haproxy-peer-sync webhook | syncer | init`.
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build stage.
FROM node:24.21.0-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY common ./common
COPY certs ./certs
COPY init ./init
COPY syncer ./syncer
COPY webhook ./webhook
RUN ln -s /app/bin/haproxy-peer-sync.ts /usr/local/bin/haproxy-peer-sync \
 && find /app -name '*.test.ts' -delete
# Non-root by default; the webhook's injected containers also set runAsNonRoot and a read-only root.
USER 65532:65532
ENTRYPOINT ["haproxy-peer-sync"]
