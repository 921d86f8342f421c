# One image for the gateway and every subgraph; the command picks which (see deploy/docker/entrypoint.sh):
#   docker build -t shop-federation .
#   docker run --rm -p 4000:4000 --env-file deploy/compose/.env shop-federation gateway
# test/deploy/image.test.ts copies exactly what the final stage's COPY lines copy and runs every command from it,
# so a file missing here fails `npm test`.
ARG NODE_IMAGE=node:20-bookworm-slim

# A compiler for better-sqlite3 when no prebuilt binary can be downloaded (as on this project's build machines).
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci needs every workspace's manifest (and the bin files it links) to match the lock file.
COPY packages/federation-schema/package.json packages/federation-schema/bin.js ./packages/federation-schema/
COPY packages/federation-gateway/package.json packages/federation-gateway/bin.js ./packages/federation-gateway/

FROM toolchain AS build
RUN npm ci --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY gateway gateway
COPY subgraphs subgraphs
COPY scripts scripts
COPY tools tools
COPY bench bench
RUN npm run build

FROM toolchain AS production-dependencies
RUN npm ci --omit=dev --no-fund --no-audit \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/var/lib/shop
# The embedded SQLite's files, when a subgraph runs without a *_DATABASE_URL (mount a volume here to keep them).
RUN mkdir -p /var/lib/shop && chown 1000:1000 /var/lib/shop
WORKDIR /app
# Owned by root and read-only to the service's user: a compromised process cannot rewrite its own code.
COPY package.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY schema/supergraph.graphql schema/users.graphql schema/orders.graphql schema/inventory.graphql schema/trusted-documents.json ./schema/
COPY deploy/docker/entrypoint.sh ./deploy/docker/entrypoint.sh
# Numeric, so that Kubernetes' runAsNonRoot can verify it; uid 1000 is the base image's `node` user.
USER 1000:1000
EXPOSE 4000
# No curl in a slim image: node asks the service's own /healthz (every role listens on $PORT in the container).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz', { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["gateway"]
