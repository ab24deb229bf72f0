#!/usr/bin/env bash
# What infra/deploy.sh (Container Apps) and infra/deploy-functions.sh (Azure
# Functions) share: the names both hostings use, so they can run on one queue,
# table and vault, the derived names' suffix, and the checks of the inputs
# both take. Sourced, never run; the sourcing script sets SCRIPT_NAME (the
# prefix of its errors) and `set -euo pipefail`.

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

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

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
