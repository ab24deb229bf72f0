#!/usr/bin/env bash
# Deploys codegate to Azure Container Apps with the az CLI.
#
#   THIRD_PARTY_API_ENDPOINT=https://<app>.azurewebsites.net/api/RandomNumber \
#   THIRD_PARTY_API_KEY=... ./infra/deploy.sh
#
# Creates (or updates: every step can be re-run) one resource group holding a
# storage account (queues code-requests, its shards and code-requests-poison,
# table codes; Entra ID only, no shared keys), a Key Vault (RBAC) with the secret
# third-party-api-key, a user-assigned managed identity with data-plane roles
# on exactly those two resources, a container registry, Log Analytics, a
# Container Apps environment, and two apps: api (public HTTPS) and worker
# (no ingress, scaled on the queues' backlog). The apps get URLs and the identity's
# client id, never a key or connection string.
#
# Parameters come from the environment; see usage() or --help.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: infra/deploy.sh [--help]

Environment (defaults in brackets):
  LOCATION                   Azure region [westeurope]
  RESOURCE_GROUP             resource group, created if missing [codegate-rg]
  NAME_PREFIX                prefix of resource names, 3-20 of a-z 0-9 - [codegate]
  THIRD_PARTY_API_ENDPOINT   RandomNumber URL (prompted when unset and interactive)
  THIRD_PARTY_API_KEY        its function key; stored in Key Vault. Prompted when
                             unset, interactive and the secret does not exist yet
  IMAGE_TAG                  image tag [<git short commit>-<UTC timestamp>]
  BUILD_WITH                 acr: az acr build (default) | docker: local docker
                             build and push | none: images with IMAGE_TAG exist
  API_MIN_REPLICAS / API_MAX_REPLICAS          [1 / 10]
  WORKER_MIN_REPLICAS / WORKER_MAX_REPLICAS    [1 / 10]
  QUEUE_SHARDS               queues the codes are spread over, 1-64 [1];
                             docs/scale.md gives the number for a rate
  WORKER_BACKLOG_PER_REPLICA visible messages in a shard per worker replica [32];
                             the worker scales on backlog, see below
  TRUST_PROXY                addresses/CIDRs of the ingress proxies whose
                             X-Forwarded-For the api believes
                             [uniquelocal,100.64.0.0/10]
  STORAGE_ACCOUNT, KEY_VAULT, REGISTRY   override the generated global names
  DEPLOYER_OBJECT_ID         object id granted "Key Vault Secrets Officer" to
                             write the secret [the signed-in user or principal]
  DEPLOYER_PRINCIPAL_TYPE    User | ServicePrincipal | Group, with DEPLOYER_OBJECT_ID [User]

Requires az (logged in: az login) with Owner, or Contributor plus
Role Based Access Control Administrator, on the subscription or group.
EOF
}

# Names fixed by the application (packages/shared/src/config.ts defaults).
readonly QUEUE_NAME=code-requests
readonly POISON_QUEUE_NAME=code-requests-poison
readonly TABLE_NAME=codes
readonly SECRET_NAME=third-party-api-key
readonly API_PORT=3000
readonly WORKER_HEALTH_PORT=3001
# Container Apps' ingress reaches the app from private (or shared address
# space) addresses; a client-supplied X-Forwarded-For entry is never believed.
: "${TRUST_PROXY:=uniquelocal,100.64.0.0/10}"
: "${QUEUE_SHARDS:=1}"
: "${WORKER_BACKLOG_PER_REPLICA:=32}"
# ARM API versions used with az rest (Container Apps 2025-01-01 has the
# identity on scale rules, custom ones included; Storage 2023-05-01 has queue/table PUT).
readonly APPS_API_VERSION=2025-01-01
readonly STORAGE_API_VERSION=2023-05-01

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }

