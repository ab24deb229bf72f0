#!/usr/bin/env bash
# Creates (or updates: every step can be re-run) the api's Entra ID app
# registration: the application its callers get tokens for, with the app
# roles Codes.Issue (getcode) and Codes.Verify (sign-in), and optionally
# assigns those roles to a calling app's managed identity. Prints the api's
# AUTH_ISSUER and AUTH_AUDIENCE.
#
#   ./infra/app-registration.sh
#   CALLER_PRINCIPAL_ID=<object id of the caller's managed identity> ./infra/app-registration.sh
#
# Parameters come from the environment; see usage() or --help.
set -euo pipefail

# The prefix of this script's errors (lib.sh's die); lib.sh also gives log and json_str.
readonly SCRIPT_NAME=app-registration.sh
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<'EOF'
Usage: infra/app-registration.sh [--help]

Environment (defaults in brackets):
  APP_NAME              display name of the api's app registration [codegate-api]
  ISSUE_ROLE            app role that may call getcode [Codes.Issue]
  VERIFY_ROLE           app role that may call sign-in [Codes.Verify]
  CALLER_PRINCIPAL_ID   object id of a caller's service principal (for a
                        managed identity: its principal id) to assign roles to
  CALLER_ROLES          roles to assign to it, comma-separated
                        [<ISSUE_ROLE>,<VERIFY_ROLE>]
  ALLOW_AZURE_CLI       1: pre-authorize the Azure CLI, so that a person with
                        a role can run az account get-access-token
                        --resource api://<app id> [1]

Requires az (logged in: az login) with a directory role that may create
applications and grant app roles (Application Administrator, or Cloud
Application Administrator), or ownership of an existing registration.
The roles can be assigned to applications and to users, always one by one:
the service principal has appRoleAssignmentRequired, so no caller gets a
token for the api without an assignment.
EOF
}

: "${APP_NAME:=codegate-api}"
: "${ISSUE_ROLE:=Codes.Issue}"
: "${VERIFY_ROLE:=Codes.Verify}"
: "${CALLER_ROLES:=${ISSUE_ROLE},${VERIFY_ROLE}}"
: "${ALLOW_AZURE_CLI:=1}"
readonly GRAPH=https://graph.microsoft.com/v1.0
# The Azure CLI's well-known client id (Microsoft first-party application).
readonly AZURE_CLI_CLIENT_ID=04b07795-8ddb-461a-bbee-02f9e1bf7b46
readonly ROLE_PATTERN='^[A-Za-z0-9._:-]{1,120}$'


new_uuid() {
  if command -v uuidgen >/dev/null 2>&1; then uuidgen | tr '[:upper:]' '[:lower:]'
  else cat /proc/sys/kernel/random/uuid
  fi
}

# The id the app already has for a role or scope value, else a new one: ids
# must stay stable, or Entra ID refuses to drop a role that is still enabled.
id_of() {
  local kind=$1 value=$2 existing
  existing=$(az ad app show --id "$app_id" --query "${kind}[?value=='${value}'].id | [0]" -o tsv 2>/dev/null || true)
  if [[ -n "$existing" && "$existing" != "None" ]]; then printf '%s' "$existing"; else new_uuid; fi
}

app_role_json() {
  local value=$1 description=$2 id=$3
  cat <<EOF
{"id": "${id}", "value": $(json_str "$value"), "displayName": $(json_str "$value"), "description": $(json_str "$description"),
 "allowedMemberTypes": ["Application", "User"], "isEnabled": true}
EOF
}

