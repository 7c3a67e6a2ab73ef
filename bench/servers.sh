#!/usr/bin/env bash
# The event-model benchmark (issues 6 and 15): every echolab server model,
# in raw and in annotated mode, against a Node.js echo server, any echo
# server given by --server, and, at one connection, sockperf's own
# ping-pong pair. Closed loop, 64-byte messages, --quiet, measured with
# echolab-load; every figure is the median of --runs runs, the runs of all
# servers interleaved so that they share the machine's moods, each run in
# a rotated order. Beside
# msgs/s, the server's capacity: messages per server CPU-second (msgs/s
# over the CPU share of the server's whole process tree, sampled by
# echolab-monitor over the measured window). Writes
# results/servers-<timestamp>/report.md and raw.csv, prints the report.
#
#   bench/servers.sh [--runs N] [--duration S] [--conns LIST] [--models LIST]
#                    [--server NAME=CMD]... [--annotated-server NAME=CMD]...
#                    [--no-pin] [--out DIR]
#
# The load's event loops are pinned one per CPU (echolab-load --pin): left
# to the scheduler, where they land decides the run (docs/decisions.md 46);
# --no-pin measures them unpinned.
# --server NAME=CMD: a plain echo server started by CMD (run by sh, {port}
# replaced by a free port), measured in raw mode beside the others;
# --annotated-server: one that speaks the echolab protocol (annotated).
# Client and server share the machine's CPUs: the figures compare servers
# with each other under the same client, not with other machines.
set -euo pipefail
cd "$(dirname "$0")/.."

cmdline="$*"
runs=3
duration=2
warmup=0.5
conns_list="1,100,1000"
models=""
out_root=results
pin=1
ext_names=()
ext_cmds=()
ext_modes=()
usage() {
	sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--conns) conns_list=$2; shift 2 ;;
	--models) models=$2; shift 2 ;;
	--out) out_root=$2; shift 2 ;;
	--no-pin) pin=0; shift ;;
	--server | --annotated-server)
		case $2 in
		*=*{port}*) ext_names+=("${2%%=*}"); ext_cmds+=("${2#*=}") ;;
		*) echo "bench/servers.sh: $1 wants NAME=CMD with {port} in CMD, not '$2'" >&2; exit 2 ;;
		esac
		if [ "$1" = --server ]; then ext_modes+=(raw); else ext_modes+=(annotated); fi
		shift 2 ;;
	--help | -h) usage; exit 0 ;;
	*) echo "bench/servers.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $runs in '' | *[!0-9]* | 0) echo "bench/servers.sh: bad --runs '$runs'" >&2; exit 2 ;; esac

server=build/echolab-server
load=build/echolab-load
monitor=build/echolab-monitor
[ -x "$server" ] && [ -x "$load" ] && [ -x "$monitor" ] || { echo "bench/servers.sh: build first (meson compile -C build)" >&2; exit 1; }
[ -n "$models" ] || models=$("$server" --list-models | cut -f1 | paste -sd, -)
IFS=, read -r -a model_arr <<<"$models"
IFS=, read -r -a conns_arr <<<"$conns_list"
have_node=0
command -v node >/dev/null && have_node=1
# Node.js is one more server by command.
node_js='const net = require("net");
const s = net.createServer(c => { c.on("error", () => {}); c.pipe(c); });
s.listen(+process.argv[1], "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));'
if [ $have_node = 1 ]; then
	ext_names=(node "${ext_names[@]}")
	ext_cmds=("exec node -e '$node_js' {port}" "${ext_cmds[@]}")
	ext_modes=(raw "${ext_modes[@]}")
fi
for n in "${ext_names[@]}"; do
	case $n in '' | *[!A-Za-z0-9_.-]*) echo "bench/servers.sh: a server's NAME is letters, digits, '_', '.', '-', not '$n'" >&2; exit 2 ;; esac
done
have_sockperf=0
command -v sockperf >/dev/null && have_sockperf=1