# JSON string literal of $1 (the values here are names, ids and URLs).
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# Reads NAME=VALUE lines on stdin; prints a Container Apps env array.
env_json() {
  local line sep=''
  printf '['
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    printf '%s{"name": %s, "value": %s}' "$sep" "$(json_str "${line%%=*}")" "$(json_str "${line#*=}")"
    sep=', '
  done
  printf ']'
}

# Environment of the api container. Names are those of schemas.api in
# packages/shared/src/config.ts (packages/stack/test/compose.test.ts checks).
api_env() {
  printf '%s\n' \
    "LOG_LEVEL=info" \
    "HOST=0.0.0.0" \
    "PORT=${API_PORT}" \
    "TRUST_PROXY=${TRUST_PROXY}" \
    "AZURE_CREDENTIAL=default" \
    "AZURE_CLIENT_ID=${identity_client_id}" \
    "KEY_VAULT_URL=${vault_url}" \
    "THIRD_PARTY_API_SECRET_NAME=${SECRET_NAME}" \
    "THIRD_PARTY_API_ENDPOINT=${THIRD_PARTY_API_ENDPOINT}" \
    "STORAGE_QUEUE_URL=${queue_url}" \
    "STORAGE_TABLE_URL=${table_url}" \
    "QUEUE_SHARDS=${QUEUE_SHARDS}"
}

# Environment of the worker container (schemas.worker).
worker_env() {
  printf '%s\n' \
    "LOG_LEVEL=info" \
    "WORKER_HEALTH_HOST=0.0.0.0" \
    "WORKER_HEALTH_PORT=${WORKER_HEALTH_PORT}" \
    "AZURE_CREDENTIAL=default" \
    "AZURE_CLIENT_ID=${identity_client_id}" \
    "STORAGE_QUEUE_URL=${queue_url}" \
    "STORAGE_TABLE_URL=${table_url}" \
    "QUEUE_SHARDS=${QUEUE_SHARDS}"
}

# The queue shards: the base queue, then <base>-1 ... (packages/shared/src/shards.ts).
shard_names() {
  local i
  printf '%s\n' "$QUEUE_NAME"
  for ((i = 1; i < QUEUE_SHARDS; i++)); do printf '%s\n' "${QUEUE_NAME}-${i}"; done
}

# The worker's scale rules: one per shard, on its visible messages only.
# KEDA's azure-queue scaler (>= 2.15) as a custom rule, read as the app's
# identity; the built-in azureQueue rule counts hidden messages, i.e. every
# live code (docs/scale.md). Not verified on Azure.
worker_scale_rules() {
  local name i=0 rules=''
  while read -r name; do
    rules+="${rules:+, }{\"name\": \"backlog-${i}\", \"custom\": {\"type\": \"azure-queue\", \"metadata\": {\"accountName\": $(json_str "$STORAGE_ACCOUNT"), \"queueName\": \"${name}\", \"queueLength\": \"${WORKER_BACKLOG_PER_REPLICA}\", \"queueLengthStrategy\": \"visibleonly\"}, \"identity\": $(json_str "$identity_id")}}"
    i=$((i + 1))
  done < <(shard_names)
  printf '[%s]' "$rules"
}

# Startup, liveness and readiness probes on one port.
probes_json() {
  local port=$1
  cat <<EOF
[
  {"type": "Startup", "httpGet": {"path": "/healthz", "port": ${port}}, "initialDelaySeconds": 1, "periodSeconds": 2, "timeoutSeconds": 2, "failureThreshold": 10},
  {"type": "Liveness", "httpGet": {"path": "/healthz", "port": ${port}}, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
  {"type": "Readiness", "httpGet": {"path": "/readyz", "port": ${port}}, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3}
]
EOF
}

# ARM body (Microsoft.App/containerApps) of the api or the worker.
app_json() {
  local app=$1 image ingress env probes scale
  case "$app" in
    api)
      image="${registry_server}/codegate/api:${IMAGE_TAG}"
      ingress="\"ingress\": {\"external\": true, \"targetPort\": ${API_PORT}, \"transport\": \"auto\", \"allowInsecure\": false},"
      env=$(api_env | env_json)
      probes=$(probes_json "$API_PORT")
      scale="{\"minReplicas\": ${API_MIN_REPLICAS}, \"maxReplicas\": ${API_MAX_REPLICAS}, \"rules\": [{\"name\": \"http\", \"http\": {\"metadata\": {\"concurrentRequests\": \"50\"}}}]}"
      ;;
    worker)
      image="${registry_server}/codegate/worker:${IMAGE_TAG}"
      ingress=''
      env=$(worker_env | env_json)
      probes=$(probes_json "$WORKER_HEALTH_PORT")
      scale="{\"minReplicas\": ${WORKER_MIN_REPLICAS}, \"maxReplicas\": ${WORKER_MAX_REPLICAS}, \"rules\": $(worker_scale_rules)}"
      ;;
    *) die "unknown app: $app" ;;
  esac
  cat <<EOF
{
  "location": $(json_str "$LOCATION"),
  "tags": {"app": "codegate"},
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {$(json_str "$identity_id"): {}}},
  "properties": {
    "environmentId": $(json_str "$environment_id"),
    "configuration": {
      "activeRevisionsMode": "Single",
      ${ingress}
      "registries": [{"server": $(json_str "$registry_server"), "identity": $(json_str "$identity_id")}]
    },
    "template": {
      "containers": [{
        "name": "${app}",
        "image": $(json_str "$image"),
        "resources": {"cpu": 0.5, "memory": "1Gi"},
        "env": ${env},
        "probes": ${probes}
      }],
      "scale": ${scale}
    }
  }
}
EOF
}

