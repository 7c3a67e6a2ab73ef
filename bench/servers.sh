#!/usr/bin/env bash
# The event-model benchmark (issue 6): every echolab server model, in raw
# and in annotated mode, against a Node.js echo server and, at one
# connection, against sockperf's own ping-pong pair. Closed loop, 64-byte
# messages, --quiet, measured with echolab-load; every figure is the median
# of --runs runs, the runs of all servers interleaved so that they share
# the machine's moods. Writes results/servers-<timestamp>/report.md and
# raw.csv, and prints the report.
#
#   bench/servers.sh [--runs N] [--duration S] [--conns LIST]
#                    [--models LIST] [--out DIR]
#
# Client and server share the machine's CPUs: the figures compare servers
# with each other under the same client, not with other machines.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
duration=2
warmup=0.5
conns_list="1,100,1000"
models=""
out_root=results
usage() {
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--conns) conns_list=$2; shift 2 ;;
	--models) models=$2; shift 2 ;;
	--out) out_root=$2; shift 2 ;;
	--help | -h) usage; exit 0 ;;
	*) echo "bench/servers.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $runs in '' | *[!0-9]* | 0) echo "bench/servers.sh: bad --runs '$runs'" >&2; exit 2 ;; esac

server=build/echolab-server
load=build/echolab-load
[ -x "$server" ] && [ -x "$load" ] || { echo "bench/servers.sh: build first (meson compile -C build)" >&2; exit 1; }
[ -n "$models" ] || models=$("$server" --list-models | cut -f1 | paste -sd, -)
IFS=, read -r -a model_arr <<<"$models"
IFS=, read -r -a conns_arr <<<"$conns_list"
have_node=0
command -v node >/dev/null && have_node=1
have_sockperf=0
command -v sockperf >/dev/null && have_sockperf=1

stamp=$(date +%Y%m%d-%H%M%S)
dir=$out_root/servers-$stamp
mkdir -p "$dir"
raw_csv=$dir/raw.csv
echo "run,mode,server,conns,msgs_per_s,p50_us,p99_us,errors" >"$raw_csv"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'echo "bench/servers.sh: interrupted; partial results in $dir" >&2; exit 130' INT TERM

