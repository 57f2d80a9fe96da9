#!/usr/bin/env bash
# start-vast.sh: the on-start script of a Vast Serverless template that runs null-worker.
#
# It does what the Python product's start_server.sh does for BACKEND=null, for Node:
#   1. checks the environment (CONTAINER_ID is required) and that Node.js >= 20 is there;
#   2. finds a built null-worker (NULL_WORKER_DIR, or the checkout this script lives in), or clones
#      NULL_WORKER_REPO at NULL_WORKER_REF into the workspace and builds it with `npm ci`;
#   3. with USE_SSL=true, makes a key and a CSR, has Vast sign the CSR, and checks that the answer is a
#      certificate for that key before using it;
#   4. optionally starts your consumer (CONSUMER_CMD) beside the worker;
#   5. replaces itself with the worker (`exec node dist/main.js`), so the script's PID is the worker's and
#      SIGTERM from Vast reaches it directly.
# Any failure in steps 1-4 is posted as `error_msg` to <item>/worker_status/ for every REPORT_ADDR item (the path
# before the item's query, as the worker posts it), and the script exits 1. See docs/deploy-vast.md.
#
# Differences from start_server.sh: reports are built as real JSON (a quote or a newline in a message
# cannot break them); the signed certificate is checked before use; the worker is not run under a pipe.
#
# Variables (defaults in brackets):
#   CONTAINER_ID           required (Vast sets it); the worker's id in reports
#   REPORT_ADDR            [https://run.vast.ai] autoscaler base URLs, comma-separated
#   MASTER_TOKEN           [""] sent as mtoken
#   WORKER_PORT            [3000] the worker's public port
#   USE_SSL                [true] TLS on the public port when exactly "true"
#   PUBLIC_IPADDR, VAST_TCP_PORT_<WORKER_PORT>   (Vast sets them) make the `url` of a report
#   WORKSPACE_DIR          [/workspace] logs, and the clone when there is no preinstalled copy (a relative
#                          WORKSPACE_DIR, LOG_FILE, CONSUMER_LOG, NULL_EXIT_FILE, NULL_FORCE_UPDATE_FILE,
#                          NULL_WORKER_DIR, OUTBOX_FILE, TLS_*_FILE, a NODE_BIN path or a local NULL_WORKER_REPO
#                          is taken from where the script starts;
#                          one with surrounding whitespace is refused, naming it)
#   LOG_FILE               [$WORKSPACE_DIR/null-worker.log] this script's and the worker's output
#   NULL_WORKER_DIR        a checkout that already has dist/main.js (takes precedence)
#   NULL_WORKER_REPO       git URL (or path) to clone when no preinstalled copy is found
#   NULL_WORKER_REF        [the repository's default branch] branch, tag or commit to check out
#   NULL_WORKER_VERSION    ["1.1.0", the version the worker's own reports carry] `version` in this script's reports
#   NULL_FORCE_UPDATE_FILE [/.force_update] when present, the clone is made afresh (then removed)
#   NODE_BIN               [node] the Node.js executable
#   SIGN_CERT_URL          [https://console.vast.ai/api/v0/sign_cert/?instance_id=$CONTAINER_ID]
#   SIGN_CERT_ATTEMPTS     [5] tries at signing; SIGN_CERT_RETRY_DELAY [2] seconds before the 2nd, doubling
#   SIGN_CERT_TIMEOUT      [30] seconds per signing try (these three and REPORT_TIMEOUT: whole numbers)
#   TLS_KEY_FILE           [$WORKER_TLS_KEY or /etc/instance.key]  passed to the worker as WORKER_TLS_KEY
#   TLS_CERT_FILE          [$WORKER_TLS_CERT or /etc/instance.crt] passed to the worker as WORKER_TLS_CERT
#   REPORT_TIMEOUT         [10] seconds for each error report
#   CONSUMER_CMD           a command started with `sh -c` beside the worker (your queue consumer); it gets
#                          WORKER_CONTROL_URL=http://127.0.0.1:$NULL_CONTROL_PORT unless that is set, and
#                          WORKER_HTTP_PORT (the webhook port, WORKER_PORT + 1 unless set)
#   CONSUMER_LOG           [$WORKSPACE_DIR/consumer.log] the consumer's output
#   NULL_EXIT_FILE         [$WORKSPACE_DIR/null-worker.exit] the worker's exit marker, passed to it (see below)
# Everything else (BACKEND_HEALTH_URL, NULL_CONTROL_PORT, UNSECURED, ...) goes to the worker unchanged (the ports
# without surrounding spaces, as the worker reads them).

# Run by `sh` (dash has no pipefail, no [[): handed to bash, which it is written for; read from a pipe (`curl … | sh`),
# there is no file to hand over, so it says how to run it.
if [ -z "${BASH_VERSION:-}" ]; then
  if [ -f "$0" ]; then exec bash "$0" "$@"; fi
  echo "start-vast.sh is a bash script: run it with bash (curl … | bash)" >&2
  exit 2
fi
set -Eeuo pipefail

# Where this script lives, found before anything changes directory: run by a relative path (`bash
# scripts/start-vast.sh`), its path means something only from where it was started.
script_dir=""
if [[ -n ${BASH_SOURCE[0]:-} && -f ${BASH_SOURCE[0]} ]]; then
  script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fi