# True when the az command succeeds (used as "does it exist").
exists() { "$@" --only-show-errors >/dev/null 2>&1; }

# Assigns a role unless the principal already has it at exactly that scope.
assign_role() {
  local principal_id=$1 principal_type=$2 role=$3 scope=$4 count
  count=$(az role assignment list --scope "$scope" --role "$role" \
    --query "length([?principalId=='${principal_id}'])" -o tsv --only-show-errors)
  if [[ "$count" == "0" ]]; then
    log "role \"${role}\" for ${principal_type} ${principal_id} on ${scope##*/}"
    # --assignee-object-id with a type skips the Graph lookup, which fails for
    # an identity created seconds ago.
    az role assignment create --assignee-object-id "$principal_id" --assignee-principal-type "$principal_type" \
      --role "$role" --scope "$scope" --only-show-errors >/dev/null
  fi
}

# Polls `$@` (an az command printing one value) until it prints a value
# matching the pattern $1; dies on the pattern $2 or after $4 seconds.
wait_for() {
  local want=$1 bad=$2 what=$3 timeout=$4 value deadline
  shift 4
  deadline=$((SECONDS + timeout))
  while true; do
    value=$("$@" 2>/dev/null || true)
    if [[ "$value" =~ ^(${want})$ ]]; then return 0; fi
    if [[ -n "$bad" && "$value" =~ ^(${bad})$ ]]; then die "${what}: ${value}"; fi
    ((SECONDS < deadline)) || die "${what}: still '${value}' after ${timeout}s"
    sleep 10
  done
}

stable_suffix() {
  # 8 hex digits from subscription and group, so names are unique yet stable.
  printf '%s' "${subscription_id}/${RESOURCE_GROUP}" | cksum | awk '{printf "%08x", $1}'
}