main() {
  if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then usage; exit 0; fi
  [[ $# -eq 0 ]] || { usage >&2; exit 2; }
  command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed"
  [[ "$ISSUE_ROLE" =~ $ROLE_PATTERN ]] || die "ISSUE_ROLE must match ${ROLE_PATTERN}"
  [[ "$VERIFY_ROLE" =~ $ROLE_PATTERN ]] || die "VERIFY_ROLE must match ${ROLE_PATTERN}"
  [[ "$ISSUE_ROLE" != "$VERIFY_ROLE" ]] || die "ISSUE_ROLE and VERIFY_ROLE must differ"

  local tenant_id
  tenant_id=$(az account show --query tenantId -o tsv) || die "not logged in: run az login"

  log "app registration ${APP_NAME}"
  app_id=$(az ad app list --display-name "$APP_NAME" --query '[0].appId' -o tsv)
  if [[ -z "$app_id" || "$app_id" == "None" ]]; then
    app_id=$(az ad app create --display-name "$APP_NAME" --sign-in-audience AzureADMyOrg --query appId -o tsv)
    log "created, client id ${app_id}"
  else
    log "exists, client id ${app_id}"
  fi
  local object_id app_id_uri
  object_id=$(az ad app show --id "$app_id" --query id -o tsv)
  app_id_uri="api://${app_id}"

  # The roles, the application ID URI, v2 tokens (iss
  # https://login.microsoftonline.com/<tenant>/v2.0, aud = the client id) and,
  # for people, a delegated scope the Azure CLI is pre-authorized for.
  local issue_id verify_id scope_id pre_authorized='[]'
  issue_id=$(id_of appRoles "$ISSUE_ROLE")
  verify_id=$(id_of appRoles "$VERIFY_ROLE")
  scope_id=$(az ad app show --id "$app_id" --query "api.oauth2PermissionScopes[?value=='access_as_user'].id | [0]" -o tsv 2>/dev/null || true)
  [[ -n "$scope_id" && "$scope_id" != "None" ]] || scope_id=$(new_uuid)
  if [[ "$ALLOW_AZURE_CLI" == "1" ]]; then
    pre_authorized="[{\"appId\": \"${AZURE_CLI_CLIENT_ID}\", \"delegatedPermissionIds\": [\"${scope_id}\"]}]"
  fi
  # api is a complex property: each PATCH gives all of it. The scope goes in
  # first; Graph refuses to pre-authorize a scope the same request creates.
  api_json() {
    cat <<EOF
{"requestedAccessTokenVersion": 2,
 "oauth2PermissionScopes": [{
   "id": "${scope_id}", "value": "access_as_user", "type": "Admin", "isEnabled": true,
   "adminConsentDisplayName": "Call codegate as the signed-in user",
   "adminConsentDescription": "Lets a tool such as the Azure CLI call codegate for a user who holds one of its app roles."
 }],
 "preAuthorizedApplications": $1}
EOF
  }
  local body
  body=$(cat <<EOF
{
  "identifierUris": ["${app_id_uri}"],
  "appRoles": [
    $(app_role_json "$ISSUE_ROLE" "May ask codegate for a sign-in code (GET /api/v1/getcode)" "$issue_id"),
    $(app_role_json "$VERIFY_ROLE" "May check a sign-in code with codegate (POST /api/v1/signin)" "$verify_id")
  ],
  "api": $(api_json '[]')
}
EOF
)
  log "app roles ${ISSUE_ROLE} and ${VERIFY_ROLE}, ID URI ${app_id_uri}, v2 tokens"
  az rest --method PATCH --uri "${GRAPH}/applications/${object_id}" --headers 'Content-Type=application/json' --body "$body" >/dev/null
  az rest --method PATCH --uri "${GRAPH}/applications/${object_id}" --headers 'Content-Type=application/json' \
    --body "{\"api\": $(api_json "$pre_authorized")}" >/dev/null

  log "service principal (assignment required)"
  local sp_id
  sp_id=$(az ad sp list --filter "appId eq '${app_id}'" --query '[0].id' -o tsv)
  if [[ -z "$sp_id" || "$sp_id" == "None" ]]; then
    sp_id=$(az ad sp create --id "$app_id" --query id -o tsv)
  fi
  az rest --method PATCH --uri "${GRAPH}/servicePrincipals/${sp_id}" --headers 'Content-Type=application/json' \
    --body '{"appRoleAssignmentRequired": true}' >/dev/null

  if [[ -n "${CALLER_PRINCIPAL_ID:-}" ]]; then
    local role role_id existing
    IFS=',' read -r -a roles <<<"$CALLER_ROLES"
    for role in "${roles[@]}"; do
      case "$role" in
        "$ISSUE_ROLE") role_id=$issue_id ;;
        "$VERIFY_ROLE") role_id=$verify_id ;;
        *) die "CALLER_ROLES: ${role} is neither ${ISSUE_ROLE} nor ${VERIFY_ROLE}" ;;
      esac
      existing=$(az rest --method GET --uri "${GRAPH}/servicePrincipals/${CALLER_PRINCIPAL_ID}/appRoleAssignments" \
        --query "value[?resourceId=='${sp_id}' && appRoleId=='${role_id}'].id | [0]" -o tsv)
      if [[ -n "$existing" && "$existing" != "None" ]]; then
        log "${CALLER_PRINCIPAL_ID} already has ${role}"
      else
        log "assigning ${role} to ${CALLER_PRINCIPAL_ID}"
        az rest --method POST --uri "${GRAPH}/servicePrincipals/${CALLER_PRINCIPAL_ID}/appRoleAssignments" \
          --headers 'Content-Type=application/json' \
          --body "{\"principalId\": \"${CALLER_PRINCIPAL_ID}\", \"resourceId\": \"${sp_id}\", \"appRoleId\": \"${role_id}\"}" >/dev/null
      fi
    done
  fi

  # What the api's container app needs (and what deploy.sh should pass on).
  printf 'AUTH_ISSUER=https://login.microsoftonline.com/%s/v2.0\n' "$tenant_id"
  printf 'AUTH_AUDIENCE=%s,%s\n' "$app_id" "$app_id_uri"
  printf 'AUTH_ISSUE_ROLE=%s\n' "$ISSUE_ROLE"
  printf 'AUTH_VERIFY_ROLE=%s\n' "$VERIFY_ROLE"
}

main "$@"
