#!/usr/bin/env bash
# Deploys codegate to Azure Container Apps with the az CLI.
#
#   THIRD_PARTY_API_ENDPOINT=https://<app>.azurewebsites.net/api/RandomNumber \
#   THIRD_PARTY_API_KEY=... ./infra/deploy.sh
#
# Creates (or updates: every step can be re-run) one resource group holding a
# storage account (queues code-requests, its shards and code-requests-poison,
# tables codes and signinlimits; Entra ID only, no shared keys), a Key Vault
# (RBAC) with the secrets third-party-api-key and code-hash-key (the key
# codes are stored under, HMAC-SHA256: 32 random bytes made here once), one
# user-assigned managed identity per app with data-plane roles scoped to the
# queues, tables and secrets that app uses, a container registry, Log Analytics (with a daily
# cap), Application Insights on that workspace, a Container Apps environment,
# and two apps: api (public HTTPS) and worker (no ingress, scaled on the
# queues' backlog). The apps get URLs and their identity's client id, never a
# key or storage connection string; Application Insights' connection string
# reaches them as a Container Apps secret, so their traces go there.
#
# Parameters come from the environment; see usage() or --help.
set -euo pipefail

# The prefix of this script's errors (lib.sh's die).
readonly SCRIPT_NAME=deploy
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: infra/deploy.sh [--help]

