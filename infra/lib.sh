#!/usr/bin/env bash
# What infra/deploy.sh (Container Apps) and infra/deploy-functions.sh (Azure
# Functions) share: the names both hostings use, so they can run on one queue,
# table and vault, the derived names' suffix, the checks of the inputs both
# take, and the steps both make the same way (group, vault, secrets).
# Sourced, never run; the sourcing script sets SCRIPT_NAME (the prefix of its
# errors) and `set -euo pipefail`. The steps read LOCATION_GIVEN (LOCATION as
# the user gave it, possibly empty), and write_secret reads work_dir (private
# scratch space), ROLE_WAIT_SECONDS and POLL_SECONDS.

# Names fixed by the application (the defaults in packages/shared/src/config.ts).
# shellcheck disable=SC2034 # used by the scripts that source this file
{
  readonly QUEUE_NAME=code-requests
  readonly POISON_QUEUE_NAME=code-requests-poison
  readonly TABLE_NAME=codes
  readonly SECRET_NAME=third-party-api-key
  # The key codes are hashed with at rest (README "Codes at rest").
  readonly CODE_HASH_SECRET_NAME=code-hash-key
  # ARM API version used with az rest (Storage 2023-05-01 has queue/table PUT).
  readonly STORAGE_API_VERSION=2023-05-01
}

# The --help lines of the inputs both deploy scripts take alike (their usage prints them).
usage_shared_inputs() {
  cat <<'EOF'
  RESOURCE_GROUP             resource group, created if missing [codegate-rg];
                             an existing one keeps its region and tags
  NAME_PREFIX                prefix of resource names, 3-20 of a-z 0-9 - [codegate]
  THIRD_PARTY_API_ENDPOINT   RandomNumber URL (prompted when unset and interactive);
                             refused if it carries a key (code=...)
  THIRD_PARTY_API_KEY        its function key; stored in Key Vault. Prompted when
                             unset, interactive and the secret does not exist yet
  AUTH_ISSUER, AUTH_AUDIENCE who may call the api: what infra/app-registration.sh
                             prints (eval "$(infra/app-registration.sh | grep '^AUTH_')");
                             required unless AUTH_MODE=none
  AUTH_ISSUE_ROLE / AUTH_VERIFY_ROLE  app roles [Codes.Issue / Codes.Verify]
  AUTH_MODE                  entra (default) | none: getcode and sign-in open to
                             anyone who reaches the api, as in the original sample
EOF
}

# Defaults of the region, group, prefix and third-party inputs both deploy scripts take;
# LOCATION_GIVEN keeps LOCATION as the user gave it (create_group reads it).
read_shared_inputs() {
  LOCATION_GIVEN="${LOCATION:-}"
  LOCATION="${LOCATION:-westeurope}"
  RESOURCE_GROUP="${RESOURCE_GROUP:-codegate-rg}"
  NAME_PREFIX="${NAME_PREFIX:-codegate}"
  THIRD_PARTY_API_ENDPOINT="${THIRD_PARTY_API_ENDPOINT:-}"
  THIRD_PARTY_API_KEY="${THIRD_PARTY_API_KEY:-}"
}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# JSON string literal of $1 (the values here are names, ids and URLs).
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# True when the az command succeeds (used as "does it exist").
exists() { "$@" --only-show-errors --output none >/dev/null 2>&1; }

# "; last error: <first line of file $1>" when the file holds one.
last_error() {
  local line
  line=$(grep -m1 -v '^[[:space:]]*$' "$1" 2>/dev/null || true)
  [[ -z "$line" ]] || printf '; last error: %s' "$line"
}

# 8 hex digits from subscription ($1) and group ($2), so names are unique
# yet stable, and the same from both scripts.
stable_suffix() {
  printf '%s' "$1/$2" | cksum | awk '{printf "%08x", $1}'
}