# Its settings are environment variables: an argument is a mistake, never a reason to sign a certificate and start.
if [[ $# -gt 0 ]]; then
  if [[ $1 == --help || $1 == -h ]]; then
    sed -n '2,/^$/{s/^# \{0,1\}//;/^$/d;p}' "$0"
    exit 0
  fi
  # Said on the console only: an operator's typo, made where they can read it, before the settings that say where to report.
  echo "start-vast.sh takes no arguments (its settings are environment variables); --help lists them" >&2
  exit 1
fi

WORKSPACE_DIR=${WORKSPACE_DIR:-/workspace}
REPORT_ADDR=${REPORT_ADDR:-https://run.vast.ai}
USE_SSL=${USE_SSL:-true}
WORKER_PORT=${WORKER_PORT:-3000}
LOG_FILE=${LOG_FILE:-$WORKSPACE_DIR/null-worker.log}
CONSUMER_LOG=${CONSUMER_LOG:-$WORKSPACE_DIR/consumer.log}
NULL_EXIT_FILE=${NULL_EXIT_FILE:-$WORKSPACE_DIR/null-worker.exit}
NODE_BIN=${NODE_BIN:-node}
NULL_FORCE_UPDATE_FILE=${NULL_FORCE_UPDATE_FILE:-/.force_update}
SIGN_CERT_ATTEMPTS=${SIGN_CERT_ATTEMPTS:-5}
SIGN_CERT_RETRY_DELAY=${SIGN_CERT_RETRY_DELAY:-2}
SIGN_CERT_TIMEOUT=${SIGN_CERT_TIMEOUT:-30}
REPORT_TIMEOUT=${REPORT_TIMEOUT:-10}
# Spaces around a number are ignored, as the worker reads its numbers (and as Python's int() does): a template's
# `WORKER_PORT=" 3000"` is 3000 here too, and the worker is given it without them.
# The control and webhook ports too: the script builds the consumer's URLs and its own /debug and /recycle from them.
for name in CONTAINER_ID WORKER_PORT WORKER_HTTP_PORT NULL_CONTROL_PORT SIGN_CERT_ATTEMPTS SIGN_CERT_RETRY_DELAY SIGN_CERT_TIMEOUT REPORT_TIMEOUT; do
  if [[ -n ${!name:-} ]]; then
    value=${!name}
    value=${value#"${value%%[![:space:]]*}"}
    printf -v "$name" '%s' "${value%"${value##*[![:space:]]}"}"
  fi
done
TLS_KEY_FILE=${TLS_KEY_FILE:-${WORKER_TLS_KEY:-/etc/instance.key}}
TLS_CERT_FILE=${TLS_CERT_FILE:-${WORKER_TLS_CERT:-/etc/instance.crt}}
# A relative path is the caller's: made absolute against the directory the script was started in, before it moves
# into WORKSPACE_DIR (the worker, started there, gets the absolute paths too).
# A path with surrounding whitespace is refused (at the first step, naming it), not made `$PWD/ /data/…`: the space is
# more likely a template's typo than part of a name, and the worker refuses its own paths with it too.
PATH_PROBLEM=""
for name in WORKSPACE_DIR LOG_FILE CONSUMER_LOG NULL_EXIT_FILE NULL_FORCE_UPDATE_FILE NULL_WORKER_DIR OUTBOX_FILE TLS_KEY_FILE TLS_CERT_FILE; do
  if [[ ${!name:-} =~ ^[[:space:]]|[[:space:]]$ ]]; then
    PATH_PROBLEM=${PATH_PROBLEM:-"$name has surrounding whitespace (\"${!name}\"): remove it"}
  elif [[ -n ${!name:-} && ${!name} != /* ]]; then
    printf -v "$name" '%s' "$PWD/${!name}"
  fi
done
# A NODE_BIN with a slash is a path (a bare name is looked up in PATH); a NULL_WORKER_REPO that exists here is a local
# repository, not a URL: both are the caller's too.
if [[ $NODE_BIN == */* && $NODE_BIN != /* ]]; then NODE_BIN=$PWD/$NODE_BIN; fi
if [[ -n ${NULL_WORKER_REPO:-} && $NULL_WORKER_REPO != /* && -e $NULL_WORKER_REPO ]]; then NULL_WORKER_REPO=$PWD/$NULL_WORKER_REPO; fi

NODE_OK=false # set once NODE_BIN is known to be Node.js >= 20; reports are then built with JSON.stringify
LOG_READY=false

# ---- output -------------------------------------------------------------------------------------------
# Our own lines go to stdout (or stderr) and to LOG_FILE. Commands' output goes to LOG_FILE only
# (see run_logged), and so does the worker's, once it runs.

log() {
  local line
  printf -v line '%s [start-vast] %s' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
  printf '%s\n' "$line"
  if [[ $LOG_READY == true ]]; then printf '%s\n' "$line" 2>/dev/null >>"$LOG_FILE" || true; fi
}

log_error() {
  log "ERROR: $*" >&2
}

# ---- error reports ------------------------------------------------------------------------------------

# A JSON string literal for $1, in bash alone (for when Node.js is missing): backslash, quote and every
# control character are escaped; other bytes (UTF-8 text) are copied as they are.
json_string() {
  local s=$1 bs=\\ q='"' code hex ch
  s=${s//"$bs"/"$bs$bs"}
  s=${s//"$q"/"$bs$q"}
  s=${s//$'\n'/"${bs}n"}
  s=${s//$'\r'/"${bs}r"}
  s=${s//$'\t'/"${bs}t"}
  for ((code = 1; code < 32; code++)); do
    printf -v hex '%02x' "$code"
    printf -v ch '%b' "\\x$hex"
    if [[ $s == *"$ch"* ]]; then s=${s//"$ch"/"${bs}u00$hex"}; fi
  done
  printf '"%s"' "$s"
}

# http(s)://PUBLIC_IPADDR:VAST_TCP_PORT_<WORKER_PORT> when both are known, else "".
worker_url() {
  local mapped=""
  if [[ $WORKER_PORT =~ ^[0-9]+$ ]]; then
    local name="VAST_TCP_PORT_$WORKER_PORT"
    mapped=${!name:-}
  fi
  if [[ -n ${PUBLIC_IPADDR:-} && -n $mapped ]]; then
    local scheme=http
    if [[ $USE_SSL == true ]]; then scheme=https; fi
    printf '%s://%s:%s' "$scheme" "$PUBLIC_IPADDR" "$mapped"
  fi
  return 0
}

# The body of a launch-failure report: {"id", "mtoken", "version", "error_msg", "url"}.
# `id` is a number when CONTAINER_ID is one (as the worker sends it), else the string as given.
report_body() {
  # By default the `version` the worker's own reports carry (PROTOCOL_VERSION, src/protocol/workerStatus.ts), so that the
  # endpoint's worker list shows one program.
  local message=$1 id=${CONTAINER_ID:-} version=${NULL_WORKER_VERSION:-1.1.0} url
  url=$(worker_url)
  if [[ $NODE_OK == true ]] &&
    NW_ID=$id NW_MTOKEN=${MASTER_TOKEN:-} NW_VERSION=$version NW_MSG=$message NW_URL=$url "$NODE_BIN" -e '
      const e = process.env
      const id = /^[0-9]+$/.test(e.NW_ID) ? Number(e.NW_ID) : e.NW_ID
      process.stdout.write(JSON.stringify({ id, mtoken: e.NW_MTOKEN, version: e.NW_VERSION, error_msg: e.NW_MSG, url: e.NW_URL }))
    ' 2>/dev/null; then
    return 0
  fi
  local id_json
  if [[ $id =~ ^0*([0-9]+)$ ]]; then id_json=${BASH_REMATCH[1]}; else id_json=$(json_string "$id"); fi
  printf '{"id":%s,"mtoken":%s,"version":%s,"error_msg":%s,"url":%s}' "$id_json" \
    "$(json_string "${MASTER_TOKEN:-}")" "$(json_string "$version")" "$(json_string "$message")" "$(json_string "$url")"
}

# An address as it may be shown (logs, and the error reported): no credentials (`user:pass@`), and `?…` for a query or a
# fragment, where API keys travel, as the worker shows it; where the address is odd, more is hidden, never less.
shown_url() {
  local scheme="" rest=$1 authority base
  if [[ $1 == *://* ]]; then
    scheme="${1%%://*}://"
    rest=${1#*://}
  fi
  authority=${rest%%[/?#]*}
  if [[ $authority == *@* ]]; then
    rest=${rest#"${authority%@*}@"}
  elif [[ $rest == *@* && $authority == *:* && $authority != \[* && ! $authority =~ :[0-9]*$ ]]; then
    # `user:pa/ss@host`: a password holding `/`, `?` or `#` unencoded ends the authority early. All up to the last `@` goes.
    rest=${rest##*@}
  fi
  base=${rest%%[?#]*}
  printf '%s%s' "$scheme" "$base"
  if [[ $rest != "$base" ]]; then printf '?…'; fi
}

# REPORT_ADDR with every item shown as `shown_url` shows it.
shown_report_addr() {
  local item out="" sep=""
  local -a items
  IFS=',' read -r -a items <<<"$REPORT_ADDR"
  for item in "${items[@]}"; do
    out+="$sep$(shown_url "$item")"
    sep=","
  done
  printf '%s' "$out"
}

# curl's options for `url` as a config file's lines, read through a pipe (`-K <(curl_url …)`): the address, whose
# credentials and query may be secrets, stays out of the process list; `globoff`: `{…}` and `[…]` in it are characters,
# not curl's patterns (which would post to several addresses).
curl_url() {
  local quoted=${1//\\/\\\\}
  quoted=${quoted//\"/\\\"}
  printf 'globoff\nurl = "%s"\n' "$quoted"
}

# "scheme host port" of an absolute http(s) address (the host lower-cased, without credentials; the port filled in),
# or nothing.
url_origin() {
  local scheme authority host port
  [[ $1 =~ ^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*) ]] || return 0
  scheme=${BASH_REMATCH[1],,}
  authority=${BASH_REMATCH[2]##*@}
  if [[ $authority =~ ^(\[[^]/]*\]|[^]:[]*)(:([0-9]{0,5}))?$ ]]; then
    host=${BASH_REMATCH[1],,}
    port=${BASH_REMATCH[3]}
  else
    return 0
  fi
  case $scheme in
    http) port=${port:-80} ;;
    https) port=${port:-443} ;;
    *) return 0 ;;
  esac
  if [[ -z $host ]]; then return 0; fi
  printf '%s %s %s' "$scheme" "$host" "$((10#$port))"
}

# Whether a report answered 307/308 at $1 may be posted again at $2: the same host, and the same scheme and port, or
# from http to https, as the worker's reports go. Anywhere else would hand the report's mtoken to another server.
redirect_followed() {
  local from to fs fh fp ts th tp
  from=$(url_origin "$1")
  to=$(url_origin "$2")
  if [[ -z $from || -z $to ]]; then return 1; fi
  read -r fs fh fp <<<"$from"
  read -r ts th tp <<<"$to"
  if [[ $fh != "$th" ]]; then return 1; fi
  [[ ($fs == "$ts" && $fp == "$tp") || ($fs == http && $ts == https) ]]
}

# The most redirects one report follows, as the worker's reports do.
REPORT_MAX_REDIRECTS=3

# Post one report to every REPORT_ADDR item (trimmed, trailing "/" removed): one try each, with a timeout. The path goes
# before the item's query, as the worker puts it (`https://host/base?k=v` → `https://host/base/worker_status/?k=v`).
# A 307 or 308 is followed where `redirect_followed` allows (review 55 I4: behind an http→https front, no report landed).
send_report() {
  local body addr base query status item url answer location hops note
  local -a items
  if ! command -v curl >/dev/null 2>&1; then
    log_error "curl is not installed: the error cannot be reported to the autoscaler"
    return 0
  fi
  body=$(report_body "$1")
  IFS=',' read -r -a items <<<"$REPORT_ADDR"
  for item in "${items[@]}"; do
    addr=${item#"${item%%[![:space:]]*}"}
    addr=${addr%"${addr##*[![:space:]]}"}
    while [[ $addr == */ ]]; do addr=${addr%/}; done
    if [[ -z $addr ]]; then continue; fi
    base=${addr%%[?#]*}
    query=${addr:${#base}}
    query=${query%%#*}
    while [[ $base == */ ]]; do base=${base%/}; done
    if [[ -z $base ]]; then
      log "could not report the error to $(shown_url "$addr"): a REPORT_ADDR item with no address before its query"
      continue
    fi
    url="$base/worker_status/$query"
    hops=0
    note=""
    while true; do
      # The body goes through stdin, the address through a config pipe: neither is in the process list. curl says
      # where a redirect points (`redirect_url`, made absolute) without following it.
      answer=$(printf '%s' "$body" | curl -sS -o /dev/null -w '%{http_code}\n%{redirect_url}' --max-time "$REPORT_TIMEOUT" \
        -H 'Content-Type: application/json' --data-binary @- -X POST -K <(curl_url "$url") 2>/dev/null) || true
      status=${answer%%$'\n'*}
      location=""
      if [[ $answer == *$'\n'* ]]; then location=${answer#*$'\n'}; fi
      if [[ ($status == 307 || $status == 308) && -n $location ]]; then
        if ((hops >= REPORT_MAX_REDIRECTS)); then
          note="; more than $REPORT_MAX_REDIRECTS redirects"
        elif redirect_followed "$url" "$location"; then
          url=$location
          hops=$((hops + 1))
          continue
        else
          note="; its redirect to $(shown_url "$location") not followed: another host, port or scheme"
        fi
      fi
      break
    done
    if [[ $status == 2* ]]; then
      log "reported the error to $(shown_url "$url") (HTTP $status)"
    else
      log "could not report the error to $(shown_url "$url") (HTTP ${status:-000}$note)"
    fi
  done
}

# Log the message, report it to the autoscaler, exit 1.
fail() {
  trap - ERR
  log_error "$1"
  if [[ -z ${CONTAINER_ID:-} ]]; then
    # Nothing is reported without CONTAINER_ID: the autoscaler knows workers by this id, and a report
    # with no id (start_server.sh sent 0) names no worker, or the wrong one. The worker does the same.
    log "not reported to the autoscaler: CONTAINER_ID is not set"
  else
    send_report "$1"
  fi
  exit 1
}

trap 'fail "start-vast.sh failed unexpectedly at line $LINENO (status $?): $BASH_COMMAND"' ERR

# Run a command with its output appended to LOG_FILE. On failure, LAST_OUTPUT holds its last lines
# (for the report), and its status is returned.
LAST_OUTPUT=""
run_logged() {
  local before status=0
  before=$(wc -c <"$LOG_FILE")
  "$@" </dev/null >>"$LOG_FILE" 2>&1 || status=$?
  if ((status != 0)); then
    # npm ends with a pointer to its own log file, which says nothing here: left out.
    LAST_OUTPUT=$(tail -c "+$((before + 1))" "$LOG_FILE" | grep -v -e '^[[:space:]]*$' -e 'A complete log of this run' |
      tail -n 6 | cut -c 1-300) || true
  fi
  return "$status"
}

# "<what> failed (status N): <last lines of its output>"
failed_with_output() {
  local text="$1 failed (status $2)"
  if [[ -n $LAST_OUTPUT ]]; then text+=": $LAST_OUTPUT"; fi
  printf '%s' "$text"
}

# ---- 1. environment -----------------------------------------------------------------------------------

# Not on a Vast instance (run by hand, say): said on stderr before anything is made, /workspace included.
if [[ -z ${CONTAINER_ID:-} ]]; then fail "CONTAINER_ID must be set (Vast sets it on an instance; this script runs there; to try it on your machine, see docs/deploy-vast.md, \"Before you pay for an instance\")"; fi
if [[ -n $PATH_PROBLEM ]]; then fail "$PATH_PROBLEM"; fi
if ! mkdir -p "$WORKSPACE_DIR" 2>/dev/null || ! touch "$LOG_FILE" 2>/dev/null; then
  fail "cannot write the log file $LOG_FILE (WORKSPACE_DIR=$WORKSPACE_DIR)"
fi
LOG_READY=true
cd "$WORKSPACE_DIR"
log "start-vast.sh: WORKSPACE_DIR=$WORKSPACE_DIR REPORT_ADDR=$(shown_report_addr) WORKER_PORT=$WORKER_PORT USE_SSL=$USE_SSL LOG_FILE=$LOG_FILE"

if ! [[ $CONTAINER_ID =~ ^[0-9]+$ ]]; then fail "CONTAINER_ID must be an integer, got: $CONTAINER_ID"; fi
if ! [[ $WORKER_PORT =~ ^[0-9]+$ ]] || ((10#$WORKER_PORT < 1 || 10#$WORKER_PORT > 65535)); then
  fail "WORKER_PORT must be a port number from 1 to 65535, got: $WORKER_PORT"
fi
# As a number, as the worker reads it: `03000` is port 3000, whose address is in VAST_TCP_PORT_3000.
WORKER_PORT=$((10#$WORKER_PORT))
for name in SIGN_CERT_ATTEMPTS SIGN_CERT_RETRY_DELAY SIGN_CERT_TIMEOUT REPORT_TIMEOUT; do
  if ! [[ ${!name} =~ ^[0-9]+$ ]]; then fail "$name must be a whole number, got: ${!name}"; fi
done
# This script removes both markers before the worker starts: on the callback journal, that would delete the
# callbacks it keeps (links and hard links followed).
for name in NULL_EXIT_FILE NULL_FORCE_UPDATE_FILE; do
  if [[ -n ${OUTBOX_FILE:-} && ${!name} -ef $OUTBOX_FILE ]]; then
    fail "$name and OUTBOX_FILE are the same file ($OUTBOX_FILE); each needs its own, or the callbacks kept there would be lost"
  fi
done

if ! node_path=$(command -v "$NODE_BIN" 2>/dev/null); then
  fail "Node.js >= 20 is required, but $NODE_BIN was not found (PATH=$PATH)"
fi
if ! node_version=$("$node_path" -p 'process.versions.node' 2>/dev/null); then
  fail "Node.js >= 20 is required, but $node_path does not run"
fi
if ! [[ $node_version =~ ^([0-9]+)\. ]] || ((BASH_REMATCH[1] < 20)); then
  fail "Node.js >= 20 is required, but $node_path is version $node_version"
fi
NODE_BIN=$node_path
NODE_OK=true
log "Node.js $node_version at $NODE_BIN"

# ---- 2. the project -----------------------------------------------------------------------------------

is_null_worker() {
  [[ -f $1/package.json ]] && grep -q '"name": *"null-worker"' "$1/package.json"
}

build() {
  local dir=$1 status=0
  if ! command -v npm >/dev/null 2>&1; then fail "npm is required to build $dir, but it was not found"; fi
  log "building $dir with npm ci"
  # --include=dev: the build needs esbuild even when the template sets NODE_ENV=production.
  run_logged npm --prefix "$dir" ci --include=dev --no-audit --no-fund || status=$?
  if ((status != 0)); then fail "$(failed_with_output "npm ci in $dir" "$status")"; fi
  if [[ ! -f $dir/dist/main.js ]]; then fail "npm ci in $dir did not produce dist/main.js"; fi
}

# Run a command with every URL in its output (git echoes the address it was given) shown without credentials or query.
with_urls_hidden() {
  "$@" 2>&1 | sed -E -e "s#([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@[:space:]'\"]*@#\1#g" -e "s#(://[^?#[:space:]'\"]*)[?#][^[:space:]'\"]*#\1?…#g"
  return "${PIPESTATUS[0]}"
}

clone() {
  local dir=$1 stamp=$1/.start-vast-source status=0
  local source="$NULL_WORKER_REPO ${NULL_WORKER_REF:-}"
  if [[ -f $dir/dist/main.js && -f $stamp && $(<"$stamp") == "$source" && ! -e $NULL_FORCE_UPDATE_FILE ]]; then
    log "reusing $dir (already built from $(shown_url "$NULL_WORKER_REPO") ${NULL_WORKER_REF:-})"
    return 0
  fi
  if [[ -e $NULL_FORCE_UPDATE_FILE ]]; then log "$NULL_FORCE_UPDATE_FILE is present: cloning afresh"; fi
  if ! command -v git >/dev/null 2>&1; then fail "git is required to clone $(shown_url "$NULL_WORKER_REPO"), but it was not found"; fi
  rm -rf "$dir"
  log "cloning $(shown_url "$NULL_WORKER_REPO") into $dir"
  run_logged with_urls_hidden git clone -- "$NULL_WORKER_REPO" "$dir" || status=$?
  if ((status != 0)); then fail "$(failed_with_output "git clone of $(shown_url "$NULL_WORKER_REPO")" "$status")"; fi
  if [[ -n ${NULL_WORKER_REF:-} ]]; then
    run_logged git -C "$dir" checkout -q "$NULL_WORKER_REF" || status=$?
    if ((status != 0)); then fail "$(failed_with_output "git checkout of $NULL_WORKER_REF" "$status")"; fi
  fi
  build "$dir"
  printf '%s' "$source" >"$stamp"
  rm -f "$NULL_FORCE_UPDATE_FILE"
}

if [[ -n ${NULL_WORKER_DIR:-} ]]; then
  if [[ ! -f $NULL_WORKER_DIR/dist/main.js ]]; then
    fail "NULL_WORKER_DIR has no dist/main.js (build it with npm ci): $NULL_WORKER_DIR"
  fi
  project=$(cd "$NULL_WORKER_DIR" && pwd)
elif [[ -n $script_dir ]] && is_null_worker "$script_dir"; then
  project=$script_dir
elif [[ -n $script_dir ]] && is_null_worker "$script_dir/.."; then
  project=$(cd "$script_dir/.." && pwd)
elif [[ -n ${NULL_WORKER_REPO:-} ]]; then
  project=$WORKSPACE_DIR/null-worker
  clone "$project"
else
  fail "no null-worker to run: set NULL_WORKER_DIR to a built checkout, or NULL_WORKER_REPO to a git URL to clone"
fi
if [[ ! -f $project/dist/main.js ]]; then build "$project"; fi
log "null-worker: $project"

# ---- 3. TLS -------------------------------------------------------------------------------------------

# What curl's exit status means, for the few a signing attempt meets; the rest are said by number only.
curl_meaning() {
  case $1 in
    6) echo ": could not resolve the host" ;;
    7) echo ": could not connect" ;;
    28) echo ": timed out" ;;
    35) echo ": the TLS handshake failed" ;;
    60) echo ": the server's certificate is not trusted" ;;
    *) echo "" ;;
  esac
}

# Sign a fresh key through Vast, and install the certificate only once it is known to be one for our key.
setup_tls() {
  local csr answer attempt status http umask_before delay=$SIGN_CERT_RETRY_DELAY url=${SIGN_CERT_URL:-https://console.vast.ai/api/v0/sign_cert/?instance_id=$CONTAINER_ID}
  if ! command -v openssl >/dev/null 2>&1; then fail "USE_SSL=true needs openssl, but it was not found"; fi
  if ! command -v curl >/dev/null 2>&1; then fail "USE_SSL=true needs curl, but it was not found"; fi
  if ! mkdir -p "$(dirname "$TLS_KEY_FILE")" "$(dirname "$TLS_CERT_FILE")" 2>/dev/null; then
    fail "cannot create the directories of $TLS_KEY_FILE and $TLS_CERT_FILE"
  fi
  csr=$WORKSPACE_DIR/instance.csr
  answer=$WORKSPACE_DIR/instance.crt.download
  rm -f "$answer"
  # The key is made readable by us only (umask), as a private key should be.
  status=0
  umask_before=$(umask)
  umask 077
  # openssl draws the key's generation in lines of dots and pluses (OpenSSL 3.0's req has no -quiet): those lines are
  # left out of the log, the rest (an error) kept, and openssl's own status is the step's (pipefail).
  run_logged bash -c 'set -o pipefail; openssl "$@" 2>&1 | { grep -v -E "^[-.+*]+$" || true; }' openssl \
    req -new -newkey rsa:2048 -nodes -sha256 -keyout "$TLS_KEY_FILE" -out "$csr" \
    -subj "/C=US/ST=CA/CN=pyworker.vast.ai/" -addext "subjectAltName=IP:0.0.0.0" \
    -addext "basicConstraints=CA:FALSE" -addext "keyUsage=nonRepudiation,digitalSignature,keyEncipherment" || status=$?
  umask "$umask_before"
  if ((status != 0)); then fail "$(failed_with_output "making the TLS key and CSR" "$status")"; fi

  # A certificate chain is a few KB. A larger answer is not one, and is not read further: OpenSSL's PEM reader takes
  # minutes on a few MB that are not PEM (probe 56 #3: 300 MB held the start for days, unreported). curl stops a
  # transfer past the bound when the size is announced. One sent without a size passes through `head`, which writes
  # one byte past the bound at most and then stops reading, and curl with it (status 23): before 8.4 curl's own bound
  # did nothing for such an answer, saved whole until the attempt's time-out (review 62 #4).
  local max_answer=65536 headers=$WORKSPACE_DIR/instance.crt.headers
  # The answer, or its start, as shown in the log and the report: printable bytes only (an answer's own newlines and
  # terminal escapes had made lines of the log of their own; probe 56 #6).
  # Never failing: under `set -E` the ERR trap runs in a substitution too, and would report a second failure (review 62 #3).
  # Its line ends become spaces, its last ones dropped, as a command substitution drops them.
  shown_answer() {
    local text=""
    if [[ -f $answer ]]; then text=$(head -c "$1" -- "$answer" | LC_ALL=C tr -c '[:print:]\n' '?' || true); fi
    printf '%s' "${text//$'\n'/ }"
  }
  # Not kept on the instance's disk once the signing has failed.
  signing_failed() {
    rm -f -- "$answer" "$headers" "$csr"
    fail "$1"
  }
  for ((attempt = 1; ; attempt++)); do
    status=0
    rm -f -- "$headers"
    curl -sS -D "$headers" --max-time "$SIGN_CERT_TIMEOUT" --max-filesize "$max_answer" \
      -H 'Content-Type: application/octet-stream' --data-binary "@$csr" -X POST -K <(curl_url "$url") 2>>"$LOG_FILE" |
      head -c "$((max_answer + 1))" >"$answer" || status=$?
    # The last status line curl saw (a `100 Continue` may come first); none, as curl says it, when nothing answered.
    http=$( (sed -n 's/^HTTP\/[^ ]* \([0-9][0-9][0-9]\).*/\1/p' -- "$headers" 2>/dev/null || true) | tail -n 1)
    http=${http:-000}
    rm -f -- "$headers"
    local size
    size=$(stat -c %s -- "$answer" 2>/dev/null || echo 0)
    if ((size > max_answer)); then status=63; fi
    if ((status == 0)) && [[ $http == 2* ]]; then break; fi
    local why="HTTP $http"
    if ((status != 0)); then why="curl status $status$(curl_meaning "$status")"; fi
    if ((status == 63)); then why="an answer over $max_answer bytes, not a certificate chain"; fi
    if [[ -s $answer ]] && ((status != 63)); then why+=": $(shown_answer 300)"; fi
    rm -f -- "$answer"
    log "signing attempt $attempt/$SIGN_CERT_ATTEMPTS failed ($why)"
    if ((attempt >= SIGN_CERT_ATTEMPTS)); then
      local tries="$attempt attempts"
      if ((attempt == 1)); then tries="1 attempt"; fi
      signing_failed "signing the TLS certificate at $(shown_url "$url") failed after $tries ($why)"
    fi
    sleep "$delay"
    delay=$((delay * 2))
  done

  if ! openssl x509 -in "$answer" -noout 2>/dev/null; then
    signing_failed "the answer of $(shown_url "$url") is not a PEM certificate (it starts with: $(shown_answer 100))"
  fi
  if [[ $(openssl x509 -in "$answer" -noout -pubkey 2>/dev/null) != "$(openssl pkey -in "$TLS_KEY_FILE" -pubout 2>/dev/null)" ]]; then
    signing_failed "the certificate from $(shown_url "$url") is not for our key $TLS_KEY_FILE"
  fi
  if ! openssl x509 -in "$answer" -noout -checkend 0 >/dev/null 2>&1; then
    signing_failed "the certificate from $(shown_url "$url") has expired"
  fi
  mv -f "$answer" "$TLS_CERT_FILE"
  rm -f "$csr"
  log "TLS certificate signed and checked: $TLS_CERT_FILE (key $TLS_KEY_FILE)"
}

if [[ $USE_SSL == true ]]; then setup_tls; fi

# ---- 4. the consumer, and 5. the worker ---------------------------------------------------------------

export REPORT_ADDR WORKER_PORT USE_SSL CONTAINER_ID NULL_EXIT_FILE
export WORKER_TLS_KEY=$TLS_KEY_FILE WORKER_TLS_CERT=$TLS_CERT_FILE
# An earlier run's marker would hide a kill in this one.
if ! rm -f -- "$NULL_EXIT_FILE" 2>/dev/null; then fail "cannot remove the exit marker NULL_EXIT_FILE=$NULL_EXIT_FILE"; fi

# POST /recycle to the worker's control port, so that open sessions close now rather than after DRAIN_TIMEOUT.
# One short try: when it fails (no curl, the worker still starting), SIGTERM alone still stops the worker.
recycle_worker() {
  local url="http://127.0.0.1:${NULL_CONTROL_PORT:-18999}/recycle" status
  if ! command -v curl >/dev/null 2>&1; then return 0; fi
  status=$(printf '{"reason":%s}' "$(json_string "$1")" | curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
    -H 'Content-Type: application/json' --data-binary @- -X POST "$url" 2>/dev/null) || true
  if [[ $status == 2* ]]; then
    log "recycled the worker at $url (HTTP $status): its sessions are closed"
  else
    log "could not recycle the worker at $url (HTTP ${status:-000}): stopping it all the same"
  fi
}

# The consumer runs beside the worker, but the worker is exec'd, so no shell is left to wait for both.
# A background watcher subshell owns the consumer instead:
#   - it starts CONSUMER_CMD (`sh -c`, in its own session, output to CONSUMER_LOG) and waits for it. Everything the
#     consumer starts stays in that session, also what leaves its process group (`timeout`, which calls setpgid)
#     or outlives its parent, so the session is what is stopped: TERM to each of its processes, then KILL to
#     what is left 10 s later;
#   - a poller beside it checks every second that the worker ($$: exec keeps the PID) is alive, and
#     stops the consumer's session once the worker has gone;
#   - if the consumer exits while the worker is in a deliberate stop (SIGTERM, /pyworker/update: its /debug mode
#     says so), it went with its worker (a consumer that leaves when told `draining`, or a stop signal sent to every
#     process of the container): nothing is reported, and the poller stops what it left once the worker is gone;
#   - if the consumer exits while the worker is still serving, it stopped on its own: the watcher recycles
#     the worker (POST /recycle on the control port: its sessions close at once with reason `shutdown`,
#     callbacks go out, and it reports the reason as its error; SIGTERM alone would hold them for the
#     whole DRAIN_TIMEOUT, though nobody is left to end them), then stops it (SIGTERM), waits for it to go,
#     and only then reports "consumer exited with status N", so the worker's last report cannot hide it.
#     A worker without its consumer would take reservations that nobody serves;
#   - if the worker is gone without its exit marker (NULL_EXIT_FILE, removed before the worker starts,
#     written by it with its PID at the end of a deliberate stop), it was killed (out of memory,
#     SIGKILL), and nobody else will tell the autoscaler: the watcher reports it. The log cannot tell:
#     its format and level are the operator's, and it keeps earlier runs' lines.
# The worker's own exit status goes to whoever started this script (its PID is the worker's); the
# watcher cannot see it, and a SIGTERM from Vast is a normal stop, not an error.
start_consumer() {
  local worker_pid=$$
  (
    trap - ERR
    set +e
    # A zombie is gone too: a worker dead under a launcher that never reaps (Vast's entrypoint adopting a `nohup … &`
    # start) stays one, and `kill -0` succeeds on it (probe 55 #2: its consumer ran on, and its kill went unreported).
    alive() {
      local line
      kill -0 "$1" 2>/dev/null || return 1
      { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
      [[ ${line##*) } != Z* ]]
    }
    # The live processes of session $1, from /proc (`pid (comm) state ppid pgrp session …`; the name may hold spaces).
    session_members() {
      local stat line state sid
      for stat in /proc/[0-9]*/stat; do
        { read -r line <"$stat"; } 2>/dev/null || continue
        read -r state _ _ sid _ <<<"${line##*) }"
        if [[ $sid == "$1" && $state != Z ]]; then
          stat=${stat#/proc/}
          echo "${stat%/stat}"
        fi
      done
    }
    signal_each() {
      local pid
      for pid in "${@:2}"; do kill "-$1" "$pid" 2>/dev/null; done
    }
    # The consumer's session (setsid made it lead one), or without setsid its process group: TERM, then KILL to what
    # is left after 10 s.
    stop_group() {
      local -a members
      if [[ $own_session == true ]]; then
        mapfile -t members < <(session_members "$1")
        signal_each TERM "${members[@]}"
        for _ in {1..10}; do
          if [[ -z $(session_members "$1") ]]; then return 0; fi
          sleep 1
        done
        mapfile -t members < <(session_members "$1")
        signal_each KILL "${members[@]}"
        return 0
      fi
      kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
      for _ in {1..10}; do
        if ! alive "$1"; then return 0; fi
        sleep 1
      done
      kill -KILL -- "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null
    }
    # Whether the worker is in a deliberate stop (its /debug says `"stopping":true` from the drain's start, errored or
    # not). Asked again a second later when it is not: a stop signal sent to every process can end the consumer before
    # the worker's own handler has begun its stop.
    worker_stopping() {
      local attempt
      if ! command -v curl >/dev/null 2>&1; then return 1; fi
      for attempt in 1 2; do
        if curl -s --max-time 5 "http://127.0.0.1:${NULL_CONTROL_PORT:-18999}/debug" 2>/dev/null | grep -q '"stopping":true'; then return 0; fi
        if [[ $attempt == 1 ]]; then sleep 1; fi
      done
      return 1
    }
    # The consumer finds its worker's control server here (the worker's NULL_CONTROL_PORT, 18999 by default).
    export WORKER_CONTROL_URL=${WORKER_CONTROL_URL:-http://127.0.0.1:${NULL_CONTROL_PORT:-18999}}
    # And its webhook port (`POST /session/end` with session_auth), the worker's default when it is not set.
    export WORKER_HTTP_PORT=${WORKER_HTTP_PORT:-$((10#$WORKER_PORT + 1))}
    own_session=false
    if command -v setsid >/dev/null 2>&1; then
      setsid sh -c "$CONSUMER_CMD" </dev/null >>"$CONSUMER_LOG" 2>&1 &
      own_session=true
    else
      sh -c "$CONSUMER_CMD" </dev/null >>"$CONSUMER_LOG" 2>&1 &
    fi
    consumer=$!
    # A TERM to the whole process group (`timeout`, a terminal's job control) reaches the worker too: the watcher and
    # its poller stay, to stop the consumer once the worker is gone. Set after the consumer's start, which keeps TERM.
    trap '' TERM
    log "consumer started (PID $consumer, output in $CONSUMER_LOG): $CONSUMER_CMD"
    (
      while alive "$worker_pid"; do sleep 1; done
      log "the worker has exited: stopping the consumer"
      stop_group "$consumer"
    ) &
    poller=$!
    wait "$consumer"
    status=$?
    if alive "$worker_pid" && ! worker_stopping && alive "$worker_pid"; then
      # The consumer stopped on its own: the poller still waits for the worker (it ignores TERM, above). Reaped here,
      # with the shell's own notice of the kill ("Killed …", which reads like an out-of-memory kill) kept out of the log.
      { kill -KILL "$poller" && wait "$poller"; } 2>/dev/null
      log_error "consumer exited with status $status: recycling and stopping the worker"
      stop_group "$consumer" & # anything the consumer left behind
      recycle_worker "consumer exited with status $status"
      kill -TERM "$worker_pid" 2>/dev/null
      for _ in {1..30}; do
        if ! alive "$worker_pid"; then break; fi
        sleep 1
      done
      send_report "consumer exited with status $status"
    else
      if alive "$worker_pid"; then log "the consumer exited with status $status while the worker stops (not an error)"; fi
      # The worker is gone, or going, and the poller then stops the consumer's session: let it finish (its KILL included).
      wait "$poller"
      if [[ $(cat -- "$NULL_EXIT_FILE" 2>/dev/null) != "$worker_pid stopped" ]]; then
        log_error "the worker process was killed (no clean shutdown; out of memory?)"
        send_report "the worker process was killed (no clean shutdown; out of memory?)"
      fi
    fi
  ) &
}

log "starting the worker: $NODE_BIN $project/dist/main.js (its output goes to $LOG_FILE)"
# From here on, output goes to the log file only: the worker must not write into a pipe whose reader
# can go away, and the watcher must not hold our caller's stdout open.
exec >>"$LOG_FILE" 2>&1
LOG_READY=false # stdout is the log file now: log() must not write each line twice
if [[ -n ${CONSUMER_CMD:-} ]]; then start_consumer; fi
trap - ERR
exec "$NODE_BIN" "$project/dist/main.js"
