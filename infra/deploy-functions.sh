#!/usr/bin/env bash
# Deploys codegate as Azure Functions on the Flex Consumption plan with the
# az CLI, instead of (or beside) the container apps of infra/deploy.sh.
#
#   THIRD_PARTY_API_ENDPOINT=https://<app>.azurewebsites.net/api/RandomNumber \
#   THIRD_PARTY_API_KEY=... ./infra/deploy-functions.sh
#
# One package (services/functions), two function apps, each with an identity
# of its own and only the roles its side needs:
#
#   <prefix>-fn-api-<suffix>     getcode and sign-in (FUNCTIONS_ENABLED=api),
#                                for callers with an Entra ID token and app role:
#                                send to code-requests (and its shards), read
#                                and update the codes and signinlimits tables,
#                                read the secrets third-party-api-key and
#                                code-hash-key (made here if absent)
#   <prefix>-fn-worker-<suffix>  one queue trigger per shard (FUNCTIONS_ENABLED=worker):
#                                read, process and send on code-requests and its
#                                shards (the expire is a new message), send to
#                                code-requests-poison, the codes table, read
#                                code-hash-key (to hash the sample's messages)
#
# The data storage account, queues, table and vault are the ones deploy.sh
# makes (same derived names, created here if missing), so both hostings can
# run on one queue and table. The Functions host's own storage
# (AzureWebJobsStorage: leases, keys, the deployment package) is a separate
# account: its Blob Data Owner role then grants nothing on the codes.
# Every connection is by identity; no account key or connection string is
# stored anywhere. Every step creates or updates, so it can be re-run.
set -euo pipefail

# The prefix of this script's errors (lib.sh's die).
readonly SCRIPT_NAME=deploy-functions
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: infra/deploy-functions.sh [--help]

Environment (defaults in brackets):
  LOCATION                   Azure region with Flex Consumption [the existing group's
                             region, else westeurope] (az functionapp list-flexconsumption-locations)
EOF
  usage_shared_inputs
  cat <<'EOF'
  QUEUE_SHARDS               queues the codes are spread over, 1-64 [1]; the worker
                             app gets one queue trigger per shard. Must match
                             the container apps' when both hostings share the queues
  API_MAX_INSTANCES / WORKER_MAX_INSTANCES     Flex scale-out limit [40 / 10]
  WORKER_ALWAYS_READY        always-ready instances of the worker app [0]; 1 keeps
                             the idle activation delay at about a second (README)
  INSTANCE_MEMORY_MB         Flex instance size [2048]
  STORAGE_ACCOUNT, KEY_VAULT, HOST_STORAGE_ACCOUNT   override generated names
  DEPLOYER_OBJECT_ID         object id granted "Key Vault Secrets Officer" to
                             write the secret [the signed-in user or principal]
  DEPLOYER_PRINCIPAL_TYPE    User | ServicePrincipal | Group, with DEPLOYER_OBJECT_ID [User]
  ROLE_WAIT_SECONDS          how long a secret write is retried while the deployer's
                             role assignment propagates [300]
  POLL_SECONDS               seconds between those retries [15]

Requires az (logged in), Node.js 20 and npm (to build the package), and zip.
Owner, or Contributor plus Role Based Access Control Administrator, on the
subscription or group.
EOF
}

# Sign-in failure counts and locks (SIGNIN_LIMITS_TABLE_NAME's default, services/api/src/config.ts),
# shared with the container api. The other names both hostings share are in lib.sh.
readonly LIMITS_TABLE_NAME=signinlimits
# The queue trigger's connection (services/functions/src/functions.ts TRIGGER_CONNECTION).
readonly TRIGGER_CONNECTION=CODEGATE_STORAGE


read_parameters() {
  read_shared_inputs
  API_MAX_INSTANCES="${API_MAX_INSTANCES:-40}"
  WORKER_MAX_INSTANCES="${WORKER_MAX_INSTANCES:-10}"
  WORKER_ALWAYS_READY="${WORKER_ALWAYS_READY:-0}"
  INSTANCE_MEMORY_MB="${INSTANCE_MEMORY_MB:-2048}"
  QUEUE_SHARDS="${QUEUE_SHARDS:-1}"
  ROLE_WAIT_SECONDS="${ROLE_WAIT_SECONDS:-300}"
  POLL_SECONDS="${POLL_SECONDS:-15}"
  check_name_prefix
  check_whole_numbers API_MAX_INSTANCES WORKER_MAX_INSTANCES WORKER_ALWAYS_READY INSTANCE_MEMORY_MB QUEUE_SHARDS \
    ROLE_WAIT_SECONDS POLL_SECONDS
  check_queue_shards
  [[ "$INSTANCE_MEMORY_MB" =~ ^(512|2048|4096)$ ]] || die "INSTANCE_MEMORY_MB must be 512, 2048 or 4096"
  read_third_party_endpoint
  warn_plain_http_endpoint

  read_caller_auth "getcode and sign-in check their callers' tokens" "the function app"
}

