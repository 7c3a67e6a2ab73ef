#!/usr/bin/env bash
# The open loop's own cost (issue 28): the CPU time echolab-load spends
# per message, beside a peer generator's (tcpkali) at the same offered
# rate, side by side in one run. Each repeat runs every rate and every
# tool in turn, each against a fresh server (echolab-server --model epoll
# --raw): the tools see the same machine, one at a time. A tool's CPU is
# its whole run's (connecting included) from wait4, by /usr/bin/time; a
# message is a reply received. echolab-load's run is also judged by its
# own rule (valid: every send within a tenth of its gap, at p99).
#
#   bench/openloop.sh [--tcpkali PATH] [--rates R1,R2,...] [--conns N]
#                     [--duration S] [--repeats K] [--size BYTES] [--out DIR]
#                     [--load NAME=PATH]... [--bursts K1,K2,...]
#
# --rates are messages/s per connection (default 1000,4000: 100,000 and
# 400,000 msgs/s offered over the default 100 connections). tcpkali is
# not in Debian 12: docs/bench.md says how to build it outside the
# project. Without --tcpkali, echolab-load alone. --load NAME=PATH adds
# another echolab-load (an earlier build: before and after); --bursts
# adds echolab-load --arrival burst:K for each K (default 2: two messages
# a write, as tcpkali writes them at these rates).
#
# The floor: what any open loop that keeps echolab-load's rule (99% of
# sends within a tenth of the gap) must spend here. bench-wakeup, on the
# quiet machine before the runs, gives the fewest wake-ups a second that
# keep the rule and a wake-up's CPU (or: none keeps it, a loop spins). A
# tool's CPU less its wake-ups (its voluntary context switches, by
# /usr/bin/time) at that cost is its work on the messages; the cheapest
# of the tools', and of bench-minimal-client's (closed loop against a
# fresh server once a repeat), is the floor's message work. The floor of a
# rate is the two summed over the run (a loop that must spin: the larger
# of the two). Writes
# results/openloop-<timestamp>/report.md, openloop.csv, floor.csv and
# wakeup.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

tcpkali=""
others=()
bursts=2
rates=1000,4000
conns=100
duration=5
repeats=3
size=64
out_root=results
cmdline="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--tcpkali) tcpkali=$2; shift 2 ;;
	--load)
		case $2 in *=?*) others+=("$2") ;; *) echo "bench/openloop.sh: --load NAME=PATH" >&2; exit 2 ;; esac
		shift 2 ;;
	--rates) rates=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--repeats) repeats=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--out) out_root=$2; shift 2 ;;
	--bursts) bursts=$2; shift 2 ;;
	--help | -h) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/openloop.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for v in "$conns" "$repeats" "$size"; do
	case $v in '' | *[!0-9]* | 0) echo "bench/openloop.sh: --conns, --repeats and --size are whole numbers above 0" >&2; exit 2 ;; esac
done
[ "$size" -ge 2 ] || { echo "bench/openloop.sh: --size is 2 bytes at least (a marker and LF)" >&2; exit 2; }
server=build/echolab-server
load=build/echolab-load
wakeup=build/bench-wakeup
minimal=build/bench-minimal-client
[ -x "$server" ] && [ -x "$load" ] && [ -x "$wakeup" ] && [ -x "$minimal" ] ||
	{ echo "bench/openloop.sh: build first (meson compile -C build)" >&2; exit 1; }
