#!/usr/bin/env bash
# bench/envelope.sh: upload and download one file with OpenSSH sftp through two
# s3sftpd gateways on the same local versitygw, one with [encryption] mode =
# "sse" and one with mode = "envelope" (gateway-side AES-256-GCM), and print
# the envelope/sse throughput ratios and each gateway's CPU. See bench/README.md.
#
#   BENCH_SIZE_MIB   file size in MiB (default 1024)
#   BENCH_ROUNDS     rounds; the best of each path is reported (default 1)
#   BENCH_SFTP_OPTS  extra sftp options (default none)
#   BENCH_S3_MBPS    cap the store's link at this many MB/s per direction (default: no cap)
set -euo pipefail

size_mib=${BENCH_SIZE_MIB:-1024}
rounds=${BENCH_ROUNDS:-1}
s3_mbps=${BENCH_S3_MBPS:-}
read -r -a sftp_opts <<<"${BENCH_SFTP_OPTS:-}"

source "$(dirname "$0")/lib.sh"
bench_setup
head -c 32 /dev/urandom | base64 >"$work/kek"
chmod 600 "$work/kek"
start_gateway sse
sse_pid=$gw_pid sse_cmd=("${sftp_cmd[@]}")
start_gateway envelope "[encryption]
mode = \"envelope\"
kek_file = \"$work/kek\""
env_pid=$gw_pid env_cmd=("${sftp_cmd[@]}")

make_source
echo "put $work/src.bin bench.bin" >"$work/put.batch"
echo "get bench.bin $work/get.bin" >"$work/get.batch"

TIMEFORMAT='%3R'
# measure NAME GATEWAY_PID CMD...: wall seconds of CMD and the gateway's CPU ticks meanwhile.
measure() {
	local name=$1 pid=$2 wall c0
	shift 2
	c0=$(cpu "$pid")
	{ time "$@" >"$work/cmd.log" 2>&1; } 2>"$work/time" || die "$name failed: $(cat "$work/cmd.log")"
	wall=$(cat "$work/time")
	echo "$name $wall $(($(cpu "$pid") - c0))" >>"$work/results"
	awk -v n="$name" -v w="$wall" -v b="$bytes" 'BEGIN { printf "  %-13s %8.2f s %8.1f MB/s\n", n, w, b/w/1e6 }'
}
verify() {
	[[ $(sha256sum <"$work/get.bin" | cut -d' ' -f1) == "$src_sum" ]] || die "$1: download differs from the source"
	rm -f "$work/get.bin"
}

for r in $(seq "$rounds"); do
	echo "round $r of $rounds"
	order=(sse envelope)
	((r % 2)) || order=(envelope sse)
	for m in "${order[@]}"; do
		if [[ $m == sse ]]; then pid=$sse_pid cmd=("${sse_cmd[@]}"); else pid=$env_pid cmd=("${env_cmd[@]}"); fi
		measure "$m-put" "$pid" "${cmd[@]}" -b "$work/put.batch" bench@127.0.0.1
		measure "$m-get" "$pid" "${cmd[@]}" -b "$work/get.batch" bench@127.0.0.1
		verify "$m"
	done
done

echo
echo "$size_mib MiB file, best of $rounds round(s); MB = 10^6 bytes; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$bytes" -v hz="$hz" '
	!($1 in best) || $2 < best[$1] { best[$1] = $2; cpu[$1] = $3 }
	END {
		printf "%-13s %8s %8s %12s\n", "path", "seconds", "MB/s", "s3sftpd CPU"
		n = split("sse-put envelope-put sse-get envelope-get", order, " ")
		for (i = 1; i <= n; i++) printf "%-13s %8.2f %8.1f %12.2f\n", order[i], best[order[i]], b/best[order[i]]/1e6, cpu[order[i]]/hz
		printf "ratio envelope/sse (MB/s): put %.2f, get %.2f\n", best["sse-put"]/best["envelope-put"], best["sse-get"]/best["envelope-get"]
	}' "$work/results"
