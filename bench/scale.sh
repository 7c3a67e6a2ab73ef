#!/usr/bin/env bash
# The 100,000-connection benchmark (issue 15): what a connection costs an
# event-driven server when there are very many. For each model, a fresh
# server; --conns minus --active idle connections opened over source
# addresses 127.0.0.2, .3, ... (10,000 each; one address has ~28k
# ephemeral ports),
# each sending one message every 1/--idle-rate seconds; once the server
# holds them all, --active connections at --rate messages/s each (open
# loop), measured for --duration; then the same active load against a
# fresh server with nothing else. Reports the server's memory per
# connection (user RSS; the kernel's TCP buffer pages from
# /proc/net/sockstat and its slab from /proc/meminfo, both ends of each
# loopback connection included), the active clients' p99 beside the
# baseline's, and whether every idle connection was answered.
#
#   bench/scale.sh [--conns N] [--active N] [--rate R] [--idle-rate R]
#                  [--duration S] [--models LIST] [--processes P] [--out DIR]
#
# A process holds at most its fd limit of connections. Where the hard
# limit is below N + 1024 (and cannot be raised: that needs
# CAP_SYS_RESOURCE), the server and the idle load each run as P processes
# (echolab-server and echolab-load --processes), P the fewest that hold
# N; --processes P sets it. The server's figures are its whole tree's.
# Writes results/scale-<timestamp>/report.md and raw files.
set -euo pipefail
cd "$(dirname "$0")/.."

conns=100000
active=1000
rate=50
idle_rate=0.05
duration=10
models=epoll,uring
processes=""
out_root=results
cmdline="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--conns) conns=$2; shift 2 ;;
	--active) active=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--idle-rate) idle_rate=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--models) models=$2; shift 2 ;;
	--processes) processes=$2; shift 2 ;;
	--out) out_root=$2; shift 2 ;;
	--help | -h) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/scale.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for v in "$conns" "$active"; do
	case $v in '' | *[!0-9]*) echo "bench/scale.sh: counts are whole numbers" >&2; exit 2 ;; esac
done
[ "$active" -lt "$conns" ] || { echo "bench/scale.sh: --active must be below --conns" >&2; exit 2; }
idle=$((conns - active))
server=build/echolab-server
load=build/echolab-load
[ -x "$server" ] && [ -x "$load" ] || { echo "bench/scale.sh: build first (meson compile -C build)" >&2; exit 1; }
# The server and the load are processes of their own: each needs a socket
# per connection and some. Past the hard limit (which only
# CAP_SYS_RESOURCE raises), more processes on each side.
need=$((conns + 1024))
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge "$need" ] || ulimit -Hn "$need" 2>/dev/null || true
hard=$(ulimit -Hn)
ulimit -n "$hard"
if [ -z "$processes" ]; then
	processes=1
	[ "$hard" = unlimited ] || processes=$(((conns + hard - 1024 - 1) / (hard - 1024)))
fi
case $processes in '' | *[!0-9]* | 0) echo "bench/scale.sh: --processes is a whole number above 0" >&2; exit 2 ;; esac
if [ "$hard" != unlimited ] && [ $(((conns + processes - 1) / processes + 1024)) -gt "$hard" ]; then
	echo "bench/scale.sh: $processes processes of $hard fds each cannot hold $conns connections (try --processes $(((conns + hard - 1024 - 1) / (hard - 1024))))" >&2
	exit 1
fi
procs_arg=()
[ "$processes" -le 1 ] || procs_arg=(--processes "$processes")
# Source addresses for the idle connections, 10,000 each: an address
# has ~28k ephemeral ports, and the kernel's search for a free one slows
# as they fill (at 25,000 each, 99,000 connections took over 5 minutes of
# kernel time and 71,414 were up).
naddr=$(((idle + 9999) / 10000))
binds=$(seq 2 $((naddr + 1)) | sed 's/^/127.0.0./' | paste -sd, -)

