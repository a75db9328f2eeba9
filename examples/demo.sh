#!/usr/bin/env bash
# One-command local demo of fhir-pep: starts ntn-sim, pcm-sim, the Node FHIR
# server and the PEP (bin/fhir-pep) on loopback, walks through real requests
# with curl, then keeps the stack running until Ctrl-C. See examples/DEMO.md.
#
#   make demo                      walk-through, then keep running (Ctrl-C stops everything, exit 0)
#   make demo DEMO_ARGS=--once     walk-through, then stop (CI, smoke test); exit 1 if a step
#                                  did not answer as expected
#   examples/demo.sh [--once]      the same, once `make build` and the npm packages are there
#
# Needs: bin/fhir-pep and examples/fhir-server/node_modules (`make demo` provides
# both), go, node, curl. The FHIR server serves the repository's own data
# (examples/fhir-server/data). Ports and paths come from the environment
# (defaults: examples/README.md):
#   PEP_PORT=9443 PEP_ADMIN_PORT=2019 PCM_PORT=9444 PCM_ADMIN_PORT=9454
#   NTN_PORT=9445 NTN_ADMIN_PORT=9455 FHIR_PORT=8103
#   DEMO_STATE=examples/demo-state  PEP_LOG_LEVEL=INFO  NTN_REFRESH=10s  PCM_CACHE_TTL=2s
# Every command the walk-through prints runs as shown in another shell after
#   source examples/demo-state/env.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ONCE=0
for arg in "$@"; do
	case $arg in
	--once) ONCE=1 ;;
	-h | --help)
		sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo.sh: unknown argument $arg (try --help)" >&2
		exit 2
		;;
	esac
done

PEP_PORT=${PEP_PORT:-9443}
PEP_ADMIN_PORT=${PEP_ADMIN_PORT:-2019}
PCM_PORT=${PCM_PORT:-9444}
PCM_ADMIN_PORT=${PCM_ADMIN_PORT:-9454}
NTN_PORT=${NTN_PORT:-9445}
NTN_ADMIN_PORT=${NTN_ADMIN_PORT:-9455}
FHIR_PORT=${FHIR_PORT:-8103}
PEP_LOG_LEVEL=${PEP_LOG_LEVEL:-INFO}
NTN_REFRESH=${NTN_REFRESH:-10s}
PCM_CACHE_TTL=${PCM_CACHE_TTL:-2s}
STATE=${DEMO_STATE:-$ROOT/examples/demo-state}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
PKI=$STATE/pki
LOGS=$STATE/logs
BIN=$ROOT/bin

PEP=https://localhost:$PEP_PORT
FHIR_BASE=/fhir/R4
PCM_ADMIN=http://127.0.0.1:$PCM_ADMIN_PORT
NTN_ADMIN=http://127.0.0.1:$NTN_ADMIN_PORT
UPSTREAM=http://127.0.0.1:$FHIR_PORT/fhir/R4
PEP_ADMIN=http://localhost:$PEP_ADMIN_PORT
SUMMARIZE=(node "$ROOT/examples/demo/summarize.js")
IG_BUCKETS=http://fhir.health.gov.il/cs/il-hdp-information-buckets

if [[ -t 1 ]]; then
	BOLD=$'\e[1m' DIM=$'\e[2m' GREEN=$'\e[32m' RED=$'\e[31m' RESET=$'\e[0m'
else
	BOLD='' DIM='' GREEN='' RED='' RESET=''
fi

die() {
	echo "${RED}demo.sh: $*${RESET}" >&2
	exit 1
}

# --- prerequisites -----------------------------------------------------------

for cmd in go node curl; do
	command -v "$cmd" >/dev/null || die "$cmd is required"
done
[[ -x $BIN/fhir-pep ]] || die "bin/fhir-pep is missing: run 'make demo' (it builds it)"
[[ -d examples/fhir-server/node_modules/@medplum/fhir-router ]] ||
	die "examples/fhir-server/node_modules is missing: run 'make demo' (it installs it)"

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for port in "$PEP_PORT" "$PEP_ADMIN_PORT" "$PCM_PORT" "$PCM_ADMIN_PORT" "$NTN_PORT" "$NTN_ADMIN_PORT" "$FHIR_PORT"; do
	if port_busy "$port"; then
		die "port $port is in use (another demo still running?); set the *_PORT variables to move the demo"
	fi