read_parameters() {
  LOCATION="${LOCATION:-westeurope}"
  RESOURCE_GROUP="${RESOURCE_GROUP:-codegate-rg}"
  NAME_PREFIX="${NAME_PREFIX:-codegate}"
  THIRD_PARTY_API_ENDPOINT="${THIRD_PARTY_API_ENDPOINT:-}"
  THIRD_PARTY_API_KEY="${THIRD_PARTY_API_KEY:-}"
  BUILD_WITH="${BUILD_WITH:-acr}"
  API_MIN_REPLICAS="${API_MIN_REPLICAS:-1}"
  API_MAX_REPLICAS="${API_MAX_REPLICAS:-10}"
  WORKER_MIN_REPLICAS="${WORKER_MIN_REPLICAS:-1}"
  WORKER_MAX_REPLICAS="${WORKER_MAX_REPLICAS:-10}"
  # The rule on hidden messages this replaced scaled on codes/s x 600, not backlog.
  [[ -z "${WORKER_QUEUE_LENGTH:-}" ]] ||
    die "WORKER_QUEUE_LENGTH is no longer used: the worker scales on each shard's visible backlog (WORKER_BACKLOG_PER_REPLICA); size WORKER_MIN_REPLICAS for the steady load (docs/scale.md)"
  if [[ -z "${IMAGE_TAG:-}" ]]; then
    [[ "$BUILD_WITH" != none ]] || die "BUILD_WITH=none needs IMAGE_TAG (the tag of images already in the registry)"
    # Unique per run: an unchanged image reference would not start a new revision.
    IMAGE_TAG="$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || printf 'build')-$(date -u +%Y%m%d%H%M%S)"
  fi

  [[ "$NAME_PREFIX" =~ ^[a-z][a-z0-9-]{1,18}[a-z0-9]$ && "$NAME_PREFIX" != *--* ]] ||
    die "NAME_PREFIX must be 3-20 of a-z, 0-9 and single -, starting with a letter"
  [[ "$IMAGE_TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "IMAGE_TAG is not a valid image tag: ${IMAGE_TAG}"
  [[ "$BUILD_WITH" =~ ^(acr|docker|none)$ ]] || die "BUILD_WITH must be acr, docker or none"
  local n
  for n in API_MIN_REPLICAS API_MAX_REPLICAS WORKER_MIN_REPLICAS WORKER_MAX_REPLICAS WORKER_BACKLOG_PER_REPLICA QUEUE_SHARDS; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || die "${n} must be a whole number"
  done
  (( QUEUE_SHARDS >= 1 && QUEUE_SHARDS <= 64 )) || die "QUEUE_SHARDS must be 1 to 64"
  (( WORKER_BACKLOG_PER_REPLICA >= 1 )) || die "WORKER_BACKLOG_PER_REPLICA must be at least 1"

  if [[ -z "$THIRD_PARTY_API_ENDPOINT" && -t 0 ]]; then
    read -r -p "Third-party RandomNumber URL (THIRD_PARTY_API_ENDPOINT): " THIRD_PARTY_API_ENDPOINT
  fi
  [[ "$THIRD_PARTY_API_ENDPOINT" =~ ^https?://[^[:space:]\"\\]+$ ]] || die "THIRD_PARTY_API_ENDPOINT must be an http(s) URL"
  [[ "$THIRD_PARTY_API_ENDPOINT" == https://* ]] || log "warning: THIRD_PARTY_API_ENDPOINT is not https; the function key travels in clear"
}

derive_names() {
  local suffix prefix_alnum prefix_vault
  suffix=$(stable_suffix)
  prefix_alnum=${NAME_PREFIX//-/}
  prefix_vault=${NAME_PREFIX:0:12}
  prefix_vault=${prefix_vault%%-}
  # Global names: storage 3-24 a-z0-9, vault 3-24 a-z0-9-, registry 5-50 a-z0-9.
  STORAGE_ACCOUNT="${STORAGE_ACCOUNT:-${prefix_alnum:0:14}${suffix}}"
  KEY_VAULT="${KEY_VAULT:-${prefix_vault}-kv-${suffix}}"
  REGISTRY="${REGISTRY:-${prefix_alnum:0:14}cr${suffix}}"
  IDENTITY_NAME="${NAME_PREFIX}-identity"
  WORKSPACE_NAME="${NAME_PREFIX}-logs"
  ENVIRONMENT_NAME="${NAME_PREFIX}-env"
}

preflight() {
  command -v az >/dev/null || die "the Azure CLI (az) is required: https://learn.microsoft.com/cli/azure/install-azure-cli"
  subscription_id=$(az account show --query id -o tsv 2>/dev/null) || die "not logged in: run az login (and az account set --subscription ...)"
  if [[ "$BUILD_WITH" == docker ]]; then command -v docker >/dev/null || die "BUILD_WITH=docker needs docker"; fi
  if [[ -z "${DEPLOYER_OBJECT_ID:-}" ]]; then
    if [[ "$(az account show --query user.type -o tsv)" == servicePrincipal ]]; then
      DEPLOYER_OBJECT_ID=$(az ad sp show --id "$(az account show --query user.name -o tsv)" --query id -o tsv)
      deployer_type=ServicePrincipal
    else
      DEPLOYER_OBJECT_ID=$(az ad signed-in-user show --query id -o tsv)
      deployer_type=User
    fi
  else
    deployer_type="${DEPLOYER_PRINCIPAL_TYPE:-User}"
  fi
}

register_providers() {
  local ns
  for ns in Microsoft.App Microsoft.OperationalInsights Microsoft.ContainerRegistry Microsoft.KeyVault Microsoft.Storage Microsoft.ManagedIdentity; do
    if [[ "$(az provider show --namespace "$ns" --query registrationState -o tsv 2>/dev/null)" != Registered ]]; then
      log "registering resource provider ${ns}"
      az provider register --namespace "$ns" --wait --only-show-errors
    fi
  done
}

create_group() {
  log "resource group ${RESOURCE_GROUP} in ${LOCATION}"
  az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --tags app=codegate --only-show-errors >/dev/null
}

create_storage() {
  log "storage account ${STORAGE_ACCOUNT} (Entra ID only, TLS 1.2, HTTPS only)"
  az storage account create --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
    --sku Standard_LRS --kind StorageV2 --min-tls-version TLS1_2 --https-only true \
    --allow-shared-key-access false --allow-blob-public-access false --only-show-errors >/dev/null
  storage_id=$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  local endpoint
  endpoint=$(az storage account show --ids "$storage_id" --query primaryEndpoints.queue -o tsv)
  queue_url="${endpoint%/}/${QUEUE_NAME}"
  endpoint=$(az storage account show --ids "$storage_id" --query primaryEndpoints.table -o tsv)
  table_url="${endpoint%/}"
  # Through Resource Manager: data-plane creation would need shared keys or a
  # data role for the deployer.
  local queue
  for queue in $(shard_names) "$POISON_QUEUE_NAME"; do
    log "queue ${queue}"
    az rest --method put --only-show-errors --output none \
      --url "${storage_id}/queueServices/default/queues/${queue}?api-version=${STORAGE_API_VERSION}" --body '{"properties": {}}'
  done
  log "table ${TABLE_NAME}"
  az rest --method put --only-show-errors --output none \
    --url "${storage_id}/tableServices/default/tables/${TABLE_NAME}?api-version=${STORAGE_API_VERSION}" --body '{"properties": {}}'
}

create_vault() {
  if exists az keyvault show --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP"; then
    log "key vault ${KEY_VAULT} exists"
  elif exists az keyvault show-deleted --name "$KEY_VAULT"; then
    log "recovering soft-deleted key vault ${KEY_VAULT}"
    az keyvault recover --name "$KEY_VAULT" --only-show-errors >/dev/null
  else
    log "key vault ${KEY_VAULT} (RBAC authorization)"
    az keyvault create --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
      --enable-rbac-authorization true --retention-days 7 --only-show-errors >/dev/null
  fi
  vault_id=$(az keyvault show --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  vault_url=$(az keyvault show --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP" --query properties.vaultUri -o tsv)
  vault_url=${vault_url%/}
}

store_secret() {
  # Writing the secret is a data-plane operation: the deployer needs a role.
  assign_role "$DEPLOYER_OBJECT_ID" "$deployer_type" "Key Vault Secrets Officer" "$vault_id"
  if [[ -z "$THIRD_PARTY_API_KEY" ]]; then
    if wait_for_secret_access && exists az keyvault secret show --vault-name "$KEY_VAULT" --name "$SECRET_NAME"; then
      log "secret ${SECRET_NAME} exists; kept (set THIRD_PARTY_API_KEY to replace it)"
      return
    fi
    [[ -t 0 ]] || die "THIRD_PARTY_API_KEY is required: the secret ${SECRET_NAME} does not exist yet"
    read -r -s -p "Third-party API key (THIRD_PARTY_API_KEY, not echoed): " THIRD_PARTY_API_KEY
    printf '\n' >&2
    [[ -n "$THIRD_PARTY_API_KEY" ]] || die "THIRD_PARTY_API_KEY is empty"
  fi
  log "secret ${SECRET_NAME}"
  local deadline=$((SECONDS + 300))
  # The value goes through stdin, not argv, so other local users cannot read
  # it from the process list. Retried: new role assignments take a while.
  until printf '%s' "$THIRD_PARTY_API_KEY" | az keyvault secret set --vault-name "$KEY_VAULT" --name "$SECRET_NAME" \
      --file /dev/stdin --encoding utf-8 --only-show-errors --output none 2>/dev/null; do
    ((SECONDS < deadline)) || die "could not write secret ${SECRET_NAME} (is the Key Vault Secrets Officer role assigned?)"
    log "waiting for the Key Vault role assignment to take effect"
    sleep 15
  done
}

# Waits until the deployer can list secrets (role propagation); false on timeout.
wait_for_secret_access() {
  local deadline=$((SECONDS + 300))
  until exists az keyvault secret list --vault-name "$KEY_VAULT" --maxresults 1; do
    ((SECONDS < deadline)) || return 1
    log "waiting for the Key Vault role assignment to take effect"
    sleep 15
  done
}

create_identity() {
  log "managed identity ${IDENTITY_NAME}"
  az identity create --name "$IDENTITY_NAME" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" --only-show-errors >/dev/null
  identity_id=$(az identity show --name "$IDENTITY_NAME" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  identity_client_id=$(az identity show --ids "$identity_id" --query clientId -o tsv)
  identity_principal_id=$(az identity show --ids "$identity_id" --query principalId -o tsv)
}

create_registry() {
  if ! exists az acr show --name "$REGISTRY" --resource-group "$RESOURCE_GROUP"; then
    log "container registry ${REGISTRY}"
    az acr create --name "$REGISTRY" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
      --sku Basic --admin-enabled false --only-show-errors >/dev/null
  fi
  registry_id=$(az acr show --name "$REGISTRY" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  registry_server=$(az acr show --name "$REGISTRY" --resource-group "$RESOURCE_GROUP" --query loginServer -o tsv)
}

grant_identity() {
  # Least privilege: data roles on the one account and the one vault, pull on the registry.
  assign_role "$identity_principal_id" ServicePrincipal "Storage Queue Data Contributor" "$storage_id"
  assign_role "$identity_principal_id" ServicePrincipal "Storage Table Data Contributor" "$storage_id"
  assign_role "$identity_principal_id" ServicePrincipal "Key Vault Secrets User" "$vault_id"
  assign_role "$identity_principal_id" ServicePrincipal "AcrPull" "$registry_id"
}

build_images() {
  local svc
  case "$BUILD_WITH" in
    acr)
      for svc in api worker; do
        log "building codegate/${svc}:${IMAGE_TAG} in ${REGISTRY} (az acr build --target ${svc})"
        # From the repository root: the context, its .dockerignore and the Dockerfile.
        (cd "$repo_root" && az acr build --registry "$REGISTRY" --image "codegate/${svc}:${IMAGE_TAG}" --target "$svc" \
          --file Dockerfile --platform linux/amd64 --only-show-errors .)
      done
      ;;
    docker)
      az acr login --name "$REGISTRY" --only-show-errors
      for svc in api worker; do
        log "building ${registry_server}/codegate/${svc}:${IMAGE_TAG} with docker"
        docker build --platform linux/amd64 --target "$svc" -t "${registry_server}/codegate/${svc}:${IMAGE_TAG}" "$repo_root"
        docker push "${registry_server}/codegate/${svc}:${IMAGE_TAG}"
      done
      ;;
    none) log "not building: using existing images tagged ${IMAGE_TAG}" ;;
  esac
}

create_environment() {
  local customer_id shared_key
  log "log analytics workspace ${WORKSPACE_NAME}"
  az monitor log-analytics workspace create --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" \
    --location "$LOCATION" --retention-time 30 --only-show-errors >/dev/null
  if ! exists az containerapp env show --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP"; then
    log "container apps environment ${ENVIRONMENT_NAME}"
    customer_id=$(az monitor log-analytics workspace show --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" --query customerId -o tsv)
    shared_key=$(az monitor log-analytics workspace get-shared-keys --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" --query primarySharedKey -o tsv)
    az containerapp env create --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
      --logs-destination log-analytics --logs-workspace-id "$customer_id" --logs-workspace-key "$shared_key" \
      --only-show-errors >/dev/null
  fi
  environment_id=$(az containerapp env show --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
}

deploy_app() {
  local app=$1 min_replicas=$2 app_id healthy=Healthy
  app_id="/subscriptions/${subscription_id}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.App/containerApps/${app}"
  log "container app ${app} (image codegate/${app}:${IMAGE_TAG})"
  # A PUT of the whole resource: create or update, nothing left from earlier runs.
  az rest --method put --url "${app_id}?api-version=${APPS_API_VERSION}" --body "$(app_json "$app")" \
    --only-show-errors --output none
  wait_for Succeeded 'Failed|Canceled' "container app ${app} provisioning" 900 \
    az rest --method get --url "${app_id}?api-version=${APPS_API_VERSION}" --query properties.provisioningState -o tsv
  local revision
  revision=$(az rest --method get --url "${app_id}?api-version=${APPS_API_VERSION}" --query properties.latestRevisionName -o tsv)
  # Scaled to zero, a revision has no replica to be healthy.
  if [[ "$min_replicas" == 0 ]]; then healthy='Healthy|None'; fi
  log "waiting for revision ${revision} to be healthy (probes pass)"
  wait_for "$healthy" '' "revision ${revision} health (az containerapp logs show -n ${app} -g ${RESOURCE_GROUP})" 600 \
    az rest --method get --url "${app_id}/revisions/${revision}?api-version=${APPS_API_VERSION}" --query properties.healthState -o tsv
}

main() {
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then usage; exit 0; fi
  [[ $# -eq 0 ]] || { usage >&2; exit 2; }
  read_parameters
  preflight
  derive_names
  register_providers
  create_group
  create_storage
  create_vault
  create_identity
  create_registry
  # Role assignments before the image builds: they propagate while images build.
  grant_identity
  store_secret
  build_images
  create_environment
  deploy_app api "$API_MIN_REPLICAS"
  deploy_app worker "$WORKER_MIN_REPLICAS"

  local fqdn
  fqdn=$(az rest --method get --query properties.configuration.ingress.fqdn -o tsv \
    --url "/subscriptions/${subscription_id}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.App/containerApps/api?api-version=${APPS_API_VERSION}")
  cat <<EOF

codegate is deployed.
  api:     https://${fqdn}   (docs at /docs, probes /healthz and /readyz)
  try:     curl https://${fqdn}/api/v1/getcode
  logs:    az containerapp logs show -n worker -g ${RESOURCE_GROUP} --follow
  remove:  RESOURCE_GROUP=${RESOURCE_GROUP} ./infra/teardown.sh
EOF
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Sourcing defines the functions only (the test renders app_json that way).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