# The queue shards: the base queue, then <base>-1 ... (packages/shared/src/shards.ts).

# The worker app's queue trigger functions, one per shard (services/functions/src/functions.ts triggerName).
trigger_names() {
  local i
  printf '%s\n' worker
  for ((i = 1; i < QUEUE_SHARDS; i++)); do printf '%s\n' "worker-${i}"; done
}

derive_names() {
  # The same storage account and vault as deploy.sh, so both hostings share queue, table and vault.
  derive_shared_names "$subscription_id"
  HOST_STORAGE_ACCOUNT="${HOST_STORAGE_ACCOUNT:-${prefix_alnum:0:12}fn${name_suffix}}"
  API_APP="${NAME_PREFIX}-fn-api-${name_suffix}"
  WORKER_APP="${NAME_PREFIX}-fn-worker-${name_suffix}"
}

preflight() {
  command -v az >/dev/null || die "the Azure CLI (az) is required: https://learn.microsoft.com/cli/azure/install-azure-cli"
  command -v npm >/dev/null || die "npm (Node.js 20) is required to build the package"
  command -v zip >/dev/null || die "zip is required to package the app"
  subscription_id=$(az account show --query id -o tsv 2>/dev/null) || die "not logged in: run az login (and az account set --subscription ...)"
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


# A storage account with shared keys off (Entra ID only); prints its id.
storage_account() {
  local name=$1
  log "storage account ${name} (Entra ID only, TLS 1.2, HTTPS only)"
  az storage account create --name "$name" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
    --sku Standard_LRS --kind StorageV2 --min-tls-version TLS1_2 --https-only true \
    --allow-shared-key-access false --allow-blob-public-access false --only-show-errors >/dev/null
  az storage account show --name "$name" --resource-group "$RESOURCE_GROUP" --query id -o tsv
}

create_storage() {
  storage_id=$(storage_account "$STORAGE_ACCOUNT")
  queue_service_url=$(az storage account show --ids "$storage_id" --query primaryEndpoints.queue -o tsv)
  queue_service_url=${queue_service_url%/}
  table_url=$(az storage account show --ids "$storage_id" --query primaryEndpoints.table -o tsv)
  table_url=${table_url%/}
  # Through Resource Manager: data-plane creation would need a data role for the deployer.
  local queue
  for queue in $(shard_names) "$POISON_QUEUE_NAME"; do
    log "queue ${queue}"
    az rest --method put --only-show-errors --output none \
      --url "${storage_id}/queueServices/default/queues/${queue}?api-version=${STORAGE_API_VERSION}" --body '{"properties": {}}'
  done
  local table
  for table in "$TABLE_NAME" "$LIMITS_TABLE_NAME"; do
    log "table ${table}"
    az rest --method put --only-show-errors --output none \
      --url "${storage_id}/tableServices/default/tables/${table}?api-version=${STORAGE_API_VERSION}" --body '{"properties": {}}'
  done

  host_storage_id=$(storage_account "$HOST_STORAGE_ACCOUNT")
  local app
  for app in "$API_APP" "$WORKER_APP"; do
    log "deployment container of ${app}"
    az rest --method put --only-show-errors --output none \
      --url "${host_storage_id}/blobServices/default/containers/$(package_container "$app")?api-version=${STORAGE_API_VERSION}" --body '{"properties": {}}'
  done
}

# Blob container holding an app's deployment package (3-63 of a-z 0-9 -).
package_container() {
  local name="pkg-$1"
  printf '%s' "${name:0:63}"
}

assign_role() {
  local principal=$1 type=$2 role=$3 scope=$4
  if [[ -n "$(az role assignment list --assignee "$principal" --role "$role" --scope "$scope" --query '[0].id' -o tsv 2>/dev/null)" ]]; then
    return
  fi
  log "role ${role} for ${principal} on ${scope##*/providers/}"
  az role assignment create --assignee-object-id "$principal" --assignee-principal-type "$type" \
    --role "$role" --scope "$scope" --only-show-errors --output none
}

store_secret() {
  assign_role "$DEPLOYER_OBJECT_ID" "$deployer_type" "Key Vault Secrets Officer" "$vault_id"
  # Made once (new_hash_key says why).
  if exists az keyvault secret show --vault-name "$KEY_VAULT" --name "$CODE_HASH_SECRET_NAME"; then
    log "secret ${CODE_HASH_SECRET_NAME} exists; kept"
  else
    local hash_key
    hash_key=$(new_hash_key)
    write_secret "$CODE_HASH_SECRET_NAME" "$hash_key"
  fi
  if [[ -z "$THIRD_PARTY_API_KEY" ]]; then
    if exists az keyvault secret show --vault-name "$KEY_VAULT" --name "$SECRET_NAME"; then
      log "secret ${SECRET_NAME} exists; kept (set THIRD_PARTY_API_KEY to replace it)"
      return
    fi
    prompt_third_party_key
  fi
  write_secret "$SECRET_NAME" "$THIRD_PARTY_API_KEY"
}

# Set by create_identity (through printf -v).
api_identity_id='' api_identity_client_id='' api_identity_principal_id=''
worker_identity_id='' worker_identity_client_id='' worker_identity_principal_id=''

# Creates a user-assigned identity; sets <var>_id, <var>_client_id, <var>_principal_id.
create_identity() {
  local name=$1 var=$2 id
  log "managed identity ${name}"
  az identity create --name "$name" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" --only-show-errors >/dev/null
  id=$(az identity show --name "$name" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  printf -v "${var}_id" '%s' "$id"
  printf -v "${var}_client_id" '%s' "$(az identity show --ids "$id" --query clientId -o tsv)"
  printf -v "${var}_principal_id" '%s' "$(az identity show --ids "$id" --query principalId -o tsv)"
}

grant_roles() {
  local queue
  local poison="${storage_id}/queueServices/default/queues/${POISON_QUEUE_NAME}"
  local table="${storage_id}/tableServices/default/tables/${TABLE_NAME}"
  local limits="${storage_id}/tableServices/default/tables/${LIMITS_TABLE_NAME}"
  local secret="${vault_id}/secrets/${SECRET_NAME}"
  local hash_secret="${vault_id}/secrets/${CODE_HASH_SECRET_NAME}"
  # Both: the host's own storage (leases, keys, deployment package).
  assign_role "$api_identity_principal_id" ServicePrincipal "Storage Blob Data Owner" "$host_storage_id"
  assign_role "$worker_identity_principal_id" ServicePrincipal "Storage Blob Data Owner" "$host_storage_id"
  # api: queue the activate, check and consume codes, count sign-in failures, read the one secret.
  for queue in $(shard_names); do
    assign_role "$api_identity_principal_id" ServicePrincipal "Storage Queue Data Message Sender" "${storage_id}/queueServices/default/queues/${queue}"
  done
  assign_role "$api_identity_principal_id" ServicePrincipal "Storage Table Data Contributor" "$table"
  assign_role "$api_identity_principal_id" ServicePrincipal "Storage Table Data Contributor" "$limits"
  assign_role "$api_identity_principal_id" ServicePrincipal "Key Vault Secrets User" "$secret"
  assign_role "$api_identity_principal_id" ServicePrincipal "Key Vault Secrets User" "$hash_secret"
  # worker: the code hash key only, to hash the original sample's messages (rules.hashCode).
  assign_role "$worker_identity_principal_id" ServicePrincipal "Key Vault Secrets User" "$hash_secret"
  # worker: the trigger reads queue metadata (scaling) and receives and deletes;
  # the expire is sent as a new message to the same shard; failures go to the poison queue.
  local scope
  for queue in $(shard_names); do
    scope="${storage_id}/queueServices/default/queues/${queue}"
    assign_role "$worker_identity_principal_id" ServicePrincipal "Storage Queue Data Reader" "$scope"
    assign_role "$worker_identity_principal_id" ServicePrincipal "Storage Queue Data Message Processor" "$scope"
    assign_role "$worker_identity_principal_id" ServicePrincipal "Storage Queue Data Message Sender" "$scope"
  done
  assign_role "$worker_identity_principal_id" ServicePrincipal "Storage Queue Data Message Sender" "$poison"
  assign_role "$worker_identity_principal_id" ServicePrincipal "Storage Table Data Contributor" "$table"
}

# App settings of one app (NAME=VALUE lines). Names are those of the schema
# in services/functions/src/config.ts, plus the host's identity connections.
app_settings() {
  local side=$1 client_id=$2
  printf '%s\n' \
    "FUNCTIONS_ENABLED=${side}" \
    "AZURE_CREDENTIAL=default" \
    "AZURE_CLIENT_ID=${client_id}" \
    "STORAGE_QUEUE_URL=${queue_service_url}/${QUEUE_NAME}" \
    "STORAGE_TABLE_URL=${table_url}" \
    "QUEUE_SHARDS=${QUEUE_SHARDS}" \
    "KEY_VAULT_URL=${vault_url}" \
    "CODE_HASH_SECRET_NAME=${CODE_HASH_SECRET_NAME}" \
    "AzureWebJobsStorage__accountName=${HOST_STORAGE_ACCOUNT}" \
    "AzureWebJobsStorage__credential=managedidentity" \
    "AzureWebJobsStorage__clientId=${client_id}"
  if [[ "$side" == worker ]]; then
    printf '%s\n' \
      "${TRIGGER_CONNECTION}__queueServiceUri=${queue_service_url}" \
      "${TRIGGER_CONNECTION}__credential=managedidentity" \
      "${TRIGGER_CONNECTION}__clientId=${client_id}"
  else
    printf '%s\n' \
      "THIRD_PARTY_API_SECRET_NAME=${SECRET_NAME}" \
      "THIRD_PARTY_API_ENDPOINT=${THIRD_PARTY_API_ENDPOINT}" \
      "SIGNIN_LIMITS_TABLE_NAME=${LIMITS_TABLE_NAME}"
    caller_auth_settings
  fi
}

create_app() {
  local app=$1 side=$2 identity_id=$3 client_id=$4 max_instances=$5
  if ! exists az functionapp show --name "$app" --resource-group "$RESOURCE_GROUP"; then
    log "function app ${app} (Flex Consumption, Node 20)"
    az functionapp create --name "$app" --resource-group "$RESOURCE_GROUP" --flexconsumption-location "$LOCATION" \
      --runtime node --runtime-version 20 --functions-version 4 \
      --storage-account "$HOST_STORAGE_ACCOUNT" \
      --deployment-storage-name "$HOST_STORAGE_ACCOUNT" --deployment-storage-container-name "$(package_container "$app")" \
      --deployment-storage-auth-type UserAssignedIdentity --deployment-storage-auth-value "$identity_id" \
      --assign-identity "$identity_id" --instance-memory "$INSTANCE_MEMORY_MB" --maximum-instance-count "$max_instances" \
      --https-only true --only-show-errors --output none
  fi
  az functionapp identity assign --name "$app" --resource-group "$RESOURCE_GROUP" --identities "$identity_id" --only-show-errors --output none
  az functionapp scale config set --name "$app" --resource-group "$RESOURCE_GROUP" --maximum-instance-count "$max_instances" \
    --instance-memory "$INSTANCE_MEMORY_MB" --only-show-errors --output none
  log "app settings of ${app} (FUNCTIONS_ENABLED=${side})"
  local settings=()
  mapfile -t settings < <(app_settings "$side" "$client_id")
  az functionapp config appsettings set --name "$app" --resource-group "$RESOURCE_GROUP" --settings "${settings[@]}" \
    --only-show-errors --output none
  # The connection string create may have written: the host uses the identity settings instead.
  az functionapp config appsettings delete --name "$app" --resource-group "$RESOURCE_GROUP" \
    --setting-names AzureWebJobsStorage DEPLOYMENT_STORAGE_CONNECTION_STRING --only-show-errors --output none
}

# Removes every node_modules/<package> of $1 not named on stdin (absolute paths, as npm ls --parseable prints).
prune_node_modules() {
  node -e '
    const fs = require("node:fs")
    const path = require("node:path")
    const root = process.argv[1]
    const keep = new Set(fs.readFileSync(0, "utf8").split("\n").filter((line) => line !== "").map((line) => path.relative(root, line)))
    for (const name of fs.readdirSync(path.join(root, "node_modules"))) {
      const entries = name.startsWith("@") ? fs.readdirSync(path.join(root, "node_modules", name)).map((n) => path.join(name, n)) : [name]
      for (const entry of entries) {
        const relative = path.join("node_modules", entry)
        if (!keep.has(relative)) fs.rmSync(path.join(root, relative), { recursive: true, force: true })
      }
    }
  ' "$1"
}

# Builds services/functions into a zip the host can run, the way the
# Dockerfile builds a service image: the lockfile's production tree of the
# functions workspace (npm ci --workspace), the dist folders it imports, and
# at the root the package.json and host.json the host looks for.
build_package() {
  local stage manifest dir
  stage=$(mktemp -d)
  package_zip="${stage}.zip"
  log "building the functions package"
  (cd "$repo_root" && npm ci --no-audit --no-fund >/dev/null && npm run -s build)
  cp "${repo_root}/package.json" "${repo_root}/package-lock.json" "$stage/"
  # npm ci checks every workspace against the lockfile: all manifests, only three dist folders.
  while IFS= read -r manifest; do
    mkdir -p "${stage}/$(dirname "$manifest")"
    cp "${repo_root}/${manifest}" "${stage}/${manifest}"
  done < <(cd "$repo_root" && git ls-files '*/package.json' | grep -v '^node_modules/')
  for dir in packages/shared services/api services/functions; do
    cp -R "${repo_root}/${dir}/dist" "${stage}/${dir}/dist"
  done
  cp "${repo_root}/services/functions/host.json" "${stage}/services/functions/"
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    --workspace services/functions --include-workspace-root=false >/dev/null)
  # npm ci --workspace still leaves other workspaces' packages (azurite,
  # tedious, ...): keep only what the functions workspace needs in production.
  (cd "$stage" && npm ls --omit=dev --all --parseable --workspace services/functions 2>/dev/null | prune_node_modules "$stage")
  # The host reads package.json's main and host.json at the root of the package.
  cp "${repo_root}/services/functions/host.json" "${stage}/host.json"
  printf '{"name": "codegate-functions", "private": true, "type": "module", "main": "services/functions/dist/index.js"}\n' > "${stage}/package.json"
  rm -f "${stage}/package-lock.json"
  # zip follows the workspace links in node_modules/@codegate (stores their files).
  (cd "$stage" && zip -qr "$package_zip" .)
  rm -rf "$stage"
}

deploy_package() {
  local app=$1
  log "deploying the package to ${app}"
  az functionapp deployment source config-zip --name "$app" --resource-group "$RESOURCE_GROUP" --src "$package_zip" \
    --only-show-errors --output none
}

main() {
  if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then usage; exit 0; fi
  [[ $# -eq 0 ]] || { usage >&2; exit 2; }
  # Private scratch space (error output): mode 700.
  work_dir=$(mktemp -d)
  trap 'rm -rf "$work_dir"' EXIT
  read_parameters
  preflight
  derive_names
  register_providers Microsoft.Web Microsoft.KeyVault Microsoft.Storage Microsoft.ManagedIdentity
  create_group
  create_storage
  create_vault
  create_identity "${NAME_PREFIX}-fn-api-identity" api_identity
  create_identity "${NAME_PREFIX}-fn-worker-identity" worker_identity
  grant_roles
  store_secret
  build_package
  create_app "$API_APP" api "$api_identity_id" "$api_identity_client_id" "$API_MAX_INSTANCES"
  create_app "$WORKER_APP" worker "$worker_identity_id" "$worker_identity_client_id" "$WORKER_MAX_INSTANCES"
  if ((WORKER_ALWAYS_READY > 0)); then
    # Per function: each shard's trigger scales on its own.
    local ready=() name
    while read -r name; do ready+=("function:${name}=${WORKER_ALWAYS_READY}"); done < <(trigger_names)
    az functionapp scale config always-ready set --name "$WORKER_APP" --resource-group "$RESOURCE_GROUP" \
      --settings "${ready[@]}" --only-show-errors --output none
  fi
  deploy_package "$API_APP"
  deploy_package "$WORKER_APP"
  rm -f "$package_zip"

  local host
  host=$(az functionapp show --name "$API_APP" --resource-group "$RESOURCE_GROUP" --query defaultHostName -o tsv)
  cat <<EOF

codegate is deployed as Azure Functions.
  api:     https://${host}/api/v1/getcode   (POST /api/v1/signin); callers need
           a token with ${AUTH_ISSUE_ROLE} / ${AUTH_VERIFY_ROLE} (AUTH_MODE=${AUTH_MODE})
  worker:  ${WORKER_APP} (queue triggers on ${QUEUE_NAME} and its $((QUEUE_SHARDS - 1)) other shards)
  logs:    Azure portal, or az webapp log tail -n ${WORKER_APP} -g ${RESOURCE_GROUP}
  remove:  RESOURCE_GROUP=${RESOURCE_GROUP} ./infra/teardown.sh
EOF
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