stamp=$(date +%Y%m%d-%H%M%S)
dir=$out_root/scale-$stamp
mkdir -p "$dir"
server_pid="" idle_pid=""
cleanup() {
	[ -n "$idle_pid" ] && kill -INT "$idle_pid" 2>/dev/null
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "bench/scale.sh: interrupted; partial results in $dir" >&2; exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
# The server's tree: with --processes, the parent and its processes.
tree() { echo "$1"; pgrep -P "$1" || true; }
rss_kib() { local p s=0; for p in $(tree "$1"); do s=$((s + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$s"; }
tcp_mem_pages() { awk '$1 == "TCP:" { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
slab_kib() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
fds() { local p s=0; for p in $(tree "$1"); do s=$((s + $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l))); done; echo "$s"; }

start_server() { # MODEL ERRFILE
	"$server" --model "$1" --port 0 --quiet --backlog 65535 --max-conns $((conns + 1000)) "${procs_arg[@]}" \
		2>"$2" >/dev/null &
	server_pid=$!
	port=""
	for _ in $(seq 250); do
		port=$(sed -n 's/^listening on .*:\([0-9]*\).*/\1/p' "$2" | head -1)
		[ -n "$port" ] && return 0
		sleep 0.02
	done
	say "bench/scale.sh: $1 did not start: $(head -c 300 "$2")"
	return 1
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

num() { grep -o "\"$2\": [0-9][0-9.]*" "$1" | head -1 | cut -d' ' -f2; }

active_load() { # JSON
	"$load" --port "$port" --conns "$active" --rate "$rate" --duration "$duration" --warmup 2 --timeout 30 \
		--quiet --json "$1" >/dev/null 2>&1 || true
}

rows=$dir/rows.csv
echo "model,conns_held,idle_reached,idle_errors,rss_base_kib,rss_kib,tcp_mem_pages_delta,slab_kib_delta,active_p99_us,active_msgs_per_s,active_errors,baseline_p99_us,baseline_msgs_per_s" >"$rows"
IFS=, read -r -a model_arr <<<"$models"
for m in "${model_arr[@]}"; do
	say "== $m: $idle idle connections from $binds, then $active active at $rate msg/s each"
	start_server "$m" "$dir/$m.server.err" || continue
	sleep 0.5 # the processes start after the ready line
	rss0=$(rss_kib "$server_pid") mem0=$(tcp_mem_pages) slab0=$(slab_kib) fds0=$(fds "$server_pid")
	t0=$(date +%s)
	"$load" --port "$port" --conns "$idle" --bind "$binds" --rate "$idle_rate" --connect-rate 20000 \
		"${procs_arg[@]}" --duration 3600 --timeout 30 --quiet --json "$dir/$m.idle.json" >"$dir/$m.idle.txt" 2>&1 &
	idle_pid=$!
	held=0
	for _ in $(seq 600); do
		held=$(($(fds "$server_pid") - fds0))
		[ "$held" -ge "$idle" ] && break
		kill -0 "$idle_pid" 2>/dev/null || break
		sleep 0.1
	done
	say "   the server holds $held connections after $(($(date +%s) - t0)) s"
	rss1=$(rss_kib "$server_pid") mem1=$(tcp_mem_pages) slab1=$(slab_kib)
	active_load "$dir/$m.active.json"
	# Every idle connection has sent at least once: 1/idle-rate seconds
	# after its start (the schedule spreads first sends over one interval).
	wait_s=$(awk -v r="$idle_rate" 'BEGIN { printf "%d", 1 / r + 6 }')
	while [ $(($(date +%s) - t0)) -lt "$wait_s" ]; do sleep 1; done
	kill -INT "$idle_pid" 2>/dev/null || true
	wait "$idle_pid" 2>/dev/null || true
	idle_pid=""
	stop_server
	# The same active load, alone.
	start_server "$m" "$dir/$m.baseline.err" || continue
	active_load "$dir/$m.baseline.json"
	stop_server
	ij=$dir/$m.idle.json aj=$dir/$m.active.json bj=$dir/$m.baseline.json
	echo "$m,$held,$(num "$ij" connections_reached),$(num "$ij" total),$rss0,$rss1,$((mem1 - mem0)),$((slab1 - slab0)),$(num "$aj" p99),$(num "$aj" msgs_per_s),$(num "$aj" total),$(num "$bj" p99),$(num "$bj" msgs_per_s)" >>"$rows"
done

report=$dir/report.md
{
	echo "# echolab: $conns concurrent connections"
	echo
	echo "Machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo). Command: \`bench/scale.sh $cmdline\`."
	echo
	echo "Server and idle load: $processes process$([ "$processes" = 1 ] || echo es) each (fd limit $hard a process); the server's figures are its whole process tree's."
	echo
	echo "$idle idle connections (one message every $(awk -v r="$idle_rate" 'BEGIN { print 1 / r }') s each) over $naddr source addresses,"
	echo "then $active active connections at $rate msg/s each (open loop), measured for $duration s after 2 s;"
	echo "the baseline is the same active load against a fresh server alone. Client and server share"
	echo "the machine; memory per connection is the growth from the idle server to the server"
	echo "holding every idle connection, over their number (kernel figures count both ends of each"
	echo "loopback connection and everything else the machine did meanwhile)."
	echo
	echo "| model | held | idle answered | idle errors | server RSS per conn (B) | kernel TCP buffers per conn (B) | kernel slab per conn (B) | active p99 us | baseline p99 us | active msgs/s | active errors |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F, -v n="$idle" 'NR > 1 { printf "| %s | %s | %s | %s | %.0f | %.0f | %.0f | %s | %s | %s | %s |\n", $1, $2, $3, $4, ($6 - $5) * 1024 / n, $7 * 4096 / n, $8 * 1024 / n, $9, $12, $10, $11 }' "$rows"
	echo
	echo "Raw: rows.csv and each run's echolab-load JSON."
} >"$report"
cat "$report"
echo "bench/scale.sh: report in $report" >&2
