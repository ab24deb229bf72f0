# One image per service, all from this file:
#   docker build --target api .        (also: worker, number-api, dev-vault)
#   az acr build --target api ...      (infra/deploy.sh)
# The build stage compiles the whole workspace once; each service stage gets
# that service's production dependencies and the dist/ it needs, nothing else.
# Classic-builder syntax only (no RUN --mount), so `az acr build` builds it too.

# The one base image of every stage; Node 24 is the active LTS (22 works too:
# --build-arg NODE_IMAGE=node:22-bookworm-slim). For a real deployment pin it
# by digest, e.g. NODE_IMAGE=node:24-bookworm-slim@sha256:<digest> (the digest
# `docker buildx imagetools inspect node:24-bookworm-slim` prints), so a
# rebuild gets the same Node and Debian until you move the pin on purpose.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---------------------------------------------------------------------------
# The manifests npm ci reads: the lockfile and every workspace's package.json
# (npm ci checks every workspace against the lockfile, so all are needed).
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/stack/package.json packages/stack/
COPY packages/shared-integration/package.json packages/shared-integration/
COPY services/api/package.json services/api/
COPY services/worker/package.json services/worker/
COPY services/number-api/package.json services/number-api/
COPY services/dev-vault/package.json services/dev-vault/
COPY services/functions/package.json services/functions/
COPY bench/package.json bench/
COPY soak/package.json soak/

# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
# Manifests first, so the install layer is reused until dependencies change.
COPY --from=manifests /app ./
COPY tsconfig.json tsconfig.base.json ./
# No dependency has an install script; refusing them keeps the build hermetic.
RUN npm ci --ignore-scripts
COPY packages packages
COPY services services
# The services and what they import; bench/ and soak/ are not shipped.
RUN npx tsc -b services/api services/worker services/number-api services/dev-vault

# ---------------------------------------------------------------------------
# Shared base of the service stages: manifests only, no tooling, no sources.
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY --from=manifests /app ./

# ---------------------------------------------------------------------------
FROM runtime AS api
# --workspace installs this service's production tree only (with the
# @codegate/shared link); the root's devDependencies stay out.
RUN npm ci --omit=dev --ignore-scripts --workspace services/api --include-workspace-root=false \
 && npm cache clean --force
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/services/api/dist services/api/dist
# Reachable from outside the container; Container Apps ingress targets 3000.
ENV HOST=0.0.0.0 PORT=3000
# Heap limits: packages/stack/src/service-process.ts SERVICE_NODE_FLAGS says why.
ENV NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=16"
USER node
EXPOSE 3000
# Slim images have no curl: probe with node itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "services/api/dist/main.js"]

# ---------------------------------------------------------------------------
FROM runtime AS worker
RUN npm ci --omit=dev --ignore-scripts --workspace services/worker --include-workspace-root=false \
 && npm cache clean --force
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/services/worker/dist services/worker/dist
# The probe endpoint must answer the platform's probes, not only loopback.
ENV WORKER_HEALTH_HOST=0.0.0.0 WORKER_HEALTH_PORT=3001
ENV NODE_OPTIONS="--max-old-space-size=96 --max-semi-space-size=4"
USER node
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.WORKER_HEALTH_PORT||3001)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "services/worker/dist/main.js"]

# ---------------------------------------------------------------------------
FROM runtime AS number-api
RUN npm ci --omit=dev --ignore-scripts --workspace services/number-api --include-workspace-root=false \
 && npm cache clean --force
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/services/number-api/dist services/number-api/dist
ENV HOST=0.0.0.0 PORT=7071
USER node
EXPOSE 7071
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||7071)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "services/number-api/dist/main.js"]

# ---------------------------------------------------------------------------
# Local development only: Azure deployments use Azure Key Vault.
FROM runtime AS dev-vault
RUN npm ci --omit=dev --ignore-scripts --workspace services/dev-vault --include-workspace-root=false \
 && npm cache clean --force
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/services/dev-vault/dist services/dev-vault/dist
# The certificate directory is a named volume in docker-compose.yml; Docker
# seeds an empty volume with this directory's owner, so node can write there.
RUN mkdir -p /var/lib/dev-vault && chown node:node /var/lib/dev-vault && chmod 0700 /var/lib/dev-vault
ENV HOST=0.0.0.0 PORT=8443 DEV_VAULT_CERT_DIR=/var/lib/dev-vault
USER node
EXPOSE 8443
# The certificate is self-signed: the probe (only the probe) skips verification.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "require('node:https').get({host:'127.0.0.1',port:process.env.PORT||8443,path:'/healthz',rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
CMD ["node", "services/dev-vault/dist/main.js"]