Environment (defaults in brackets):
  LOCATION                   Azure region [the existing group's region, else westeurope]
EOF
  usage_shared_inputs
  cat <<'EOF'
  IMAGE_TAG                  image tag [<git short commit>-<UTC timestamp>]
  BUILD_WITH                 acr: az acr build (default) | docker: local docker
                             build and push (free-trial subscriptions refuse ACR
                             Tasks) | none: images with IMAGE_TAG exist
  REVISION_SUFFIX            suffix of the new revisions [r<UTC timestamp>]
  API_MIN_REPLICAS / API_MAX_REPLICAS          [1 / 10]
  WORKER_MIN_REPLICAS / WORKER_MAX_REPLICAS    [1 / 10]
  API_CPU / API_MEMORY, WORKER_CPU / WORKER_MEMORY   per replica [0.25 / 0.5Gi]
  QUEUE_SHARDS               queues the codes are spread over, 1-64 [1];
                             docs/scale.md gives the number for a rate
  WORKER_BACKLOG_PER_REPLICA visible messages in a shard per worker replica [32];
                             the worker scales on backlog (README, "Scaling")
  LIMITS_TABLE_NAME          table of the api's sign-in limits [signinlimits]
  LOG_DAILY_CAP_GB           Log Analytics daily ingestion cap, GB [3]; -1: none
                             (it caps Application Insights' traces too: same workspace)
  APP_INSIGHTS               true: an Application Insights component on the Log
                             Analytics workspace (created once, then reused), whose
                             connection string api and worker get as a secret, so
                             they send their spans there | false: no tracing [true]
  TRACE_SAMPLE_RATIO         share of traces kept, 0 to 1 [0.05]: a code makes about
                             25 spans, 20 KB in the workspace (README, "Cost")
  LOG_RETENTION_DAYS         Log Analytics retention [30]
  TRUST_PROXY                addresses/CIDRs of the ingress proxies whose
                             X-Forwarded-For the api believes
                             [uniquelocal,100.64.0.0/10]
  STORAGE_ACCOUNT, KEY_VAULT, REGISTRY   override the generated global names
  DEPLOYER_OBJECT_ID         object id granted "Key Vault Secrets Officer" while
                             it writes the secret [the signed-in user or principal,
                             from its access token]
  DEPLOYER_PRINCIPAL_TYPE    User | ServicePrincipal | Group [from the login]
  ROLE_WAIT_SECONDS          how long to wait for a new role assignment to take
                             effect [900]
  REVISION_WAIT_SECONDS      how long to wait for a revision to be healthy [600]
  CRASH_RESTARTS             container restarts that mean a crash loop [3]
  POLL_SECONDS               pause between two polls of a wait [10]

Requires az (logged in: az login) with Owner, or Contributor plus
Role Based Access Control Administrator, on the subscription or group.
No Microsoft Graph (directory) rights are needed.
EOF
}

# Ports fixed by the application (services/api and services/worker src/config.ts defaults);
# the other names both hostings share are in lib.sh.
readonly API_PORT=3000
readonly WORKER_HEALTH_PORT=3001
# Container Apps' ingress reaches the app from private (or shared address
# space) addresses; a client-supplied X-Forwarded-For entry is never believed.
: "${TRUST_PROXY:=uniquelocal,100.64.0.0/10}"
: "${QUEUE_SHARDS:=1}"
: "${WORKER_BACKLOG_PER_REPLICA:=32}"
# ARM API versions used with az rest (Container Apps 2025-01-01 has the
# identity on scale rules, custom ones included; Storage's is in lib.sh).
readonly APPS_API_VERSION=2025-01-01
readonly KEYVAULT_API_VERSION=2023-07-01
# Microsoft.Insights/components 2020-02-02: workspace-based components (WorkspaceResourceId).
readonly INSIGHTS_API_VERSION=2020-02-02
# The Container Apps secret holding Application Insights' connection string.
readonly INSIGHTS_SECRET_NAME=appinsights-connection-string


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

# Environment of the api container. Names are those of the schema in
# services/api/src/config.ts (packages/stack/test/compose.test.ts checks).
# LOG_REQUESTS=false: one line per code event (issued, signed in, refused),
# not Fastify's two per request; probe requests are never logged.
api_env() {
  printf '%s\n' \
    "LOG_LEVEL=info" \
    "LOG_REQUESTS=false" \
    "HOST=0.0.0.0" \
    "PORT=${API_PORT}" \
    "TRUST_PROXY=${TRUST_PROXY}" \
    "AZURE_CREDENTIAL=default" \
    "AZURE_CLIENT_ID=${api_identity_client_id}" \
    "KEY_VAULT_URL=${vault_url}" \
    "THIRD_PARTY_API_SECRET_NAME=${SECRET_NAME}" \
    "CODE_HASH_SECRET_NAME=${CODE_HASH_SECRET_NAME}" \
    "THIRD_PARTY_API_ENDPOINT=${THIRD_PARTY_API_ENDPOINT}" \
    "STORAGE_QUEUE_URL=${queue_url}" \
    "STORAGE_TABLE_URL=${table_url}" \
    "SIGNIN_LIMITS_TABLE_NAME=${LIMITS_TABLE_NAME}" \
    "QUEUE_SHARDS=${QUEUE_SHARDS}" \
    "TRACES_SAMPLE_RATIO=${TRACE_SAMPLE_RATIO:-0.05}"
  caller_auth_settings
}

# Environment of the worker container (schemas.worker). At info it writes one
# line per code event (activated, expired) and a summary every 30 s.
worker_env() {
  printf '%s\n' \
    "LOG_LEVEL=info" \
    "WORKER_HEALTH_HOST=0.0.0.0" \
    "WORKER_HEALTH_PORT=${WORKER_HEALTH_PORT}" \
    "AZURE_CREDENTIAL=default" \
    "AZURE_CLIENT_ID=${worker_identity_client_id}" \
    "KEY_VAULT_URL=${vault_url}" \
    "CODE_HASH_SECRET_NAME=${CODE_HASH_SECRET_NAME}" \
    "STORAGE_QUEUE_URL=${queue_url}" \
    "STORAGE_TABLE_URL=${table_url}" \
    "QUEUE_SHARDS=${QUEUE_SHARDS}" \
    "TRACES_SAMPLE_RATIO=${TRACE_SAMPLE_RATIO:-0.05}"
}

# Appends to the env array $1 the variable that names Application Insights'
# connection string by its secret (secretRef): the value is in no plain setting.
with_insights_env() {
  local env=$1 entry
  if [[ -z "${insights_connection_string:-}" ]]; then printf '%s' "$env"; return; fi
  entry="{\"name\": \"APPLICATIONINSIGHTS_CONNECTION_STRING\", \"secretRef\": \"${INSIGHTS_SECRET_NAME}\"}"
  if [[ "$env" == '[]' ]]; then printf '[%s]' "$entry"; else printf '%s, %s]' "${env%]}" "$entry"; fi
}

# The app's secrets (configuration.secrets): Application Insights' connection string, if any.
secrets_json() {
  [[ -n "${insights_connection_string:-}" ]] || return 0
  printf '"secrets": [{"name": "%s", "value": %s}],' "$INSIGHTS_SECRET_NAME" "$(json_str "$insights_connection_string")"
}

# The queue shards: the base queue, then <base>-1 ... (packages/shared/src/shards.ts).

# The worker's scale rules: one per shard, on its visible messages only.
# KEDA's azure-queue scaler (>= 2.15) as a custom rule, read as the app's
# identity; the built-in azureQueue rule counts hidden messages, i.e. every
# live code (docs/scale.md). Not verified on Azure.
worker_scale_rules() {
  local name i=0 rules=''
  while read -r name; do
    rules+="${rules:+, }{\"name\": \"backlog-${i}\", \"custom\": {\"type\": \"azure-queue\", \"metadata\": {\"accountName\": $(json_str "$STORAGE_ACCOUNT"), \"queueName\": \"${name}\", \"queueLength\": \"${WORKER_BACKLOG_PER_REPLICA}\", \"queueLengthStrategy\": \"visibleonly\"}, \"identity\": $(json_str "$worker_identity_id")}}"
    i=$((i + 1))
  done < <(shard_names)
  printf '[%s]' "$rules"
}

# Startup, liveness and readiness probes on one port. The startup window is
# 5 + 10 x 5 = 55 s: the api listens only after its storage check (2 tries x
# STORAGE_TIMEOUT_MS 5 s + back-off 0.5 s) and its vault wait (3 s), and its
# modules take 1.5 s of CPU to load, 6 s on a quarter of a vCPU: 20 s at
# worst, so the window is almost three times that (README, "Sizes and probes").
probes_json() {
  local port=$1
  cat <<EOF
[
  {"type": "Startup", "httpGet": {"path": "/healthz", "port": ${port}}, "initialDelaySeconds": 5, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 10},
  {"type": "Liveness", "httpGet": {"path": "/healthz", "port": ${port}}, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
  {"type": "Readiness", "httpGet": {"path": "/readyz", "port": ${port}}, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3}
]
EOF
}

# ARM body (Microsoft.App/containerApps) of the api or the worker.
app_json() {
  local app=$1 image ingress='' env probes scale identity cpu memory port
  case "$app" in
    api)
      identity=$api_identity_id cpu=$API_CPU memory=$API_MEMORY port=$API_PORT
      ingress="\"ingress\": {\"external\": true, \"targetPort\": ${API_PORT}, \"transport\": \"auto\", \"allowInsecure\": false},"
      scale="{\"minReplicas\": ${API_MIN_REPLICAS}, \"maxReplicas\": ${API_MAX_REPLICAS}, \"rules\": [{\"name\": \"http\", \"http\": {\"metadata\": {\"concurrentRequests\": \"50\"}}}]}"
      ;;
    worker)
      identity=$worker_identity_id cpu=$WORKER_CPU memory=$WORKER_MEMORY port=$WORKER_HEALTH_PORT
      scale="{\"minReplicas\": ${WORKER_MIN_REPLICAS}, \"maxReplicas\": ${WORKER_MAX_REPLICAS}, \"rules\": $(worker_scale_rules)}"
      ;;
    *) die "unknown app: $app" ;;
  esac
  image="${registry_server}/codegate/${app}:${IMAGE_TAG}"
  env=$(with_insights_env "$("${app}_env" | env_json)")
  probes=$(probes_json "$port")
  cat <<EOF
{
  "location": $(json_str "$LOCATION"),
  "tags": {"app": "codegate"},
  "identity": {"type": "UserAssigned", "userAssignedIdentities": {$(json_str "$identity"): {}}},
  "properties": {
    "environmentId": $(json_str "$environment_id"),
    "configuration": {
      "activeRevisionsMode": "Single",
      ${ingress}
      $(secrets_json)
      "registries": [{"server": $(json_str "$registry_server"), "identity": $(json_str "$identity")}]
    },
    "template": {
      "revisionSuffix": $(json_str "$REVISION_SUFFIX"),
      "containers": [{
        "name": "${app}",
        "image": $(json_str "$image"),
        "resources": {"cpu": ${cpu}, "memory": $(json_str "$memory")},
        "env": ${env},
        "probes": ${probes}
      }],
      "scale": ${scale}
    }
  }
}
EOF
}

