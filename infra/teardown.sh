#!/usr/bin/env bash
# Removes what infra/deploy.sh created: deletes the resource group, then
# purges its Key Vaults (soft delete keeps a deleted vault, and its name,
# for the retention period otherwise).
#
#   RESOURCE_GROUP=codegate-rg ./infra/teardown.sh [--yes]
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: infra/teardown.sh [--yes] [--keep-vault]

  --yes         do not ask for confirmation (required when not interactive)
  --keep-vault  leave deleted Key Vaults soft-deleted (recoverable) instead of purging

Environment: RESOURCE_GROUP [codegate-rg]
EOF
}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'teardown: %s\n' "$*" >&2; exit 1; }

# Names of soft-deleted vaults that lived in the group (case-insensitive match,
# as Azure treats resource group names).
deleted_vaults_of_group() {
  local group_lc
  group_lc=$(printf '%s' "$RESOURCE_GROUP" | tr '[:upper:]' '[:lower:]')
  az keyvault list-deleted --resource-type vault --query '[].[name, properties.vaultId]' -o tsv --only-show-errors |
    while IFS=$'\t' read -r name id; do
      case "$(printf '%s' "$id" | tr '[:upper:]' '[:lower:]')" in
        */resourcegroups/"${group_lc}"/*) printf '%s\n' "$name" ;;
      esac
    done
}

main() {
  local assume_yes=false purge=true arg
  for arg in "$@"; do
    case "$arg" in
      -y | --yes) assume_yes=true ;;
      --keep-vault) purge=false ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; exit 2 ;;
    esac
  done
  RESOURCE_GROUP="${RESOURCE_GROUP:-codegate-rg}"

  command -v az >/dev/null || die "the Azure CLI (az) is required"
  az account show --only-show-errors >/dev/null 2>&1 || die "not logged in: run az login"

  local group_exists=false leftover=''
  if [[ "$(az group exists --name "$RESOURCE_GROUP" -o tsv)" == true ]]; then
    group_exists=true
    log "resources in ${RESOURCE_GROUP} (subscription $(az account show --query name -o tsv)):"
    az resource list --resource-group "$RESOURCE_GROUP" --query '[].{name: name, type: type}' -o table >&2
  else
    log "resource group ${RESOURCE_GROUP} does not exist"
    # Vaults left soft-deleted by an earlier, interrupted teardown.
    if [[ "$purge" == true ]]; then leftover=$(deleted_vaults_of_group); fi
    [[ -n "$leftover" ]] || { log "nothing to do"; return; }
    log "soft-deleted key vaults of ${RESOURCE_GROUP}: ${leftover//$'\n'/ }"
  fi

  if [[ "$assume_yes" != true ]]; then
    [[ -t 0 ]] || die "not interactive: pass --yes to delete ${RESOURCE_GROUP}"
    local answer what="resource group ${RESOURCE_GROUP} and everything in it"
    if [[ "$purge" == true ]]; then what+=", then purges its Key Vaults"; fi
    printf 'This deletes %s. It cannot be undone.\n' "$what" >&2
    read -r -p "Type the resource group name to confirm: " answer
    [[ "$answer" == "$RESOURCE_GROUP" ]] || die "not confirmed; nothing deleted"
  fi

  if [[ "$group_exists" == true ]]; then
    log "deleting resource group ${RESOURCE_GROUP} (takes a few minutes)"
    az group delete --name "$RESOURCE_GROUP" --yes --only-show-errors
  fi

  if [[ "$purge" != true ]]; then
    log "deleted Key Vaults stay soft-deleted (--keep-vault): az keyvault recover can restore them"
    return
  fi
  local vault
  for vault in $(deleted_vaults_of_group); do
    log "purging soft-deleted key vault ${vault}"
    az keyvault purge --name "$vault" --only-show-errors ||
      log "warning: could not purge ${vault} (purge protection?); it expires after its retention period"
  done
  log "done"
}

main "$@"