[ -z "$tcpkali" ] || [ -x "$tcpkali" ] || { echo "bench/openloop.sh: --tcpkali $tcpkali is not a program" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/openloop.sh: needs /usr/bin/time (Debian's package time)" >&2; exit 1; }
declare -A load_bin=([echolab-load]=$load)
tools=(echolab-load)
for o in ${others[@]+"${others[@]}"}; do
	[ -x "${o#*=}" ] || { echo "bench/openloop.sh: --load ${o%%=*}: ${o#*=} is not a program" >&2; exit 1; }
	load_bin[${o%%=*}]=${o#*=}
	tools+=("${o%%=*}")
done
declare -A load_args=()
for k in ${bursts//,/ }; do
	case $k in '' | *[!0-9]* | 0 | 1) echo "bench/openloop.sh: --bursts are whole numbers above 1" >&2; exit 2 ;; esac
	load_bin[echolab-load-burst$k]=$load
	load_args[echolab-load-burst$k]="--arrival burst:$k"
	tools+=("echolab-load-burst$k")
done
[ -z "$tcpkali" ] || tools+=(tcpkali)

dir=$out_root/openloop-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dir"
csv=$dir/openloop.csv
echo "repeat,rate_per_conn,tool,offered_msgs_per_s,replies,replies_per_s,user_s,sys_s,cpu_s,cpu_us_per_msg,p99_us,valid,server_cpu_s,wakeups" >"$csv"
# tcpkali's message: size-1 printable bytes and LF, its latency marker
# (which must come once a message) the first.
msg=L$(head -c $((size - 2)) </dev/zero | tr '\0' a)

server_pid=""
start_server() { # ERRFILE
	"$server" --model epoll --raw --port 0 --quiet >/dev/null 2>"$1" &
	server_pid=$!
	port=""
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on .*:\([0-9]*\).*/\1/p' "$1" | head -1)
		[ -n "$port" ] && return 0
		sleep 0.05
	done
	echo "bench/openloop.sh: the server did not listen: $(head -3 "$1")" >&2
	return 1
}
# The server's CPU seconds so far (utime + stime of its one process).
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$server_pid/stat"; }
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
trap 'stop_server' EXIT

run_tool() { # TOOL RATE REPEAT
	local tool=$1 rate=$2 r=$3 base=$dir/$1-$2-$3
	start_server "$base.server.err" || return 1
	local s0 s1 replies p99 valid
	s0=$(server_cpu)
	if [ "$tool" != tcpkali ]; then
		/usr/bin/time -f '%U %S %w' -o "$base.time" "${load_bin[$tool]}" --port "$port" --conns "$conns" --rate "$rate" \
			--duration "$duration" --size "$size" --raw --quiet --allow-invalid --json "$base.json" ${load_args[$tool]:-} \
			>"$base.out" 2>"$base.err" || true
		read -r replies p99 valid < <(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(j["messages"], j["rtt_us"]["p99"], "yes" if j["valid"] else "no")' "$base.json" 2>/dev/null || echo "0 0 no")
	else
		# tcpkali's -T counts from its start, connecting included, as
		# echolab-load's run does with its gate.
		/usr/bin/time -f '%U %S %w' -o "$base.time" "$tcpkali" -c "$conns" --connect-rate 100000 -r "$rate" \
			-T "${duration}s" -e -m "${msg}\\n" --latency-marker L --latency-percentiles 99 \
			"127.0.0.1:$port" >"$base.out" 2>"$base.err" || true
		replies=$(sed -n 's/^Total data received:.*(\([0-9]*\) bytes).*/\1/p' "$base.out")
		replies=$(( ${replies:-0} / size ))
		p99=$(sed -n 's/^Message latency at percentiles: \([0-9.]*\) ms.*/\1/p' "$base.out")
		p99=$(awk -v ms="${p99:-0}" 'BEGIN { printf "%.0f", ms * 1000 }')
		valid=""
	fi
	s1=$(server_cpu)
	stop_server
	read -r user sys wakeups <"$base.time"
	awk -v r="$r" -v rate="$rate" -v tool="$tool" -v conns="$conns" -v n="$replies" -v d="$duration" \
		-v u="$user" -v s="$sys" -v p99="$p99" -v valid="$valid" -v s0="$s0" -v s1="$s1" -v w="$wakeups" 'BEGIN {
		cpu = u + s
		printf "%d,%g,%s,%d,%d,%.0f,%.2f,%.2f,%.2f,%.2f,%s,%s,%.2f,%d\n", r, rate, tool, rate * conns, n, n / d,
			u, s, cpu, n ? cpu * 1e6 / n : 0, p99, valid, s1 - s0, w }' >>"$csv"
	tail -1 "$csv" >&2
}

# The floor's two parts. First the timer, while nothing else runs.
gaps=""
for rate in ${rates//,/ }; do
	gaps=${gaps:+$gaps,}$(awk -v r="$rate" 'BEGIN { printf "%d", 1e6 / r }')
done
"$wakeup" --gaps "$gaps" >"$dir/wakeup.txt"
cat "$dir/wakeup.txt" >&2
echo "repeat,messages,cpu_s,cpu_us_per_msg,wakeups" >"$dir/floor.csv"
run_minimal() { # REPEAT
	local base=$dir/minimal-$1 messages user sys wakeups
	start_server "$base.server.err" || return 1
	/usr/bin/time -f '%U %S %w' -o "$base.time" "$minimal" "$port" "$conns" "$duration" "$size" >"$base.out" 2>"$base.err" || true
	stop_server
	messages=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' "$base.out")
	read -r user sys wakeups <"$base.time"
	awk -v r="$1" -v n="${messages:-0}" -v u="$user" -v s="$sys" -v w="$wakeups" 'BEGIN {
		printf "%d,%d,%.2f,%.2f,%d\n", r, n, u + s, n ? (u + s) * 1e6 / n : 0, w }' >>"$dir/floor.csv"
	tail -1 "$dir/floor.csv" >&2
}

for r in $(seq "$repeats"); do
	run_minimal "$r"
	for rate in ${rates//,/ }; do
		for tool in "${tools[@]}"; do
			run_tool "$tool" "$rate" "$r"
		done
	done
done

report=$dir/report.md
{
	echo "# The open loop's cost: ${tools[*]}"
	echo
	echo "\`bench/openloop.sh $cmdline\`, $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r)."
	echo "$conns connections, $size-byte messages, $duration s a run, $repeats repeats, each tool against"
	echo "a fresh epoll server (--raw). CPU is the tool's whole run (user + sys); a message is a reply."
	echo
	echo "| msgs/s offered | tool | replies/s | CPU-s (median) | us CPU per message | wake-ups/s | p99 us | valid | server CPU-s |"
	echo "|---:|---|---:|---:|---:|---:|---:|---|---:|"
	python3 - "$csv" "$dir/floor.csv" "$dir/wakeup.txt" "$conns" "$duration" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
floor_rows = list(csv.DictReader(open(sys.argv[2])))
kv = lambda line: dict(f.split("=", 1) for f in line.split())
timer, *plans = [kv(line) for line in open(sys.argv[3]) if line.strip()]
conns, duration = int(sys.argv[4]), float(sys.argv[5])
by = {}
for r in rows:
    by.setdefault((int(r["offered_msgs_per_s"]), r["tool"]), []).append(r)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
for (offered, tool), rs in sorted(by.items()):
    cpus = sorted(float(r["cpu_s"]) for r in rs)
    valid = ",".join(r["valid"] for r in rs) if rs[0]["valid"] else "-"
    print(f"| {offered:,} | {tool} | {med(rs, 'replies_per_s'):,.0f} | {med(rs, 'cpu_s'):.2f} "
          f"({cpus[0]:.2f}-{cpus[-1]:.2f}) | {med(rs, 'cpu_us_per_msg'):.2f} | {med(rs, 'wakeups') / duration:,.0f} | "
          f"{med(rs, 'p99_us'):,.0f} | "
          f"{valid} | {med(rs, 'server_cpu_s'):.2f} |")
offers = sorted({o for o, _ in by})
others = sorted({t for _, t in by if t != "echolab-load"})
if others:
    print()
for t in others:
    for o in offers:
        a, b = by.get((o, "echolab-load")), by.get((o, t))
        if not a or not b:
            continue
        ratios = sorted(float(x["cpu_us_per_msg"]) / float(y["cpu_us_per_msg"])
                        for x, y in zip(a, b) if float(y["cpu_us_per_msg"]) > 0)
        if ratios:
            print(f"- {o:,} msgs/s: echolab-load's CPU per message is {statistics.median(ratios):.2f}x "
                  f"{t}'s (repeat by repeat {ratios[0]:.2f} to {ratios[-1]:.2f})")
# The floor of a run that keeps the rule, against what the tools spent.
wake_us = float(timer["wake_cpu_us"])
# A tool's work on the messages: its CPU less its wake-ups at what one
# costs here; the cheapest (median over repeats) is the floor's.
def work(rs):
    count = lambda r: float(r.get("replies") or r.get("messages") or 0)
    return statistics.median((float(r["cpu_s"]) - int(r["wakeups"] or 0) * wake_us / 1e6) * 1e6 / count(r)
                             for r in rs if count(r) > 0)
print()
print("## The floor of a valid run here")
print()
print(f"A timer wake-up costs {wake_us:.1f} us of CPU here and ends "
      f"{timer['overshoot_p50_us']} us late at the median, {timer['overshoot_p99_us']} at p99, "
      f"{timer['overshoot_max_us']} at most (bench-wakeup, {timer['samples']} sleeps of "
      f"{timer['sleep_us']} us, the machine quiet). A tool's work on a message is its CPU less its "
      f"wake-ups at that cost (median of the repeats); bench-minimal-client, closed loop: "
      f"{work(floor_rows):.2f} us.")
print()
print("| msgs/s offered | bound us | fewest wake-ups/s | wake-ups CPU-s | message work (least, us) | messages CPU-s | floor CPU-s | least CPU-s spent |")
print("|---:|---:|---:|---:|---|---:|---:|---|")
for plan in plans:
    gap = int(plan["gap_us"])
    offered = round(conns * 1e6 / gap)
    works = [(work(rs), t) for (o, t), rs in by.items() if o == offered]
    works.append((work(floor_rows), "bench-minimal-client"))
    least_work = min(works)
    wake_cpu = float(plan["wake_cpu_s_per_s"]) * duration
    msgs_cpu = offered * duration * least_work[0] / 1e6
    spins = plan["sleeps"] != "yes"
    floor = max(wake_cpu, msgs_cpu) if spins else wake_cpu + msgs_cpu
    spent = sorted((statistics.median(float(r["cpu_s"]) for r in rs), t)
                   for (o, t), rs in by.items() if o == offered)
    least = f"{spent[0][1]} {spent[0][0]:.2f} (floor {floor / spent[0][0]:.2f}x)" if spent else "-"
    wakes = "none: spins" if spins else f"{float(plan['wakes_per_s']):,.0f}"
    print(f"| {offered:,} | {plan['bound_us']} | {wakes} | {wake_cpu:.2f} | {least_work[0]:.2f} ({least_work[1]}) | "
          f"{msgs_cpu:.2f} | {floor:.2f} | {least} |")
EOF
} >"$report"
cat "$report"
echo "bench/openloop.sh: report in $report" >&2