# Assigns a role unless the principal already has it at exactly that scope.
# Prints the id of an assignment it created, nothing otherwise.
assign_role() {
  local principal_id=$1 principal_type=$2 role=$3 scope=$4 count
  count=$(az role assignment list --scope "$scope" --role "$role" \
    --query "length([?principalId=='${principal_id}'])" -o tsv --only-show-errors)
  if [[ "$count" == "0" ]]; then
    log "role \"${role}\" for ${principal_type} ${principal_id} on ${scope#*/providers/}"
    # --assignee-object-id with a type skips the Graph lookup, which fails for
    # an identity created seconds ago and for a deployer without Graph rights.
    az role assignment create --assignee-object-id "$principal_id" --assignee-principal-type "$principal_type" \
      --role "$role" --scope "$scope" --query id -o tsv --only-show-errors
  fi
}

# Polls `$@` (an az command printing one value) every POLL_SECONDS until it
# prints a value matching the pattern $1; dies on the pattern $2, or after
# $4 seconds with the last value and error.
wait_for() {
  local want=$1 bad=$2 what=$3 timeout=$4 value deadline
  shift 4
  deadline=$((SECONDS + timeout))
  while true; do
    value=$("$@" 2>"${work_dir}/wait.err" || true)
    if [[ "$value" =~ ^(${want})$ ]]; then return 0; fi
    if [[ -n "$bad" && "$value" =~ ^(${bad})$ ]]; then die "${what}: ${value}"; fi
    ((SECONDS < deadline)) || die "${what}: still '${value}' after ${timeout}s$(last_error "${work_dir}/wait.err")"
    sleep "$POLL_SECONDS"
  done
}


