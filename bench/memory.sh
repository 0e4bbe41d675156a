#!/usr/bin/env bash
# bench/memory.sh: does the gateway keep to its memory_limit under a heavy
# mixed load? Many OpenSSH uploaders and downloaders at once plus one large
# upload, run three times through one s3sftpd each:
#
#   unlimited  the default budgets (512 MiB for uploads, 256 MiB for read-ahead)
#              with no memory limit: memory_limit = "64GiB", so sessions are not
#              held back and Go's heap grows as it did before (the ceiling:
#              throughput and peak RSS the same load gets with no limit)
#   limited    memory_limit = BENCH_LIMIT
#   cgroup     the same, inside a cgroup with a hard limit of BENCH_CGROUP_MIB
#              (the kernel kills the process if it goes past)
#
# For each it prints the wall time, MB/s over all transfers, failed
# transfers, peak RSS (VmHWM) and its ratio to the limit, and the seconds
# transfers waited for memory. Everything listens on 127.0.0.1 and lives in
# one temp dir removed on exit. See bench/README.md.
#
#   BENCH_UPLOADERS       concurrent uploaders (default 200)
#   BENCH_UPLOAD_MIB      each one's file, MiB (default 16)
#   BENCH_DOWNLOADERS     concurrent downloaders (default 50)
#   BENCH_DOWNLOAD_MIB    the file they download, MiB (default 100)
#   BENCH_BIG_MIB         the one large upload, MiB (default 6144)
#   BENCH_USERS           partners the clients log in as, in turn, all with one home (default 25)
#   BENCH_LIMIT           memory_limit of the limited runs (default 512MiB)
#   BENCH_CGROUP_MIB      hard limit of the cgroup run, MiB (default 600; 0 skips it)
#   BENCH_CGROUP_FROM     "config": the cgroup run keeps memory_limit; "container": it
#                         sets none, so the gateway sizes itself to the cgroup (default config)
#   BENCH_PHASES          which runs (default "unlimited limited cgroup")
#   BENCH_GATEWAY_TOML    more config for every gateway (default none)
#   BENCH_TIMEOUT         seconds after which a transfer counts as failed (default 1800)
set -euo pipefail

uploaders=${BENCH_UPLOADERS:-200}
up_mib=${BENCH_UPLOAD_MIB:-16}
downloaders=${BENCH_DOWNLOADERS:-50}
down_mib=${BENCH_DOWNLOAD_MIB:-100}
big_mib=${BENCH_BIG_MIB:-6144}
nusers=${BENCH_USERS:-25}
limit=${BENCH_LIMIT:-512MiB}
cgroup_mib=${BENCH_CGROUP_MIB:-600}
phases=${BENCH_PHASES:-unlimited limited cgroup}
timeout=${BENCH_TIMEOUT:-1800}
s3_mbps=
sftp_opts=()
# The store holds about uploaders × up_mib + big_mib at once: on disk, not in memory.
export BENCH_TMP=${BENCH_TMP:-/var/tmp}

source "$(dirname "$0")/lib.sh"
bench_setup
command -v curl >/dev/null || die "missing curl: apt-get install curl"

echo "writing the source files"
head -c $((up_mib << 20)) /dev/urandom >"$work/up.bin"
head -c $((down_mib << 20)) /dev/urandom >"$work/down.bin"
truncate -s $((big_mib << 20)) "$work/big.bin" # sparse: zeros read from a hole take no memory
total_mib=$((uploaders * up_mib + downloaders * down_mib + big_mib))
lim_kib=$(($(numfmt --from=iec-i <<<"${limit%B}") >> 10))

# A cgroup with a hard memory limit: v2 when its memory controller is
# available, else v1; the gateway is moved into it before it execs.
cg=
make_cgroup() {
	local mib=$1
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
		cg=/sys/fs/cgroup/s3sftpd-bench-$$
		mkdir "$cg" && echo $((mib << 20)) >"$cg/memory.max" && echo 0 >"$cg/memory.swap.max" 2>/dev/null || true
	elif [[ -d /sys/fs/cgroup/memory && -w /sys/fs/cgroup/memory ]]; then
		cg=/sys/fs/cgroup/memory/s3sftpd-bench-$$
		mkdir "$cg" && echo $((mib << 20)) >"$cg/memory.limit_in_bytes"
	else
		die "no writable cgroup memory controller for the cgroup run (set BENCH_CGROUP_MIB=0 to skip it)"
	fi
}
remove_cgroup() {
	[[ -z $cg ]] || rmdir "$cg" 2>/dev/null || echo "bench: could not remove $cg" >&2
	cg=
}
oom_kills() {
	if [[ -f $cg/memory.events ]]; then awk '/^oom_kill /{print $2}' "$cg/memory.events"; else awk '/^oom_kill /{print $2}' "$cg/memory.oom_control"; fi
}
trap 'cleanup; remove_cgroup' EXIT

# The partners, besides start_gateway's "bench": each has its own share of
# the budgets (a quarter of upload_memory by default), as real partners do.
partners=
for i in $(seq 0 $((nusers - 1))); do
	partners+="[[users]]
name = \"p$i\"
home = \"bench/\"
keys_file = \"$work/id_ed25519.pub\"
"
done