done

# --- process management ------------------------------------------------------

# Every component runs in its own process group (job control), so stopping
# it stops everything it started, and Ctrl-C in the terminal reaches only
# this script, which then stops the components in order.
set -m
NAMES=()
PIDS=()
STOPPED=0

start() { # name logfile command...
	local name=$1 log=$2
	shift 2
	"$@" </dev/null >"$log" 2>&1 &
	NAMES+=("$name")
	PIDS+=("$!")
}

pid_of() {
	local i
	for i in "${!NAMES[@]}"; do
		if [[ ${NAMES[$i]} == "$1" ]]; then
			echo "${PIDS[$i]}"
			return
		fi
	done
}

# group_alive pgid: is any process of the group left? (kill -0 on a group
# works without procps, which minimal machines lack.)
group_alive() {
	kill -0 -- "-$1" 2>/dev/null
}

stop_all() {
	[[ $STOPPED == 1 ]] && return
	STOPPED=1
	((${#PIDS[@]} == 0)) && return
	echo
	echo "${BOLD}Stopping the demo stack${RESET}"
	local i pid deadline left
	# Reverse start order: the PEP first, the FHIR server last.
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM -- "-${PIDS[$i]}" 2>/dev/null || true
	done
	deadline=$((SECONDS + 15))
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[$i]}
		while group_alive "$pid" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		if group_alive "$pid"; then
			echo "  ${NAMES[$i]} did not stop within 15s: killing it"
			kill -KILL -- "-$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	left=0
	for ((i = 0; i < ${#PIDS[@]}; i++)); do
		if group_alive "${PIDS[$i]}"; then
			echo "  ${RED}still running: ${NAMES[$i]} (process group ${PIDS[$i]})${RESET}"
			left=1
		fi
	done
	if ((left == 0)); then
		echo "  stopped: ${NAMES[*]} (no process left in their process groups)"
	fi
	echo "  logs: $LOGS/"
}
trap stop_all EXIT
# Ctrl-C is how the demo is meant to end: stop everything, exit 0.
trap 'echo; echo "Ctrl-C: stopping."; exit 0' INT
trap 'exit 143' TERM

# wait_ready name logfile regex seconds: wait for a component's ready line.
wait_ready() {
	local name=$1 log=$2 regex=$3 deadline=$((SECONDS + $4)) pid
	pid=$(pid_of "$name")
	until grep -Eq "$regex" "$log" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "--- $log" >&2
			tail -n 20 "$log" >&2
			die "$name exited before it was ready"
		fi
		((SECONDS < deadline)) || die "$name not ready after $4s (see $log)"
		sleep 0.1
	done
}

# wait_until seconds description command...: poll a condition.
wait_until() {
	local deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		((SECONDS < deadline)) || die "timed out after $1s waiting for $what"
		sleep 0.2
	done
}

# --- start the stack ---------------------------------------------------------

T0=$SECONDS
echo "${BOLD}fhir-pep demo${RESET} (state: $STATE)"
echo "Building the example commands into bin/ ..."
go build -o "$BIN/" ./examples/cmd/...

"$BIN/demo-pki" -dir "$PKI" | sed 's/^/  /'
mkdir -p "$LOGS"

# The HMAC key that pseudonymises patients in audit records.
if [[ ! -s $STATE/audit-hmac.key ]]; then
	(umask 077 && head -c 48 /dev/urandom | base64 >"$STATE/audit-hmac.key")
fi
# The key that seals paging links.
if [[ ! -s $STATE/paging.key ]]; then
	(umask 077 && head -c 32 /dev/urandom | base64 >"$STATE/paging.key")
fi

# Rollback protection: the PEP refuses a manifest version lower than the one
# it saw last. ntn-sim keeps its version in ntn-sim.json; without that file
# it starts again at 1, so the PEP's NTN state must go too.
if [[ ! -f $STATE/ntn-sim.json ]]; then
	rm -rf "$STATE/pep-ntn"
fi

start ntn-sim "$LOGS/ntn-sim.log" "$BIN/ntn-sim" -pki "$PKI" -addr "127.0.0.1:$NTN_PORT" \
	-admin "127.0.0.1:$NTN_ADMIN_PORT" -state "$STATE/ntn-sim.json"
start pcm-sim "$LOGS/pcm-sim.log" "$BIN/pcm-sim" -pki "$PKI" -addr "127.0.0.1:$PCM_PORT" \
	-admin "127.0.0.1:$PCM_ADMIN_PORT" -resource "$PEP$FHIR_BASE"
start fhir-server "$LOGS/fhir-server.log" env PORT="$FHIR_PORT" HOST=127.0.0.1 LOG_REQUESTS=1 \
	bash -c 'cd examples/fhir-server && exec node src/server.js'
wait_ready ntn-sim "$LOGS/ntn-sim.log" '^ntn-sim ready' 30
wait_ready pcm-sim "$LOGS/pcm-sim.log" '^pcm-sim ready' 30

# A demo interrupted half-way may have left a member removed in ntn-sim's
# state file; every run starts with all demo members active.
for member in org-sp-hospital-a org-sp-clinic-c; do
	curl -fsS -X POST "$NTN_ADMIN/admin/members/$member/restore" >/dev/null
done

start fhir-pep "$LOGS/fhir-pep.log" env PKI="$PKI" STATE_DIR="$STATE/pep-ntn" AUDIT_KEY="$STATE/audit-hmac.key" PAGING_KEY="$STATE/paging.key" \
	PEP_PORT="$PEP_PORT" PEP_ADMIN_PORT="$PEP_ADMIN_PORT" PCM_PORT="$PCM_PORT" NTN_PORT="$NTN_PORT" \
	FHIR_PORT="$FHIR_PORT" PEP_LOG_LEVEL="$PEP_LOG_LEVEL" NTN_REFRESH="$NTN_REFRESH" PCM_CACHE_TTL="$PCM_CACHE_TTL" \
	XDG_DATA_HOME="$STATE/caddy/data" XDG_CONFIG_HOME="$STATE/caddy/config" \
	"$BIN/fhir-pep" run --config "$ROOT/examples/demo/Caddyfile" --adapter caddyfile
wait_ready fhir-server "$LOGS/fhir-server.log" '^ready ' 60
wait_ready fhir-pep "$LOGS/fhir-pep.log" 'serving initial configuration' 30

manifest_fresh() {
	curl -fsS "$PEP_ADMIN/metrics" 2>/dev/null | grep -q '^caddy_fhir_pep_ntn_manifest_stale 0'
}
wait_until 30 "the PEP's first NTN manifest" manifest_fresh

# --- env.sh: the printed commands, runnable as shown --------------------------

# One curl config file per demo client (curl -K): the client certificate,
# its key and the demo TLS CA, so that a printed command stays short and
# runs as shown, whatever the state directory's path.
CURLCONF=$STATE/curl
mkdir -p "$CURLCONF"
client_var() { # hospital-a-expired -> HOSPITAL_A_EXPIRED
	local v=${1^^}
	echo "${v//-/_}"
}
ENV_SH=$STATE/env.sh
(
	umask 077
	cat >"$ENV_SH" <<EOF
# Written by examples/demo.sh: source it, and the commands the demo prints
# run as shown (while the demo runs). It holds demo tokens: keep it to yourself.
export PEP='$PEP$FHIR_BASE'
export PEP_ADMIN='$PEP_ADMIN'
export PCM_ADMIN='$PCM_ADMIN'
export NTN_ADMIN='$NTN_ADMIN'
export UPSTREAM='$UPSTREAM'
export PKI='$PKI'
export AUDIT_LOG='$LOGS/fhir-pep.log'
EOF
)
for client in hospital-a hospital-a-expired clinic-c unknown; do
	case $client in
	hospital-a) path=members/org-sp-hospital-a/client ;;
	hospital-a-expired) path=members/org-sp-hospital-a/client-expired ;;
	clinic-c) path=members/org-sp-clinic-c/client ;;
	unknown) path=members/org-sp-unknown/client ;;
	esac
	printf 'cacert = "%s"\ncert = "%s"\nkey = "%s"\n' "$PKI/tls/ca.crt" "$PKI/$path.crt" "$PKI/$path.key" >"$CURLCONF/$client.conf"
	echo "export $(client_var "$client")='$CURLCONF/$client.conf'   # curl -K: $client's certificate" >>"$ENV_SH"
done

echo
echo "${BOLD}Running (ready after $((SECONDS - T0))s)${RESET}"
cat <<EOF
  fhir-pep (Caddy)  $PEP$FHIR_BASE          mTLS, NTN members only; admin + /metrics: $PEP_ADMIN
  pcm-sim           https://localhost:$PCM_PORT           PCM token + introspection; admin: $PCM_ADMIN
  ntn-sim           https://localhost:$NTN_PORT           NTN manifest; admin: $NTN_ADMIN
  fhir-server       $UPSTREAM   the upstream FHIR server (loopback, no auth)
  PKI               $PKI
  logs              $LOGS/

Every command below runs as shown in another terminal after
  ${BOLD}source ${ENV_SH#"$ROOT/"}${RESET}
(certificates as curl config files \$HOSPITAL_A, \$CLINIC_C...; tokens as \$T18, \$T26...).
EOF

# --- the walk-through --------------------------------------------------------

FAILURES=0
STEPS=0
BODY=$STATE/last-body.json
HEADERS=$STATE/last-headers.txt
DECISIONS=caddy_fhir_pep_decisions_total
REJECTIONS=caddy_fhir_pep_ntn_handshake_rejections_total
# Decisions and refused handshakes caused by the demo's own polling
# (waiting for a revocation to take effect), left out of the final counters.
POLLED=$STATE/polled-decisions.json
POLLED_REJECTIONS=$STATE/polled-rejections.json
rm -f "$POLLED" "$POLLED_REJECTIONS"

section() {
	echo
	echo "${BOLD}== $*${RESET}"
}

metrics() {
	curl -fsS "$PEP_ADMIN/metrics" 2>/dev/null || true
}

# send <client> <token> <path-or-url>: one request to the PEP; sets STATUS
# (000 when the TLS handshake failed) and CURL_ERROR.
send() {
	local client=$1 token=$2 target=$3 auth=()
	[[ $target == https://* ]] || target=$PEP$FHIR_BASE$target
	[[ -n $token ]] && auth=(-H "Authorization: Bearer $token")
	: >"$BODY"
	: >"$HEADERS"
	CURL_ERROR=
	STATUS=$(curl -sS --max-time 20 -o "$BODY" -D "$HEADERS" -w '%{http_code}' -K "$CURLCONF/$client.conf" "${auth[@]}" "$target" 2>"$STATE/curl-error.txt") || true
	CURL_ERROR=$(head -n 1 "$STATE/curl-error.txt")
}

# decision_of <decision-id>: "<outcome> <reason>" from the PEP's audit log
# (the record is written as the answer leaves; wait for it briefly).
decision_of() {
	local id=$1 found='' deadline=$((SECONDS + 3))
	while [[ -z $found ]] && ((SECONDS < deadline)); do
		found=$("${SUMMARIZE[@]}" decision "$id" <"$LOGS/fhir-pep.log")
		[[ -n $found ]] || sleep 0.1
	done
	echo "${found:-? (no audit record found)}"
}

# rejection_reason <before.json>: the verifier's reason for a refused
# handshake, from the growth of its rejection counter.
rejection_reason() {
	local before=$1 grown='' deadline=$((SECONDS + 3))
	while [[ -z $grown ]] && ((SECONDS < deadline)); do
		grown=$(metrics | "${SUMMARIZE[@]}" increased "$REJECTIONS" "$before" | sed -n 's/^reason="\([^"]*\)".*/\1/p' | paste -sd, -)
		[[ -n $grown ]] || sleep 0.1
	done
	echo "${grown:-unknown (no rejection counted)}"
}

# expect <status|tls> <client> <token-name> <path> <explanation>
expect() {
	local want=$1 client=$2 token_name=$3 path=$4 what=$5 token='' shown before=$STATE/rejections-before.json
	[[ -n $token_name ]] && token=${!token_name}
	STEPS=$((STEPS + 1))
	echo
	echo "$what"
	shown=$path
	[[ $shown == https://* ]] && shown=${shown#"$PEP"}
	shown=${shown#"$FHIR_BASE"}
	echo "  ${DIM}\$ curl -K \"\$$(client_var "$client")\"${token_name:+ -H \"Authorization: Bearer \$$token_name\"} \"\$PEP$shown\"${RESET}"
	if [[ $want == tls ]]; then
		metrics | "${SUMMARIZE[@]}" series "$REJECTIONS" >"$before"
	fi
	send "$client" "$token" "$path"
	local verdict="${GREEN}as expected${RESET}"
	if [[ $want == tls ]]; then
		if [[ $STATUS != 000 ]]; then
			verdict="${RED}UNEXPECTED (wanted the TLS handshake to fail)${RESET}"
			FAILURES=$((FAILURES + 1))
			echo "  -> HTTP $STATUS  [$verdict]"
			return
		fi
		echo "  -> refused in the TLS handshake by the ntn verifier, reason: ${BOLD}$(rejection_reason "$before")${RESET}  [$verdict]"
		echo "     ${DIM}(from $REJECTIONS; no HTTP request was made, so there is no decision id)${RESET}"
		return
	fi
	if [[ $STATUS != "$want" ]]; then
		verdict="${RED}UNEXPECTED (wanted $want)${RESET}"
		FAILURES=$((FAILURES + 1))
	fi
	if [[ $STATUS == 000 ]]; then
		echo "  -> no HTTP answer: $CURL_ERROR  [$verdict]"
		return
	fi
	echo "  -> HTTP $STATUS  [$verdict]"
	echo "     $("${SUMMARIZE[@]}" body <"$BODY")"
	local h id audit
	for h in www-authenticate retry-after; do
		grep -i "^$h:" "$HEADERS" | tr -d '\r' | sed 's/^/     /' || true
	done
	id=$(grep -i '^x-fhir-pep-decision-id:' "$HEADERS" | head -n 1 | cut -d: -f2- | tr -d ' \r')
	if [[ -n $id ]]; then
		audit=$(decision_of "$id")
		[[ $audit == "allow -" ]] && audit="allow allowed"
		echo "     reason: ${BOLD}${audit#* }${RESET}  outcome: ${audit%% *}  decision id: $id"
	else
		echo "     ${RED}no X-Fhir-Pep-Decision-Id header${RESET}"
	fi
}

# poll <seconds> <description> <command...>: wait_until, with the decisions
# and handshake refusals the polling causes left out of the final counters.
poll() {
	local m before=$STATE/poll-before.json before_rej=$STATE/poll-before-rejections.json
	m=$(metrics)
	"${SUMMARIZE[@]}" series "$DECISIONS" <<<"$m" >"$before"
	"${SUMMARIZE[@]}" series "$REJECTIONS" <<<"$m" >"$before_rej"
	wait_until "$@"
	m=$(metrics)
	"${SUMMARIZE[@]}" accumulate "$DECISIONS" "$before" "$POLLED" <<<"$m"
	"${SUMMARIZE[@]}" accumulate "$REJECTIONS" "$before_rej" "$POLLED_REJECTIONS" <<<"$m"
}

# mint <var> <member> <patient> <scope> [ttl]: a token from pcm-sim's admin API.
mint() {
	local var=$1 member=$2 patient=$3 scope=$4 ttl=${5:-1h} answer
	answer=$(curl -fsS -X POST "$PCM_ADMIN/admin/tokens" -H 'Content-Type: application/json' \
		-d "{\"patient\":\"$patient\",\"scope\":\"$scope\",\"member\":\"$member\",\"ttl\":\"$ttl\"}")
	printf -v "$var" '%s' "$(printf '%s' "$answer" | "${SUMMARIZE[@]}" field token)"
	printf -v "${var}_ID" '%s' "$(printf '%s' "$answer" | "${SUMMARIZE[@]}" field id)"
	printf '%s' "$answer" | "${SUMMARIZE[@]}" field introspection >"$STATE/claims-$var.json"
	echo "export $var='${!var}'   # $member, patient $patient" >>"$ENV_SH"
	echo "  \$$var: for $member, patient $patient, scope: $scope"
}

LAB_SCOPE="patient/Observation.rs?_security=$IG_BUCKETS|LaboratoryTests"

section "1. PCM tokens (minted through pcm-sim's admin API, as PCM would after a consent)"
mint T18 hospital-a 000000018 "$LAB_SCOPE"
mint T26 hospital-a 000000026 "$LAB_SCOPE"
mint TC clinic-c 000000026 "$LAB_SCOPE"
echo "  Each token is opaque; the PEP learns its meaning by RFC 7662 introspection at pcm-sim,"
echo "  and it is bound to the certificate of the member it was minted for (cnf.x5t#S256)."

section "2. Allowed"
expect 200 hospital-a T18 /Observation \
	"Hospital A asks for Observations of patient 000000018: only the lab-bucket ones come back."
expect 200 hospital-a T18 /Observation/p1-hemoglobin \
	"A read of one of them (the PEP checks the upstream search proves it is the patient's)."
expect 200 hospital-a T18 /metadata \
	"The CapabilityStatement (holds no patient data)."

section "3. Narrowed: what the upstream was asked"
expect 200 hospital-a T26 '/Observation?category=laboratory&_count=2' \
	"Hospital A searches lab Observations of patient 000000026, two per page."
echo "  The PEP added the patient and the scope's buckets before asking the upstream. The upstream"
echo "  echoes the query it ran in the self link (rewritten by the PEP to point at itself):"
"${SUMMARIZE[@]}" link self <"$BODY" | "${SUMMARIZE[@]}" query
NEXT=$("${SUMMARIZE[@]}" link next <"$BODY")
echo
echo "The same decision offline, from the token's introspection answer (nothing is sent anywhere):"
echo "  ${DIM}\$ bin/fhir-pep policy explain --claims ${STATE#"$ROOT/"}/claims-T26.json --request 'GET /Observation?category=laboratory' --patient-ids hdp-demo-patient-2${RESET}"
if "$BIN/fhir-pep" policy explain --claims "$STATE/claims-T26.json" --request 'GET /Observation?category=laboratory' \
	--patient-ids hdp-demo-patient-2 >"$STATE/explain.txt" 2>&1; then
	sed -n '/^decision/p; /^upstream requests/,$p' "$STATE/explain.txt" | sed 's/^/    /'
else
	echo "    ${RED}policy explain failed (exit status $?); its output is in $STATE/explain.txt${RESET}"
fi
if [[ -n $NEXT ]]; then
	expect 200 hospital-a T26 "$NEXT" \
		"Following the next link (it points at the PEP, which re-checks it like any request):"
fi

section "4. Bucket-filtered"
echo
echo "The upstream itself (no PEP) holds these Observations of patient 000000026:"
curl -fsS "$UPSTREAM/Observation?subject=Patient/hdp-demo-patient-2&_count=100" | "${SUMMARIZE[@]}" body | sed 's/^/     /'
expect 200 hospital-a T26 '/Observation?_count=100' \
	"Through the PEP, with a lab-bucket token: the measurements and the unlabelled one are not returned."

section "5. Denied"
expect 400 hospital-a T18 '/Observation?_has:Observation:subject:code=1234-5' \
	"_has reaches resources the PEP cannot bound: refused."
expect 403 hospital-a T18 /Condition \
	"Condition is not in the token's scopes: refused."
expect 403 hospital-a T18 "/Observation?_security=$IG_BUCKETS|measurements" \
	"Asking for a bucket the token does not grant: refused."

section "6. Another patient's data"
expect 403 hospital-a T18 /Patient/hdp-demo-patient-2 \
	"The token is for patient 000000018; Patient/hdp-demo-patient-2 is patient 000000026: refused."
expect 404 hospital-a T18 /Observation/p2-hemoglobin \
	"A read of patient 000000026's Observation: not found (indistinguishable from a missing id)."
expect 403 hospital-a T18 '/Observation?subject=Patient/hdp-demo-patient-2' \
	"A search naming the other patient: refused (other_patient) and audited, not narrowed to an empty result."
expect 404 hospital-a T18 /Observation/p2-home-glucose \
	"Patient 000000026's glucose test that patient 000000018 performed (she is its performer, not its subject): not hers, not found."

section "7. A token in the national PCM's shape, and data that never leaves"
# mint_national <var> <json>: a token in the shapes the national PCM issues
# (DESIGN.md section 4b), from pcm-sim's admin API (examples/README.md).
mint_national() {
	local var=$1 body=$2 answer
	answer=$(curl -fsS -X POST "$PCM_ADMIN/admin/tokens" -H 'Content-Type: application/json' -d "$body")
	printf -v "$var" '%s' "$(printf '%s' "$answer" | "${SUMMARIZE[@]}" field token)"
	printf '%s' "$answer" | "${SUMMARIZE[@]}" field introspection >"$STATE/claims-$var.json"
	echo "export $var='${!var}'   # national shape, hospital-a, patient 000000018" >>"$ENV_SH"
	echo "  \$$var: what PCM answers for it at introspection (${STATE#"$ROOT/"}/claims-$var.json):"
	for claim in patient consent_id access_type sp_organization_id scope baskets; do
		echo "    $claim: $("${SUMMARIZE[@]}" field "$claim" <"$STATE/claims-$var.json")"
	done
}
LAB_OR_MEASUREMENTS_SCOPE="patient/Observation.rs?_security=$IG_BUCKETS|LaboratoryTests,$IG_BUCKETS|Measurements"
mint_national T18N "{\"patient\":\"000000018\",\"patient_bare\":true,\"member\":\"hospital-a\",
	\"consent_id\":\"PCM-CONSENT-0001\",\"consent_id_claim\":true,\"access_type\":\"continuous\",
	\"sp_organization_id\":\"org-sp-hospital-a\",\"scope\":\"$LAB_OR_MEASUREMENTS_SCOPE\",
	\"baskets\":[{\"code\":\"laboratoryTests\",\"system\":\"$IG_BUCKETS\",\"historical_depth\":\"2020-01-01\"}]}"
expect 200 hospital-a T18N /Observation \
	"The bare patient means the national id system; the scope grants lab and measurements, the baskets lab only, and nothing before 2020: lab results since 2020 (not p1-glucose-2019)."
if grep -q '"p1-glucose-2019"' "$BODY"; then
	echo "  ${RED}p1-glucose-2019 (2019) left despite historical_depth 2020-01-01${RESET}"
	FAILURES=$((FAILURES + 1))
fi
echo
mint T34 hospital-a 000000034 "$LAB_SCOPE"
expect 200 hospital-a T34 /Observation \
	"Patient 000000034's lab results: p3-restricted-lab is a lab result, but it is labelled V (il-core-main-security-label), so it is not among them."
if grep -q '"p3-restricted-lab"' "$BODY"; then
	echo "  ${RED}p3-restricted-lab (labelled V) left the data source${RESET}"
	FAILURES=$((FAILURES + 1))
fi
echo "  The PEP asked the upstream to leave V-labelled data out: what the upstream received"
echo "  (its request log, $LOGS/fhir-server.log). An upstream that ignored it would get the"
echo "  whole answer refused with a generic 400. The client's self link shows only its own query."
upstream_query=$(grep '^request GET .*/Observation?' "$LOGS/fhir-server.log" | tail -n 1)
if [[ $upstream_query == *"_security%3Anot="* || $upstream_query == *"_security:not="* ]]; then
	echo "     ${upstream_query#request }" | sed -E 's/(patient|subject)=[^&]*/\1=.../g'
else
	echo "  ${RED}no _security:not in the upstream query${RESET}"
	FAILURES=$((FAILURES + 1))
fi
expect 404 hospital-a T34 /Observation/p3-restricted-lab \
	"A read of the V-labelled result: not found, byte for byte a missing id."

section "8. Tokens"
expect 401 hospital-a '' /Observation \
	"No token: 401 with an RFC 6750 challenge."
expect 401 hospital-a TC /Observation \
	"Clinic C's token presented by Hospital A: bound to another certificate (cnf.x5t#S256): 401."
expect 200 clinic-c TC /Observation \
	"The same token from Clinic C (a self-signed certificate pinned in the NTN manifest): allowed."
echo
echo "Revoking \$T26 at pcm-sim (the PEP caches introspection for at most cache_ttl $PCM_CACHE_TTL) ..."
curl -fsS -X POST "$PCM_ADMIN/admin/tokens/$T26_ID/revoke" >/dev/null
revoked_refused() {
	send hospital-a "$T26" /Observation
	[[ $STATUS == 401 ]]
}
t=$SECONDS
poll 20 "the revoked token to be refused" revoked_refused
echo "  refused after $((SECONDS - t))s:"
expect 401 hospital-a T26 /Observation "The revoked token:"

section "9. Trust: the NTN member manifest"
expect tls unknown '' /metadata \
	"A certificate of no NTN member: refused in the TLS handshake."
expect tls hospital-a-expired '' /metadata \
	"Hospital A's expired certificate (same member CA): refused in the TLS handshake."
echo
echo "Removing org-sp-hospital-a from NTN at ntn-sim; the PEP refreshes the manifest every $NTN_REFRESH ..."
curl -fsS -X POST "$NTN_ADMIN/admin/members/org-sp-hospital-a/remove" | sed 's/^/  ntn-sim: /'
echo
handshake_refused() {
	send hospital-a "$T18" /metadata
	[[ $STATUS == 000 ]]
}
t=$SECONDS
poll 40 "the removed member to be refused" handshake_refused
echo "  refused after $((SECONDS - t))s:"
expect tls hospital-a T18 /metadata "Hospital A, removed from NTN (connections already open get 403 on their next request):"
echo
echo "Restoring org-sp-hospital-a at ntn-sim ..."
curl -fsS -X POST "$NTN_ADMIN/admin/members/org-sp-hospital-a/restore" | sed 's/^/  ntn-sim: /'
echo
handshake_ok() {
	send hospital-a "$T18" /metadata
	[[ $STATUS == 200 ]]
}
t=$SECONDS
poll 40 "the restored member to be accepted" handshake_ok
echo "  accepted again after $((SECONDS - t))s."

section "10. PCM outage"
curl -fsS -X POST "$PCM_ADMIN/admin/outage" -d '{"on":true}' >/dev/null
echo "  pcm-sim outage ON"
mint TOUT hospital-a 000000018 "$LAB_SCOPE"
expect 503 hospital-a TOUT /Observation \
	"A token the PEP has not seen yet cannot be introspected: fail closed, 503 with Retry-After."
curl -fsS -X POST "$PCM_ADMIN/admin/outage" -d '{"on":false}' >/dev/null
echo
echo "  pcm-sim outage OFF"
expect 200 hospital-a TOUT /Observation "The same request once PCM is back:"

section "Audit: the last records the PEP wrote (logger http.handlers.fhir_pep.audit)"
echo "  No token and no national id: the patient appears only as an HMAC (audit patient_hash_key)."
"${SUMMARIZE[@]}" audit <"$LOGS/fhir-pep.log" | tail -n 5 | sed 's/^/  /'

section "PEP decisions of the walk-through ($DECISIONS on $PEP_ADMIN/metrics)"
echo "  ${DIM}(without the requests the demo sent while waiting for revocations to take effect)${RESET}"
metrics | "${SUMMARIZE[@]}" counters "$DECISIONS" "$POLLED" | sed 's/^/  /'
echo "  Refused TLS handshakes ($REJECTIONS), likewise:"
metrics | "${SUMMARIZE[@]}" counters "$REJECTIONS" "$POLLED_REJECTIONS" | sed 's/^/  /'

echo
if ((FAILURES > 0)); then
	echo "${RED}${BOLD}$FAILURES of $STEPS steps did not answer as expected${RESET} (logs: $LOGS/)"
	exit 1
fi
echo "${GREEN}${BOLD}All $STEPS steps answered as expected${RESET} ($((SECONDS - T0))s)."

if ((ONCE == 1)); then
	exit 0
fi
echo
echo "The stack keeps running; try the curl commands of examples/DEMO.md. Ctrl-C stops everything."
while :; do
	for i in "${!PIDS[@]}"; do
		if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
			die "${NAMES[$i]} exited (see $LOGS/${NAMES[$i]}.log)"
		fi
	done
	sleep 1 &
	wait $! || true
done