read_parameters() {
  read_shared_inputs
  BUILD_WITH="${BUILD_WITH:-acr}"
  API_MIN_REPLICAS="${API_MIN_REPLICAS:-1}"
  API_MAX_REPLICAS="${API_MAX_REPLICAS:-10}"
  WORKER_MIN_REPLICAS="${WORKER_MIN_REPLICAS:-1}"
  WORKER_MAX_REPLICAS="${WORKER_MAX_REPLICAS:-10}"
  # Sized from docs/benchmarks.md: RSS 91-115 MB as shipped (heap capped at
  # 96 MB), about 1 ms of CPU per getcode and 1.5 ms per worker message.
  API_CPU="${API_CPU:-0.25}"
  API_MEMORY="${API_MEMORY:-0.5Gi}"
  WORKER_CPU="${WORKER_CPU:-0.25}"
  WORKER_MEMORY="${WORKER_MEMORY:-0.5Gi}"
  LIMITS_TABLE_NAME="${LIMITS_TABLE_NAME:-signinlimits}"
  # About 2 GB a day at 10 codes/s (README, "Cost"); beyond the cap,
  # ingestion stops until the next day.
  LOG_DAILY_CAP_GB="${LOG_DAILY_CAP_GB:-3}"
  LOG_RETENTION_DAYS="${LOG_RETENTION_DAYS:-30}"
  APP_INSIGHTS="${APP_INSIGHTS:-true}"
  ROLE_WAIT_SECONDS="${ROLE_WAIT_SECONDS:-900}"
  REVISION_WAIT_SECONDS="${REVISION_WAIT_SECONDS:-600}"
  CRASH_RESTARTS="${CRASH_RESTARTS:-3}"
  POLL_SECONDS="${POLL_SECONDS:-10}"
  # The rule on hidden messages this replaced scaled on codes/s x 600, not backlog.
  [[ -z "${WORKER_QUEUE_LENGTH:-}" ]] ||
    die "WORKER_QUEUE_LENGTH is no longer used: the worker scales on each shard's visible backlog (WORKER_BACKLOG_PER_REPLICA); size WORKER_MIN_REPLICAS for the steady load (docs/scale.md)"
  if [[ -z "${IMAGE_TAG:-}" ]]; then
    [[ "$BUILD_WITH" != none ]] || die "BUILD_WITH=none needs IMAGE_TAG (the tag of images already in the registry)"
    # Unique per run: an unchanged image reference would not start a new revision.
    IMAGE_TAG="$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || printf 'build')-$(date -u +%Y%m%d%H%M%S)"
  fi
  # The revision this run creates, so the health wait never reads the previous one.
  REVISION_SUFFIX="${REVISION_SUFFIX:-r$(date -u +%y%m%d%H%M%S)}"

  check_name_prefix
  [[ "$IMAGE_TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "IMAGE_TAG is not a valid image tag: ${IMAGE_TAG}"
  [[ "$REVISION_SUFFIX" =~ ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ && "$REVISION_SUFFIX" != *--* ]] ||
    die "REVISION_SUFFIX must be 2-32 of a-z, 0-9 and single -, starting with a letter"
  [[ "$BUILD_WITH" =~ ^(acr|docker|none)$ ]] || die "BUILD_WITH must be acr, docker or none"
  [[ "$APP_INSIGHTS" =~ ^(true|false)$ ]] || die "APP_INSIGHTS must be true or false"
  TRACE_SAMPLE_RATIO="${TRACE_SAMPLE_RATIO:-0.05}"
  [[ "$TRACE_SAMPLE_RATIO" =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] || die "TRACE_SAMPLE_RATIO must be a number from 0 to 1, e.g. 0.05"
  [[ "$LIMITS_TABLE_NAME" =~ ^[A-Za-z][A-Za-z0-9]{2,62}$ ]] || die "LIMITS_TABLE_NAME must be 3-63 letters and digits, starting with a letter"
  check_whole_numbers API_MIN_REPLICAS API_MAX_REPLICAS WORKER_MIN_REPLICAS WORKER_MAX_REPLICAS WORKER_BACKLOG_PER_REPLICA QUEUE_SHARDS \
    LOG_RETENTION_DAYS ROLE_WAIT_SECONDS REVISION_WAIT_SECONDS CRASH_RESTARTS POLL_SECONDS
  check_queue_shards
  local n
  (( WORKER_BACKLOG_PER_REPLICA >= 1 )) || die "WORKER_BACKLOG_PER_REPLICA must be at least 1"
  for n in API_CPU WORKER_CPU; do [[ "${!n}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "${n} must be a number of vCPUs, e.g. 0.25"; done
  for n in API_MEMORY WORKER_MEMORY; do [[ "${!n}" =~ ^[0-9]+(\.[0-9]+)?Gi$ ]] || die "${n} must be like 0.5Gi"; done
  [[ "$LOG_DAILY_CAP_GB" =~ ^(-1|[0-9]+(\.[0-9]+)?)$ ]] || die "LOG_DAILY_CAP_GB must be a number of GB, or -1 for no cap"

  read_third_party_endpoint
  warn_plain_http_endpoint

  # Not as a crash-looping revision.
  read_caller_auth "the api checks its callers' tokens" "the api"
}

derive_names() {
  derive_shared_names "$subscription_id"
  # Global: registry 5-50 a-z0-9.
  REGISTRY="${REGISTRY:-${prefix_alnum:0:14}cr${name_suffix}}"
  API_IDENTITY_NAME="${NAME_PREFIX}-api-identity"
  WORKER_IDENTITY_NAME="${NAME_PREFIX}-worker-identity"
  # The one identity both apps shared before they had their own.
  LEGACY_IDENTITY_NAME="${NAME_PREFIX}-identity"
  WORKSPACE_NAME="${NAME_PREFIX}-logs"
  INSIGHTS_NAME="${NAME_PREFIX}-insights"
  ENVIRONMENT_NAME="${NAME_PREFIX}-env"
}

# The object id ("oid") claim of a JWT's payload.
jwt_oid() {
  local payload=${1#*.}
  payload=${payload%%.*}
  payload=$(printf '%s' "$payload" | tr '_-' '/+')
  while (( ${#payload} % 4 )); do payload+='='; done
  printf '%s' "$payload" | base64 -d 2>/dev/null | grep -o '"oid" *: *"[0-9a-fA-F-]*"' | head -n1 | sed 's/.*"\([0-9a-fA-F-]*\)"$/\1/'
}

preflight() {
  command -v az >/dev/null || die "the Azure CLI (az) is required: https://learn.microsoft.com/cli/azure/install-azure-cli"
  subscription_id=$(az account show --query id -o tsv 2>/dev/null) || die "not logged in: run az login (and az account set --subscription ...)"
  if [[ "$BUILD_WITH" == docker ]]; then command -v docker >/dev/null || die "BUILD_WITH=docker needs docker"; fi
  # user / servicePrincipal (a service principal or a managed identity).
  local login_type
  login_type=$(az account show --query user.type -o tsv)
  case "$login_type" in
    servicePrincipal) deployer_type=ServicePrincipal ;;
    *) deployer_type=User ;;
  esac
  deployer_type="${DEPLOYER_PRINCIPAL_TYPE:-$deployer_type}"
  [[ "$deployer_type" =~ ^(User|ServicePrincipal|Group)$ ]] || die "DEPLOYER_PRINCIPAL_TYPE must be User, ServicePrincipal or Group"
  if [[ -z "${DEPLOYER_OBJECT_ID:-}" ]]; then
    # The token's oid is the signed-in principal's object id: no Graph call,
    # which a service principal or managed identity is rarely allowed.
    DEPLOYER_OBJECT_ID=$(jwt_oid "$(az account get-access-token --query accessToken -o tsv)")
    [[ -n "$DEPLOYER_OBJECT_ID" ]] || die "could not read the signed-in principal's object id from its access token; set DEPLOYER_OBJECT_ID"
  fi
  log "deploying as ${deployer_type} ${DEPLOYER_OBJECT_ID} to subscription ${subscription_id}"
}


create_storage() {
  log "storage account ${STORAGE_ACCOUNT} (Entra ID only, TLS 1.2, HTTPS only)"
  az storage account create --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
    --sku Standard_LRS --kind StorageV2 --min-tls-version TLS1_2 --https-only true \
    --allow-shared-key-access false --allow-blob-public-access false --tags app=codegate --only-show-errors >/dev/null
  storage_id=$(az storage account show --name "$STORAGE_ACCOUNT" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  local endpoint
  endpoint=$(az storage account show --ids "$storage_id" --query primaryEndpoints.queue -o tsv)
  queue_url="${endpoint%/}/${QUEUE_NAME}"
  endpoint=$(az storage account show --ids "$storage_id" --query primaryEndpoints.table -o tsv)
  table_url="${endpoint%/}"
  # Through Resource Manager: data-plane creation would need shared keys or a
  # data role for the deployer. The apps' roles are scoped to these.
  queue_scopes=()
  local name scope
  while read -r name; do queue_scopes+=("${storage_id}/queueServices/default/queues/${name}"); done < <(shard_names)
  poison_scope="${storage_id}/queueServices/default/queues/${POISON_QUEUE_NAME}"
  table_scope="${storage_id}/tableServices/default/tables/${TABLE_NAME}"
  limits_scope="${storage_id}/tableServices/default/tables/${LIMITS_TABLE_NAME}"
  for scope in "${queue_scopes[@]}" "$poison_scope" "$table_scope" "$limits_scope"; do
    log "${scope#"${storage_id}"/}"
    az rest --method put --only-show-errors --output none \
      --url "${scope}?api-version=${STORAGE_API_VERSION}" --body '{"properties": {}}'
  done
}

# Whether the secret exists, asked of Resource Manager (metadata only): no
# data-plane role needed, so a re-run without a key grants nothing.
secret_exists() {
  exists az rest --method get --url "${1:-$secret_scope}?api-version=${KEYVAULT_API_VERSION}"
}

store_secret() {
  local write_key=1 write_hash_key=1
  if [[ -z "$THIRD_PARTY_API_KEY" ]]; then
    if secret_exists; then
      log "secret ${SECRET_NAME} exists; kept (set THIRD_PARTY_API_KEY to replace it)"
      write_key=0
    else
      prompt_third_party_key
    fi
  fi
  # Made once (new_hash_key says why).
  if secret_exists "$hash_secret_scope"; then
    log "secret ${CODE_HASH_SECRET_NAME} exists; kept"
    write_hash_key=0
  fi
  ((write_key || write_hash_key)) || return 0
  # Writing is a data-plane operation: the deployer holds Key Vault Secrets
  # Officer on this vault only while it writes (removed after, or on exit).
  deployer_assignment=$(assign_role "$DEPLOYER_OBJECT_ID" "$deployer_type" "Key Vault Secrets Officer" "$vault_id")
  if ((write_key)); then write_secret "$SECRET_NAME" "$THIRD_PARTY_API_KEY"; fi
  if ((write_hash_key)); then
    local hash_key
    hash_key=$(new_hash_key)
    write_secret "$CODE_HASH_SECRET_NAME" "$hash_key"
  fi
  remove_deployer_role
}

remove_deployer_role() {
  [[ -n "${deployer_assignment:-}" ]] || return 0
  log "removing the deployer's temporary Key Vault Secrets Officer role"
  az role assignment delete --ids "$deployer_assignment" --only-show-errors >/dev/null ||
    log "warning: could not remove role assignment ${deployer_assignment}; remove it with: az role assignment delete --ids ${deployer_assignment}"
  deployer_assignment=''
}

# Creates the user-assigned identity $1 if missing; prints its resource id,
# client id and principal id, one a line.
create_identity() {
  local name=$1 id
  log "managed identity ${name}"
  az identity create --name "$name" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" --tags app=codegate --only-show-errors >/dev/null
  id=$(az identity show --name "$name" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  printf '%s\n' "$id"
  az identity show --ids "$id" --query clientId -o tsv
  az identity show --ids "$id" --query principalId -o tsv
}

# One identity per app, so each holds only the roles its own work needs.
create_identities() {
  local ids
  ids=$(create_identity "$API_IDENTITY_NAME")
  { read -r api_identity_id; read -r api_identity_client_id; read -r api_identity_principal_id; } <<<"$ids"
  ids=$(create_identity "$WORKER_IDENTITY_NAME")
  { read -r worker_identity_id; read -r worker_identity_client_id; read -r worker_identity_principal_id; } <<<"$ids"
}

create_registry() {
  if ! exists az acr show --name "$REGISTRY" --resource-group "$RESOURCE_GROUP"; then
    log "container registry ${REGISTRY}"
    az acr create --name "$REGISTRY" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
      --sku Basic --admin-enabled false --tags app=codegate --only-show-errors >/dev/null
  fi
  registry_id=$(az acr show --name "$REGISTRY" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  registry_server=$(az acr show --name "$REGISTRY" --resource-group "$RESOURCE_GROUP" --query loginServer -o tsv)
}

# Least privilege: each app's roles on the queues, tables and secret it uses.
grant_identities() {
  local api=$api_identity_principal_id worker=$worker_identity_principal_id
  # api: puts activates on the queue; reads and consumes codes; keeps the
  # sign-in limits (its reading of the third-party and code hash keys: grant_secret_reader).
  local scope
  for scope in "${queue_scopes[@]}"; do
    assign_role "$api" ServicePrincipal "Storage Queue Data Message Sender" "$scope" >/dev/null
  done
  assign_role "$api" ServicePrincipal "Storage Table Data Contributor" "$table_scope" >/dev/null
  assign_role "$api" ServicePrincipal "Storage Table Data Contributor" "$limits_scope" >/dev/null
  assign_role "$api" ServicePrincipal "AcrPull" "$registry_id" >/dev/null
  # worker: receives, updates and deletes messages on every shard; Reader
  # lets the scale rules (same identity) read each shard's length; sends to
  # the poison queue; writes and deletes code rows. No vault access.
  for scope in "${queue_scopes[@]}"; do
    assign_role "$worker" ServicePrincipal "Storage Queue Data Message Processor" "$scope" >/dev/null
    assign_role "$worker" ServicePrincipal "Storage Queue Data Reader" "$scope" >/dev/null
  done
  assign_role "$worker" ServicePrincipal "Storage Queue Data Message Sender" "$poison_scope" >/dev/null
  assign_role "$worker" ServicePrincipal "Storage Table Data Contributor" "$table_scope" >/dev/null
  assign_role "$worker" ServicePrincipal "AcrPull" "$registry_id" >/dev/null
}

# The api may read its two secrets, the worker only the code hash key (to
# hash the original sample's messages); a role at a secret's scope needs the
# secret to exist, so this comes after store_secret.
grant_secret_reader() {
  assign_role "$api_identity_principal_id" ServicePrincipal "Key Vault Secrets User" "$secret_scope" >/dev/null
  assign_role "$api_identity_principal_id" ServicePrincipal "Key Vault Secrets User" "$hash_secret_scope" >/dev/null
  assign_role "$worker_identity_principal_id" ServicePrincipal "Key Vault Secrets User" "$hash_secret_scope" >/dev/null
}

build_images() {
  local svc
  case "$BUILD_WITH" in
    acr)
      for svc in api worker; do
        log "building codegate/${svc}:${IMAGE_TAG} in ${REGISTRY} (az acr build --target ${svc})"
        # From the repository root: the context, its .dockerignore and the Dockerfile.
        if ! (cd "$repo_root" && az acr build --registry "$REGISTRY" --image "codegate/${svc}:${IMAGE_TAG}" --target "$svc" \
            --file Dockerfile --platform linux/amd64 --only-show-errors . 2>"${work_dir}/build.err"); then
          cat "${work_dir}/build.err" >&2
          if grep -q TasksOperationsNotAllowed "${work_dir}/build.err"; then
            die "this subscription may not run ACR Tasks (az acr build), as free-trial subscriptions may not. Build locally instead: BUILD_WITH=docker ./infra/deploy.sh (needs Docker), or push the images yourself and run with BUILD_WITH=none IMAGE_TAG=<tag>"
          fi
          die "az acr build of ${svc} failed (see above)"
        fi
        cat "${work_dir}/build.err" >&2
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
  local customer_id shared_key env_url body="${work_dir}/environment.json"
  log "log analytics workspace ${WORKSPACE_NAME} (daily cap ${LOG_DAILY_CAP_GB} GB, ${LOG_RETENTION_DAYS} days)"
  az monitor log-analytics workspace create --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" \
    --location "$LOCATION" --retention-time "$LOG_RETENTION_DAYS" --quota "$LOG_DAILY_CAP_GB" --tags app=codegate --only-show-errors >/dev/null
  env_url="/subscriptions/${subscription_id}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.App/managedEnvironments/${ENVIRONMENT_NAME}?api-version=${APPS_API_VERSION}"
  if ! exists az containerapp env show --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP"; then
    log "container apps environment ${ENVIRONMENT_NAME}"
    customer_id=$(az monitor log-analytics workspace show --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" --query customerId -o tsv)
    shared_key=$(az monitor log-analytics workspace get-shared-keys --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" --query primarySharedKey -o tsv)
    # The shared key goes in a body file only this user can read, never on a
    # command line (visible in ps); az containerapp env create takes it as an argument.
    printf '{"location": %s, "tags": {"app": "codegate"}, "properties": {"workloadProfiles": [{"name": "Consumption", "workloadProfileType": "Consumption"}], "appLogsConfiguration": {"destination": "log-analytics", "logAnalyticsConfiguration": {"customerId": %s, "sharedKey": %s}}}}' \
      "$(json_str "$LOCATION")" "$(json_str "$customer_id")" "$(json_str "$shared_key")" >"$body"
    shared_key=''
    az rest --method put --url "$env_url" --body "@${body}" --only-show-errors --output none
    rm -f "$body"
  fi
  wait_for Succeeded 'Failed|Canceled' "container apps environment ${ENVIRONMENT_NAME} provisioning" 900 \
    az rest --method get --url "$env_url" --query properties.provisioningState -o tsv
  environment_id=$(az containerapp env show --name "$ENVIRONMENT_NAME" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
}

# Application Insights on the environment's Log Analytics workspace
# (workspace-based: its traces land in that workspace, under its daily cap).
# Created once and reused after; sets insights_connection_string, which the
# apps get as a secret (app_json). Through Resource Manager, so the
# application-insights CLI extension is not needed.
create_insights() {
  insights_connection_string=''
  if [[ "$APP_INSIGHTS" != true ]]; then
    log "no Application Insights (APP_INSIGHTS=false): the apps export no traces"
    return 0
  fi
  local url workspace_id
  url="/subscriptions/${subscription_id}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.Insights/components/${INSIGHTS_NAME}?api-version=${INSIGHTS_API_VERSION}"
  if exists az rest --method get --url "$url"; then
    log "application insights ${INSIGHTS_NAME} exists; reused"
  else
    log "application insights ${INSIGHTS_NAME} (workspace-based, on ${WORKSPACE_NAME})"
    workspace_id=$(az monitor log-analytics workspace show --workspace-name "$WORKSPACE_NAME" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
    az rest --method put --url "$url" --only-show-errors --output none --body \
      "{\"location\": $(json_str "$LOCATION"), \"kind\": \"web\", \"tags\": {\"app\": \"codegate\"}, \"properties\": {\"Application_Type\": \"web\", \"WorkspaceResourceId\": $(json_str "$workspace_id"), \"IngestionMode\": \"LogAnalytics\"}}"
  fi
  insights_connection_string=$(az rest --method get --url "$url" --query properties.ConnectionString -o tsv)
  [[ "$insights_connection_string" == *InstrumentationKey=* ]] ||
    die "application insights ${INSIGHTS_NAME} has no connection string (properties.ConnectionString)"
}

# One line: provisioning, running and health state of a revision, and the
# most restarts of any of its containers; "crash-looping:" in front when
# they reach CRASH_RESTARTS.
revision_state() {
  local url=$1 state restarts
  state=$(az rest --method get --url "${url}?api-version=${APPS_API_VERSION}" \
    --query "[properties.provisioningState, properties.runningState, properties.healthState]" -o tsv) || return 1
  state=${state//$'\t'//}
  restarts=$(az rest --method get --url "${url}/replicas?api-version=${APPS_API_VERSION}" \
    --query "max(value[].properties.containers[].restartCount)" -o tsv 2>/dev/null || true)
  [[ "$restarts" =~ ^[0-9]+$ ]] || restarts=0
  if ((restarts >= CRASH_RESTARTS)); then printf 'crash-looping: '; fi
  printf '%s restarts=%s\n' "$state" "$restarts"
}

deploy_app() {
  local app=$1 min_replicas=$2 app_id revision healthy='Healthy' body="${work_dir}/${1}.json"
  app_id="/subscriptions/${subscription_id}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.App/containerApps/${app}"
  revision="${app}--${REVISION_SUFFIX}"
  log "container app ${app} (image codegate/${app}:${IMAGE_TAG}, revision ${revision})"
  # A PUT of the whole resource: create or update, nothing left from earlier
  # runs. The body holds the app's secrets: a file only this user can read,
  # never a command line (visible in ps).
  app_json "$app" >"$body"
  az rest --method put --url "${app_id}?api-version=${APPS_API_VERSION}" --body "@${body}" \
    --only-show-errors --output none
  rm -f "$body"
  wait_for Succeeded 'Failed|Canceled' "container app ${app} provisioning" 900 \
    az rest --method get --url "${app_id}?api-version=${APPS_API_VERSION}" --query properties.provisioningState -o tsv

  # Healthy: its probes pass. Scaled to zero, a revision has no replica to be
  # healthy. A crash loop, or a revision that failed, ends the wait at once.
  if [[ "$min_replicas" == 0 ]]; then healthy='Healthy|None'; fi
  log "waiting for revision ${revision} to be healthy (probes pass)"
  wait_for "Provisioned/[A-Za-z]*/(${healthy}) restarts=[0-9]+" 'crash-looping: .*|Failed/.*|[A-Za-z]*/Failed/.*' \
    "revision ${revision} is not healthy (its logs: az containerapp logs show -n ${app} -g ${RESOURCE_GROUP} --revision ${revision} --type console)" \
    "$REVISION_WAIT_SECONDS" revision_state "${app_id}/revisions/${revision}"
}

warn_legacy_identity() {
  if exists az identity show --name "$LEGACY_IDENTITY_NAME" --resource-group "$RESOURCE_GROUP"; then
    log "note: ${LEGACY_IDENTITY_NAME}, the identity both apps shared before, is no longer used; remove it (and its roles) with:"
    log "  az identity delete --name ${LEGACY_IDENTITY_NAME} --resource-group ${RESOURCE_GROUP}"
  fi
}

cleanup() {
  remove_deployer_role || true
  rm -rf "$work_dir"
}

main() {
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then usage; exit 0; fi
  [[ $# -eq 0 ]] || { usage >&2; exit 2; }
  # Private scratch space (error output, the environment's body): mode 700.
  work_dir=$(mktemp -d)
  trap cleanup EXIT
  read_parameters
  preflight
  derive_names
  register_providers Microsoft.App Microsoft.OperationalInsights Microsoft.Insights Microsoft.ContainerRegistry Microsoft.KeyVault Microsoft.Storage Microsoft.ManagedIdentity
  create_group
  create_storage
  create_vault
  create_identities
  create_registry
  # Role assignments before the image builds: they propagate while images build.
  grant_identities
  store_secret
  grant_secret_reader
  build_images
  create_environment
  create_insights
  deploy_app api "$API_MIN_REPLICAS"
  deploy_app worker "$WORKER_MIN_REPLICAS"
  warn_legacy_identity

  local fqdn
  fqdn=$(az rest --method get --query properties.configuration.ingress.fqdn -o tsv \
    --url "/subscriptions/${subscription_id}/resourceGroups/${RESOURCE_GROUP}/providers/Microsoft.App/containerApps/api?api-version=${APPS_API_VERSION}")
  cat <<EOF

codegate is deployed.
  api:     https://${fqdn}   (docs at /docs, probes /healthz and /readyz)
  try:     curl https://${fqdn}/api/v1/getcode
  logs:    az containerapp logs show -n worker -g ${RESOURCE_GROUP} --follow
EOF
  if [[ -n "$insights_connection_string" ]]; then
    printf '  traces:  Application Insights %s (portal: Transaction search, Application map)\n' "$INSIGHTS_NAME"
  fi
  printf '  remove:  RESOURCE_GROUP=%s ./infra/teardown.sh\n' "$RESOURCE_GROUP"
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work_dir=${TMPDIR:-/tmp}
# Sourcing defines the functions only (the test renders app_json that way).
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