# run PHASE SERVER_TOML [S3_TOML]: one gateway with SERVER_TOML in its
# [server] table and S3_TOML in its [s3] table, the whole load against it.
run() {
	local phase=$1 server=$2 s3=${3:-} real=$work/bin/s3sftpd.real
	echo
	echo "== $phase: $uploaders × $up_mib MiB up, $downloaders × $down_mib MiB down, 1 × $big_mib MiB up"
	if [[ $phase == cgroup ]]; then
		make_cgroup "$cgroup_mib"
		[[ -f $real ]] || mv "$work/bin/s3sftpd" "$real"
		printf '#!/bin/sh\necho $$ >%s/cgroup.procs || exit 1\nexec %s "$@"\n' "$cg" "$real" >"$work/bin/s3sftpd"
		chmod +x "$work/bin/s3sftpd"
	elif [[ -f $real ]]; then
		mv "$real" "$work/bin/s3sftpd"
	fi
	# waits for memory are fine here: the figure is whether anything fails
	start_gateway "$phase" "upload_memory_wait = \"${BENCH_WAIT:-14m}\"
$s3
${BENCH_GATEWAY_TOML:-}

[admin]
listen = \"127.0.0.1:0\"

# every client comes from one address: the per-address caps would refuse most of the load
[defender]
enabled = false

$partners" "$server"
	grep -o '"msg":"memory limit".*' "$work/$phase.log" | head -1
	"${sftp_cmd[@]}" -b - bench@127.0.0.1 <<<"put $work/down.bin down.bin" >/dev/null || die "$phase: could not store down.bin"
	: >"$work/$phase.failed"
	local start end ps=()
	start=$(date +%s.%N)
	# one BATCH NAME USER: a client's transfer; a failure is listed in $phase.failed
	one() { timeout "$timeout" "${sftp_cmd[@]}" -b - "$3@127.0.0.1" <<<"$1" >"$work/$phase-$2.log" 2>&1 || echo "$2" >>"$work/$phase.failed"; }
	one "put $work/big.bin big.bin" big bench &
	ps+=($!)
	for i in $(seq "$uploaders"); do
		one "put $work/up.bin up-$i.bin" "up-$i" "p$((i % nusers))" &
		ps+=($!)
	done
	for i in $(seq "$downloaders"); do
		one "get down.bin /dev/null" "down-$i" "p$((i % nusers))" &
		ps+=($!)
	done
	wait "${ps[@]}"
	end=$(date +%s.%N)
	local alive=yes admin hwm oom=-
	kill -0 "$gw_pid" 2>/dev/null || alive=no
	hwm=$(awk '/^VmHWM/{print $2}' "/proc/$gw_pid/status" 2>/dev/null || echo 0)
	admin=$(sed -n 's/.*"msg":"admin listening".*"addr":"\([^"]*\)".*/\1/p' "$work/$phase.log")
	curl -s "http://$admin/metrics" | grep -E '^s3sftpd_throttled_seconds_total|^go_gc_gomemlimit_bytes' | tr '\n' ' ' >"$work/$phase.metrics" || true
	[[ $phase == cgroup ]] && oom=$(oom_kills)
	"${sftp_cmd[@]}" -b - bench@127.0.0.1 <<<"rm big.bin" >/dev/null 2>&1 || true
	stop_gateway
	[[ $phase == cgroup ]] && remove_cgroup
	echo "   metrics: $(cat "$work/$phase.metrics")"
	[[ -s $work/$phase.failed ]] && echo "   failed: $(head -3 "$work/$(head -1 "$work/$phase.failed" | sed "s/^/$phase-/").log" | tr '\n' ' ')"
	local planned=$lim_kib # the limit the gateway planned for
	[[ $phase == cgroup && ${BENCH_CGROUP_FROM:-config} == container ]] && planned=$((cgroup_mib << 10))
	echo "$phase $(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.1f", e-s}') $(wc -l <"$work/$phase.failed") $hwm $oom $alive $planned" >>"$work/results"
}

limit_toml="memory_limit = \"$limit\"
memory_wait = \"${BENCH_WAIT:-14m}\""
for phase in $phases; do
	case $phase in
	unlimited) # the budgets of before (the defaults) and no bound on sessions or on Go's heap
		run unlimited "memory_limit = \"64GiB\"" "upload_memory = \"512MiB\"
read_ahead_memory = \"256MiB\"" ;;
	limited) run limited "$limit_toml" ;;
	cgroup)
		if ((cgroup_mib > 0)) && [[ ${BENCH_CGROUP_FROM:-config} == container ]]; then
			run cgroup "memory_wait = \"${BENCH_WAIT:-14m}\""
		elif ((cgroup_mib > 0)); then
			run cgroup "$limit_toml"
		fi
		;;
	esac
done

echo
echo "MB = 10^6 bytes; $total_mib MiB moved per run; memory_limit $limit; cgroup hard limit ${cgroup_mib} MiB; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v mib="$total_mib" '
	{ wall[$1] = $2; fail[$1] = $3; hwm[$1] = $4; oom[$1] = $5; alive[$1] = $6; lim[$1] = $7; order[n++] = $1 }
	END {
		printf "%-10s %8s %8s %7s %10s %9s %9s %6s\n", "run", "wall s", "MB/s", "failed", "VmHWM MiB", "÷ limit", "oom kills", "alive"
		for (i = 0; i < n; i++) {
			p = order[i]
			printf "%-10s %8s %8.1f %7d %10.1f %9.2f %9s %6s\n", p, wall[p], mib * 1.048576 / wall[p], fail[p], hwm[p] / 1024, hwm[p] / lim[p], oom[p], alive[p]
		}
		if (("unlimited" in wall) && ("limited" in wall))
			printf "limited / unlimited: throughput %.2f, peak RSS %.2f\n", wall["unlimited"] / wall["limited"], hwm["limited"] / hwm["unlimited"]
	}' "$work/results"