# start_server NAME MODE: starts it on a free port; sets server_pid, port.
start_server() {
	local name=$1 mode=$2 err=$dir/server.err
	: >"$err"
	if [ "$name" = node ]; then
		node -e '
const net = require("net");
const s = net.createServer(c => { c.on("error", () => {}); c.pipe(c); });
s.listen(0, "127.0.0.1", () => console.error("listening on 127.0.0.1:" + s.address().port));
process.on("SIGTERM", () => process.exit(0));' 2>"$err" &
	else
		local flags=(--model "$name" --port 0 --quiet --backlog 4096)
		[ "$mode" = raw ] && flags+=(--raw)
		"$server" "${flags[@]}" 2>"$err" >/dev/null &
	fi
	server_pid=$!
	port=""
	for _ in $(seq 200); do
		port=$(sed -n 's/^listening on .*:\([0-9]*\).*/\1/p' "$err" | head -1)
		[ -n "$port" ] && return 0
		sleep 0.02
	done
	echo "bench/servers.sh: $name did not start: $(head -c 300 "$err")" >&2
	return 1
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# measure RUN MODE NAME CONNS: one echolab-load run, one row of raw.csv.
measure() {
	local run=$1 mode=$2 name=$3 conns=$4 json=$dir/load.json
	start_server "$name" "$mode" || { echo "$run,$mode,$name,$conns,,,,start" >>"$raw_csv"; return; }
	local flags=(--port "$port" --conns "$conns" --size 64 --duration "$duration" --warmup "$warmup"
		--quiet --json "$json")
	[ "$mode" = raw ] && flags+=(--raw)
	rm -f "$json"
	"$load" "${flags[@]}" >/dev/null 2>&1 || true
	stop_server
	if [ -s "$json" ]; then
		awk -v pre="$run,$mode,$name,$conns" '
			/"msgs_per_s"/ { gsub(/[,]/, "", $2); r = $2 }
			/"p50"/ { gsub(/[,]/, "", $2); p50 = $2 }
			/"p99"/ { gsub(/[,]/, "", $2); p99 = $2 }
			/"errors"/ { match($0, /"total": [0-9]+/); e = substr($0, RSTART + 9, RLENGTH - 9) }
			END { printf "%s,%s,%s,%s,%s\n", pre, r, p50, p99, e }' "$json" >>"$raw_csv"
	else
		echo "$run,$mode,$name,$conns,,,,no-result" >>"$raw_csv"
	fi
}

servers_for() { # MODE
	printf '%s\n' "${model_arr[@]}"
	[ "$1" = raw ] && [ $have_node = 1 ] && echo node
	return 0
}

total=0
for mode in raw annotated; do
	total=$((total + $(servers_for $mode | wc -l) * ${#conns_arr[@]}))
done
total=$((total * runs))
step=0
start_s=$(date +%s)
for run in $(seq "$runs"); do
	for conns in "${conns_arr[@]}"; do
		for mode in raw annotated; do
			for name in $(servers_for $mode); do
				step=$((step + 1))
				elapsed=$(($(date +%s) - start_s))
				left=$(((total - step + 1) * elapsed / (step > 1 ? step - 1 : 1)))
				[ "$step" -eq 1 ] && left="?"
				printf '\r[%d/%d] run %d, %s, %s, %s conns, about %ss left   ' \
					"$step" "$total" "$run" "$mode" "$name" "$conns" "$left" >&2
				measure "$run" "$mode" "$name" "$conns"
			done
		done
	done
done
echo >&2

# Medians per mode, server and connection count.
medians=$dir/medians.csv
awk -F, 'NR > 1 && $5 != "" {
		k = $2 "," $3 "," $4
		n[k]++; r[k, n[k]] = $5; a[k, n[k]] = $6; b[k, n[k]] = $7; e[k] += $8
	}
	function med(arr, k, m,   i, j, t, v) {
		for (i = 1; i <= m; i++) v[i] = arr[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	END { print "mode,server,conns,runs,msgs_per_s,p50_us,p99_us,errors"
		for (k in n) printf "%s,%d,%.0f,%.1f,%.1f,%d\n", k, n[k], med(r, k, n[k]), med(a, k, n[k]), med(b, k, n[k]), e[k] }' \
	"$raw_csv" | sort -t, -k1,1 -k3,3n -k5,5nr >"$medians"

# The best echolab model: the highest median msgs/s at 100 connections in
# raw mode (the references do the same work).
best=$(awk -F, '$1 == "raw" && $3 == 100 && $2 != "node" && $8 == 0 { print $5, $2 }' "$medians" | sort -nr | head -1 | cut -d' ' -f2)
node_rate=$(awk -F, '$1 == "raw" && $3 == 100 && $2 == "node" { print $5 }' "$medians")
best_rate=$(awk -F, -v b="$best" '$1 == "raw" && $3 == 100 && $2 == b { print $5 }' "$medians")

# sockperf at 1 connection: its ping-pong pair, and echolab-load against
# the best model, alternating, 5 rounds each, medians of their p50s.
sock_p50=""
ours_p50=""
if [ $have_sockperf = 1 ] && [ -n "$best" ]; then
	sp=$dir/sockperf.txt
	: >"$sp"
	for i in 1 2 3 4 5; do
		printf '\rsockperf round %d of 5          ' "$i" >&2
		sport=$((20000 + RANDOM % 20000))
		sockperf server --tcp -i 127.0.0.1 -p "$sport" >/dev/null 2>&1 &
		spid=$!
		sleep 0.3
		sockperf ping-pong --tcp --full-rtt -i 127.0.0.1 -p "$sport" -m 64 -t "$(awk -v d="$duration" 'BEGIN { printf "%d", d < 1 ? 1 : d + 0.5 }')" 2>&1 |
			sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/sockperf \1/p' >>"$sp"
		kill "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null || true
		start_server "$best" raw
		"$load" --port "$port" --raw --conns 1 --size 64 --duration "$duration" --warmup "$warmup" \
			--quiet --percentiles 50 --json "$dir/load.json" >/dev/null 2>&1 || true
		stop_server
		awk '/"p50"/ { gsub(/,/, "", $2); print "echolab", $2 }' "$dir/load.json" >>"$sp"
	done
	echo >&2
	median_of() { awk -v w="$1" '$1 == w { print $2 }' "$sp" | sort -n | awk '{ v[NR] = $1 } END { if (NR) print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
	sock_p50=$(median_of sockperf)
	ours_p50=$(median_of echolab)
fi

report=$dir/report.md
{
	echo "# echolab server models: messages/s and RTT"
	echo
	echo "Machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)."
	echo "Client (echolab-load) and server share these $(nproc) CPUs: a figure says how"
	echo "servers compare under one client here, not what a server does alone."
	echo
	echo "Closed loop, one 64-byte message in flight per connection, --quiet,"
	echo "${duration} s measured after ${warmup} s, median of $runs interleaved runs."
	[ $have_node = 1 ] && echo "Node.js reference: $(node --version), net.createServer(s => s.pipe(s)) with an error handler (raw mode only)."
	echo
	for mode in raw annotated; do
		echo "## $mode mode"
		echo
		echo "| server | conns | msgs/s | RTT p50 us | RTT p99 us | errors |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: |"
		awk -F, -v m="$mode" '$1 == m { printf "| %s | %s | %s | %s | %s | %s |\n", $2, $3, $5, $6, $7, $8 }' "$medians" | sort -t'|' -k3,3n -k4,4nr
		echo
	done
	echo "## Targets"
	echo
	if [ -n "$best" ] && [ -n "$node_rate" ]; then
		awk -v b="$best" -v r="$best_rate" -v n="$node_rate" 'BEGIN {
			x = r / n; printf "- Best model at 100 connections (raw): **%s**, %.0f msgs/s = **%.2fx** Node.js (%.0f msgs/s); target 1.8x: %s.\n", b, r, x, n, (x >= 1.8 ? "met" : "NOT met") }'
	else
		echo "- Node.js comparison: not run (node missing or no model measured)."
	fi
	if [ -n "$sock_p50" ] && [ -n "$ours_p50" ]; then
		awk -v b="$best" -v o="$ours_p50" -v s="$sock_p50" 'BEGIN {
			x = o / s; printf "- RTT p50 at 1 connection: echolab-load to %s (raw) %.1f us, sockperf ping-pong to sockperf server %.3f us: **%.2fx**; target 1.1x: %s (5 alternating rounds, medians).\n", b, o, s, x, (x <= 1.1 ? "met" : "NOT met") }'
	else
		echo "- sockperf comparison: not run (sockperf missing)."
	fi
	echo
	echo "Raw rows: raw.csv; medians: medians.csv; sockperf rounds: sockperf.txt."
} >"$report"
rm -f "$dir/load.json" "$dir/server.err"
cat "$report"
ln -sfn "servers-$stamp" "$out_root/servers-latest"
echo "bench/servers.sh: report in $report" >&2