stamp=$(date +%Y%m%d-%H%M%S)
dir=$out_root/servers-$stamp
mkdir -p "$dir"
raw_csv=$dir/raw.csv
echo "run,mode,server,conns,msgs_per_s,p50_us,p99_us,errors,server_cpu,msgs_per_cpu_s" >"$raw_csv"
server_pid=""
mon_pid=""
cleanup() {
	[ -z "$mon_pid" ] || kill "$mon_pid" 2>/dev/null || true
	stop_server
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "bench/servers.sh: interrupted; partial results in $dir" >&2; exit 130' INT TERM

# ext_cmd NAME: the command of a server given by --server, or nothing.
ext_cmd() {
	local i
	for i in "${!ext_names[@]}"; do
		[ "${ext_names[$i]}" = "$1" ] && { printf '%s' "${ext_cmds[$i]}"; return 0; }
	done
	return 1
}

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server NAME MODE: starts it on a free port; sets server_pid, port.
start_server() {
	local name=$1 mode=$2 err=$dir/server.err cmd
	: >"$err"
	if cmd=$(ext_cmd "$name"); then
		# A port below the ephemeral range (the clients' own ports are
		# there) that nobody listens on; three tries, in case another
		# process took it first.
		local lo tries
		lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
		for tries in 1 2 3; do
			for _ in $(seq 20); do
				port=$((10000 + RANDOM % (lo - 10000)))
				port_open "$port" || break
			done
			# Its own process group, so that stop_server ends the whole tree.
			setsid sh -c "${cmd//\{port\}/$port}" 2>"$err" >/dev/null &
			server_pid=$!
			server_group=1
			for _ in $(seq 250); do
				port_open "$port" && return 0
				kill -0 "$server_pid" 2>/dev/null || break
				sleep 0.02
			done
			[ "$tries" = 3 ] || stop_server
		done
	else
		local flags=(--model "$name" --port 0 --quiet --backlog 4096)
		[ "$mode" = raw ] && flags+=(--raw)
		"$server" "${flags[@]}" 2>"$err" >/dev/null &
		server_pid=$!
		port=""
		for _ in $(seq 200); do
			port=$(sed -n 's/^listening on .*:\([0-9]*\).*/\1/p' "$err" | head -1)
			[ -n "$port" ] && return 0
			sleep 0.02
		done
	fi
	echo "bench/servers.sh: $name did not start: $(head -c 300 "$err")" >&2
	stop_server
	return 1
}

server_group=0
stop_server() {
	[ -n "$server_pid" ] || return 0
	if [ "$server_group" = 1 ]; then
		kill -- "-$server_pid" 2>/dev/null || true
	else
		kill "$server_pid" 2>/dev/null || true
	fi
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
	server_group=0
}

# measure RUN MODE NAME CONNS: one echolab-load run, one row of raw.csv.
measure() {
	local run=$1 mode=$2 name=$3 conns=$4 json=$dir/load.json cpu_csv=$dir/cpu.csv
	start_server "$name" "$mode" || { echo "$run,$mode,$name,$conns,,,,start,," >>"$raw_csv"; return; }
	local flags=(--port "$port" --conns "$conns" --size 64 --duration "$duration" --warmup "$warmup"
		--quiet --json "$json")
	[ "$mode" = raw ] && flags+=(--raw)
	[ "$pin" = 1 ] && flags+=(--pin)
	rm -f "$json" "$cpu_csv"
	# The server tree's CPU over the load's own measured window: sampled
	# from the load's start to its end on the wall clock, and only the
	# samples inside the window its load.json names are kept. A monitor
	# started "warm-up after the load" ran over the connect phase at 1,000
	# connections, and a server slower to take them read 0.57 CPU where
	# /proc said it used as much as the other (docs/decisions.md 63).
	# Bounded, should the script be killed before it stops the monitor.
	local bound
	bound=$(awk -v w="$warmup" -v d="$duration" 'BEGIN { print w + d + 120 }')
	"$monitor" --pid "$server_pid" --interval 0.25 --duration "$bound" --epoch --no-pss --out "$cpu_csv" 2>/dev/null &
	mon_pid=$!
	"$load" "${flags[@]}" >/dev/null 2>&1 || true
	kill "$mon_pid" 2>/dev/null || true
	wait "$mon_pid" 2>/dev/null || true
	mon_pid=""
	stop_server
	# A row's CPU is over the time since the row before it (t_s is the
	# end of its interval): a row counts when that whole interval lies
	# in the window. No window (no JSON): no CPU figure.
	local cpu=""
	if [ -s "$json" ]; then
		cpu=$(awk -F, '
			FNR == NR { if (match($0, /"window_start_unix": [0-9.]+/)) { if (from == "") from = substr($0, RSTART + 21, RLENGTH - 21) }
				    if (match($0, /"window_s": [0-9.]+/)) { if (len == "") len = substr($0, RSTART + 12, RLENGTH - 12) }
				    next }
			FNR > 2 && from != "" && prev >= from - 0.01 && $1 <= from + len + 0.01 { s += $4 + $5; n++ }
			FNR > 1 { prev = $1 }
			END { if (n) printf "%.3f", s / n / 100 }' "$json" "$cpu_csv" 2>/dev/null || true)
	fi
	if [ -s "$json" ]; then
		awk -v pre="$run,$mode,$name,$conns" -v cpu="$cpu" '
			/"msgs_per_s"/ { gsub(/[,]/, "", $2); r = $2 }
			/"p50"/ { gsub(/[,]/, "", $2); p50 = $2 }
			/"p99"/ { gsub(/[,]/, "", $2); p99 = $2 }
			/"errors"/ { match($0, /"total": [0-9]+/); e = substr($0, RSTART + 9, RLENGTH - 9) }
			END { printf "%s,%s,%s,%s,%s,%s,%s\n", pre, r, p50, p99, e, cpu, (cpu > 0 ? sprintf("%.0f", r / cpu) : "") }' "$json" >>"$raw_csv"
	else
		echo "$run,$mode,$name,$conns,,,,no-result,," >>"$raw_csv"
	fi
}

servers_for() { # MODE
	local i
	printf '%s\n' "${model_arr[@]}"
	for i in "${!ext_names[@]}"; do
		[ "${ext_modes[$i]}" = "$1" ] && echo "${ext_names[$i]}"
	done
	return 0
}

# Run r begins its round at the r-th server (a rotation): no server
# always follows the same one, whose wake leaves the machine as it does
# (a grid that ran them in one order read 0.74x for a server a direct
# alternation read at 1.02x, decisions 66).
order() { # MODE RUN
	local list k
	mapfile -t list < <(servers_for "$1")
	for ((k = 0; k < ${#list[@]}; k++)); do
		echo "${list[$(((k + $2 - 1) % ${#list[@]}))]}"
	done
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
			for name in $(order "$mode" "$run"); do
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

# Medians per mode, server and connection count, and each key's spread:
# the largest distance of a run's msgs/s from their median, in percent.
medians=$dir/medians.csv
awk -F, 'NR > 1 && $5 != "" {
		k = $2 "," $3 "," $4
		n[k]++; r[k, n[k]] = $5; a[k, n[k]] = $6; b[k, n[k]] = $7; e[k] += $8
		c[k, n[k]] = $9 == "" ? 0 : $9; q[k, n[k]] = $10 == "" ? 0 : $10
	}
	function med(arr, k, m,   i, j, t, v) {
		for (i = 1; i <= m; i++) v[i] = arr[k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	END { print "mode,server,conns,runs,msgs_per_s,p50_us,p99_us,errors,server_cpu,msgs_per_cpu_s,spread_pct"
		for (k in n) {
			m = med(r, k, n[k]); w = 0
			for (i = 1; i <= n[k]; i++) { d = (r[k, i] - m) / (m > 0 ? m : 1); if (d < 0) d = -d; if (d > w) w = d }
			printf "%s,%d,%.0f,%.1f,%.1f,%d,%.2f,%.0f,%.1f\n", k, n[k], m, med(a, k, n[k]), med(b, k, n[k]), e[k], med(c, k, n[k]), med(q, k, n[k]), 100 * w
		} }' \
	"$raw_csv" | sort -t, -k1,1 -k3,3n -k5,5nr >"$medians"

# field MODE SERVER CONNS COLUMN: one figure of medians.csv.
field() { awk -F, -v m="$1" -v s="$2" -v c="$3" -v f="$4" '$1 == m && $2 == s && $3 == c { print $f }' "$medians"; }

# The best echolab model: the highest median msgs/s at 100 connections in
# raw mode (the references do the same work).
is_ext() { ext_cmd "$1" >/dev/null; }
best=$(awk -F, '$1 == "raw" && $3 == 100 && $8 == 0 { print $5, $2 }' "$medians" | sort -nr |
	while read -r _ name; do is_ext "$name" || { echo "$name"; break; }; done)
node_rate=$(field raw node 100 5)
best_rate=$(field raw "$best" 100 5)

# sockperf at 1 connection: its ping-pong pair, and echolab-load against
# the best model, alternating, 5 rounds each, medians of their p50s.
sock_p50=""
ours_p50=""
case ",$conns_list," in *,1,*) one_conn=1 ;; *) one_conn=0 ;; esac
if [ $have_sockperf = 1 ] && [ -n "$best" ] && [ $one_conn = 1 ]; then
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
# ratio LABEL A B TARGET: "**x.xx**; target T: met" for A / B.
ratio() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) { print "not measured"; exit }
	x = a / b; printf "**%.2fx** (%.0f / %.0f); target %sx: %s", x, a, b, t, (x >= t ? "met" : "NOT met") }'; }
{
	echo "# echolab server models: messages/s, RTT and capacity per CPU"
	echo
	echo "Machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)."
	echo "Client (echolab-load) and server share these $(nproc) CPUs: a figure says how"
	echo "servers compare under one client here, not what a server does alone."
	echo
	echo "Closed loop, one 64-byte message in flight per connection, --quiet,"
	echo "${duration} s measured after ${warmup} s, median of $runs interleaved runs."
	echo "Server CPU: the mean CPU share of the server's process tree over the"
	echo "measured window (echolab-monitor, every 0.25 s; 1.00 = one CPU busy);"
	echo "msgs per CPU-s = msgs/s / server CPU. Spread: the largest distance of"
	echo "a run's msgs/s from the median, in percent."
	if [ "$pin" = 1 ]; then
		echo "echolab-load --pin: its event loop i on CPU i throughout."
	else
		echo "echolab-load unpinned (--no-pin): its event loops where the scheduler puts them."
	fi
	[ $have_node = 1 ] && echo "Node.js reference: $(node --version), net.createServer(s => s.pipe(s)) with an error handler (raw mode only)."
	for i in "${!ext_names[@]}"; do
		[ "${ext_names[$i]}" = node ] && continue
		echo "Server \`${ext_names[$i]}\`: \`${ext_cmds[$i]}\` (${ext_modes[$i]} mode only)."
	done
	echo
	echo "Command: \`bench/servers.sh $cmdline\`"
	echo
	for mode in raw annotated; do
		echo "## $mode mode"
		echo
		echo "| server | conns | msgs/s | RTT p50 us | RTT p99 us | errors | server CPU | msgs per CPU-s | spread % |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		awk -F, -v m="$mode" '$1 == m { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $5, $6, $7, $8, $9, $10, $11 }' "$medians" | sort -t'|' -k3,3n -k4,4nr
		echo
	done
	echo "## Targets"
	echo
	if [ -n "$best" ] && [ -n "$node_rate" ]; then
		echo "- Best model at 100 connections (raw), msgs/s: **$best** against Node.js: $(ratio "$best_rate" "$node_rate" 3)."
	else
		echo "- Node.js comparison: not run (node missing or no model measured)."
	fi
	for mode in raw annotated; do
		for c in "${conns_arr[@]}"; do
			[ "$c" = 100 ] || [ "$c" = 1000 ] || continue
			u=$(field "$mode" uring "$c" 5)
			e=$(field "$mode" epoll "$c" 5)
			[ -n "$u" ] && [ -n "$e" ] || continue
			echo "- uring against epoll, $mode, $c connections: msgs/s $(ratio "$u" "$e" 1.2); msgs per server CPU-s $(ratio "$(field "$mode" uring "$c" 10)" "$(field "$mode" epoll "$c" 10)" 1.2)."
		done
	done
	bad=$(awk -F, '($2 == "epoll" || $2 == "uring") && $11 > 10 { printf "%s %s %s conns (%.1f%%); ", $1, $2, $3, $11 }' "$medians")
	if awk -F, '$2 == "epoll" || $2 == "uring" { f = 1 } END { exit !f }' "$medians"; then
		if [ -n "$bad" ]; then
			echo "- No bad runs (epoll and uring within 10% of their median over $runs runs): **NOT met**: $bad"
		else
			echo "- No bad runs (epoll and uring within 10% of their median over $runs runs): **met** at every measured count."
		fi
	fi
	eff=$(awk -F, '$1 == "raw" && $3 == 100 && $10 > 0 { print $10, $2 }' "$medians" | sort -nr | head -1)
	[ -n "$eff" ] && echo "- Most efficient at 100 connections (raw): **${eff#* }**, ${eff%% *} msgs per server CPU-s."
	if [ -n "$sock_p50" ] && [ -n "$ours_p50" ]; then
		awk -v b="$best" -v o="$ours_p50" -v s="$sock_p50" 'BEGIN {
			x = o / s; printf "- RTT p50 at 1 connection: echolab-load to %s (raw) %.1f us, sockperf ping-pong to sockperf server %.3f us: **%.2fx**; target 1.1x: %s (5 alternating rounds, medians).\n", b, o, s, x, (x <= 1.1 ? "met" : "NOT met") }'
	else
		echo "- sockperf comparison: not run (sockperf missing or only 1 connection not in --conns)."
	fi
	echo
	echo "Raw rows: raw.csv; medians: medians.csv; sockperf rounds: sockperf.txt."
} >"$report"
rm -f "$dir/load.json" "$dir/server.err" "$dir/cpu.csv"
cat "$report"
ln -sfn "servers-$stamp" "$out_root/servers-latest"
echo "bench/servers.sh: report in $report" >&2