# The global names both hostings must agree on to share queue, table and
# vault: STORAGE_ACCOUNT and KEY_VAULT, unless given. $1: the subscription id.
# Sets name_suffix and prefix_alnum, from which each script makes its own names.
derive_shared_names() {
  local prefix_vault
  name_suffix=$(stable_suffix "$1" "$RESOURCE_GROUP")
  prefix_alnum=${NAME_PREFIX//-/}
  prefix_vault=${NAME_PREFIX:0:12}
  prefix_vault=${prefix_vault%%-}
  # Global names: storage 3-24 a-z0-9, vault 3-24 a-z0-9-.
  STORAGE_ACCOUNT="${STORAGE_ACCOUNT:-${prefix_alnum:0:14}${name_suffix}}"
  KEY_VAULT="${KEY_VAULT:-${prefix_vault}-kv-${name_suffix}}"
}

# The queue names the codes are spread over: the base queue, then <base>-1 … <base>-(QUEUE_SHARDS-1).
shard_names() {
  local i
  printf '%s\n' "$QUEUE_NAME"
  for ((i = 1; i < QUEUE_SHARDS; i++)); do printf '%s\n' "${QUEUE_NAME}-${i}"; done
}

# Registers each resource provider namespace given that is not registered yet.
register_providers() {
  local ns
  for ns in "$@"; do
    if [[ "$(az provider show --namespace "$ns" --query registrationState -o tsv 2>/dev/null)" != Registered ]]; then
      log "registering resource provider ${ns}"
      az provider register --namespace "$ns" --wait --only-show-errors
    fi
  done
}

check_name_prefix() {
  [[ "$NAME_PREFIX" =~ ^[a-z][a-z0-9-]{1,18}[a-z0-9]$ && "$NAME_PREFIX" != *--* ]] ||
    die "NAME_PREFIX must be 3-20 of a-z, 0-9 and single -, starting with a letter"
}

# Each variable named must hold a whole number.
check_whole_numbers() {
  local n
  for n in "$@"; do
    [[ "${!n}" =~ ^[0-9]+$ ]] || die "${n} must be a whole number"
  done
}

check_queue_shards() {
  (( QUEUE_SHARDS >= 1 && QUEUE_SHARDS <= 64 )) || die "QUEUE_SHARDS must be 1 to 64"
}

# THIRD_PARTY_API_ENDPOINT, asked for when unset and interactive; an http(s) URL.
read_third_party_endpoint() {
  if [[ -z "$THIRD_PARTY_API_ENDPOINT" && -t 0 ]]; then
    read -r -p "Third-party RandomNumber URL (THIRD_PARTY_API_ENDPOINT): " THIRD_PARTY_API_ENDPOINT
  fi
  [[ "$THIRD_PARTY_API_ENDPOINT" =~ ^https?://[^[:space:]\"\\]+$ ]] || die "THIRD_PARTY_API_ENDPOINT must be an http(s) URL"
  # A function key in the URL would sit in a plain app setting, readable by
  # anyone with Reader on the app; the key belongs in THIRD_PARTY_API_KEY.
  local query=${THIRD_PARTY_API_ENDPOINT#*\?}
  if [[ "$THIRD_PARTY_API_ENDPOINT" == *\?* && "&${query,,}" == *'&code='* ]]; then
    die "THIRD_PARTY_API_ENDPOINT carries a key (code=...): give the URL without it and the key as THIRD_PARTY_API_KEY (it goes to Key Vault)"
  fi
}

warn_plain_http_endpoint() {
  [[ "$THIRD_PARTY_API_ENDPOINT" == https://* ]] || log "warning: THIRD_PARTY_API_ENDPOINT is not https; the function key travels in clear"
}

# AUTH_MODE and, with entra, the callers' issuer, audience and roles. The app
# refuses to start without them: said here, before anything is created.
# $1: what checks the tokens (for the error), $2: what an open deployment exposes (for the warning).
read_caller_auth() {
  local checker=$1 exposed=$2 n
  AUTH_MODE="${AUTH_MODE:-entra}"
  AUTH_ISSUER="${AUTH_ISSUER:-}"
  AUTH_AUDIENCE="${AUTH_AUDIENCE:-}"
  AUTH_ISSUE_ROLE="${AUTH_ISSUE_ROLE:-Codes.Issue}"
  AUTH_VERIFY_ROLE="${AUTH_VERIFY_ROLE:-Codes.Verify}"
  case "$AUTH_MODE" in
    entra)
      [[ -n "$AUTH_ISSUER" && -n "$AUTH_AUDIENCE" ]] ||
        die "AUTH_ISSUER and AUTH_AUDIENCE are required (${checker}): run infra/app-registration.sh and export what it prints, e.g. eval \"\$(infra/app-registration.sh | grep '^AUTH_')\"; or AUTH_MODE=none for an open api"
      [[ "$AUTH_ISSUER" =~ ^https://[^[:space:]\"\\]+$ ]] || die "AUTH_ISSUER must be an https URL"
      [[ "$AUTH_AUDIENCE" =~ ^[^[:space:]\"\\]+$ ]] || die "AUTH_AUDIENCE must be a comma-separated list without spaces"
      for n in AUTH_ISSUE_ROLE AUTH_VERIFY_ROLE; do
        [[ "${!n}" =~ ^[A-Za-z0-9._:-]{1,120}$ ]] || die "${n} must be 1-120 of letters, digits and ._:-"
      done
      ;;
    none) log "warning: AUTH_MODE=none: anyone who reaches ${exposed} can issue and redeem codes" ;;
    *) die "AUTH_MODE must be entra or none" ;;
  esac
}

# The resource group, made in LOCATION when missing. One that exists is left
# as it is: `az group create` would fail in another region and replace the
# group's tags; unless LOCATION was given, its resources go to its region.
create_group() {
  local existing
  existing=$(az group show --name "$RESOURCE_GROUP" --query location -o tsv 2>/dev/null || true)
  if [[ -n "$existing" ]]; then
    if [[ -z "$LOCATION_GIVEN" ]]; then LOCATION=$existing; fi
    log "resource group ${RESOURCE_GROUP} exists (${existing}); its tags are left alone; resources go to ${LOCATION}"
    return
  fi
  log "resource group ${RESOURCE_GROUP} in ${LOCATION}"
  az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --tags app=codegate --only-show-errors >/dev/null
}

# The vault (RBAC authorization), recovered if soft-deleted. Sets vault_id,
# vault_url and the scopes of its two secrets, secret_scope and hash_secret_scope.
create_vault() {
  if exists az keyvault show --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP"; then
    log "key vault ${KEY_VAULT} exists"
  elif exists az keyvault show-deleted --name "$KEY_VAULT"; then
    log "recovering soft-deleted key vault ${KEY_VAULT}"
    az keyvault recover --name "$KEY_VAULT" --only-show-errors >/dev/null
  else
    log "key vault ${KEY_VAULT} (RBAC authorization)"
    az keyvault create --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP" --location "$LOCATION" \
      --enable-rbac-authorization true --retention-days 7 --tags app=codegate --only-show-errors >/dev/null
  fi
  vault_id=$(az keyvault show --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP" --query id -o tsv)
  vault_url=$(az keyvault show --name "$KEY_VAULT" --resource-group "$RESOURCE_GROUP" --query properties.vaultUri -o tsv)
  vault_url=${vault_url%/}
  secret_scope="${vault_id}/secrets/${SECRET_NAME}"
  hash_secret_scope="${vault_id}/secrets/${CODE_HASH_SECRET_NAME}"
}

# THIRD_PARTY_API_KEY, asked for (not echoed) when its secret does not exist
# yet; without a terminal to ask at, a refusal.
prompt_third_party_key() {
  [[ -t 0 ]] || die "THIRD_PARTY_API_KEY is required: the secret ${SECRET_NAME} does not exist yet"
  read -r -s -p "Third-party API key (THIRD_PARTY_API_KEY, not echoed): " THIRD_PARTY_API_KEY
  printf '\n' >&2
  [[ -n "$THIRD_PARTY_API_KEY" ]] || die "THIRD_PARTY_API_KEY is empty"
}

# A new code hash key: 32 random bytes, base64. Made only when the secret is
# absent: a new value would make every live code unusable (README "Rotating
# the code hash key").
new_hash_key() {
  local key
  key=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
  [[ ${#key} -ge 44 ]] || die "could not make a random code hash key"
  printf '%s' "$key"
}

# Writes secret $1 with value $2. The value goes through stdin, not argv, so
# other local users cannot read it from the process list. Retried: a new role
# assignment can take minutes.
# shellcheck disable=SC2154 # work_dir is set by the sourcing script
write_secret() {
  local name=$1 value=$2 deadline=$((SECONDS + ROLE_WAIT_SECONDS))
  log "secret ${name}"
  until printf '%s' "$value" | az keyvault secret set --vault-name "$KEY_VAULT" --name "$name" \
      --file /dev/stdin --encoding utf-8 --only-show-errors --output none 2>"${work_dir}/secret.err"; do
    ((SECONDS < deadline)) ||
      die "could not write secret ${name} within ROLE_WAIT_SECONDS=${ROLE_WAIT_SECONDS}s$(last_error "${work_dir}/secret.err")"
    log "waiting for the Key Vault role assignment to take effect$(last_error "${work_dir}/secret.err")"
    sleep "$POLL_SECONDS"
  done
}

# The settings of who may call the api (the callerAuth variables of packages/shared/src/config.ts),
# NAME=VALUE lines, as read_caller_auth read them.
caller_auth_settings() {
  printf '%s\n' "AUTH_MODE=${AUTH_MODE}"
  if [[ "$AUTH_MODE" == entra ]]; then
    printf '%s\n' \
      "AUTH_ISSUER=${AUTH_ISSUER}" \
      "AUTH_AUDIENCE=${AUTH_AUDIENCE}" \
      "AUTH_ISSUE_ROLE=${AUTH_ISSUE_ROLE}" \
      "AUTH_VERIFY_ROLE=${AUTH_VERIFY_ROLE}"
  fi
}
