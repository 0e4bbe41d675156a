#!/usr/bin/env bash
# bench/run.sh: upload and download one file through s3sftpd with OpenSSH sftp,
# and put and get it directly with the SDK (bench/s3direct), against the same
# local versitygw. Prints seconds and MB/s per path, the sftp/direct ratios and
# s3sftpd's peak RSS. Everything listens on 127.0.0.1 and lives in one temp dir
# that is removed on exit. See bench/README.md.
#
#   BENCH_SIZE_MIB   file size in MiB (default 1024)
#   BENCH_ROUNDS     rounds of the four transfers; the best of each is reported (default 1)
#   BENCH_SFTP_OPTS  extra sftp options, such as "-c aes128-gcm@openssh.com -R 128" (default none)
#   BENCH_S3_MBPS    put the store behind bench/s3link capped at this many MB/s per
#                    direction, as a network path to S3 would be (default: no cap)
set -euo pipefail

size_mib=${BENCH_SIZE_MIB:-1024}
rounds=${BENCH_ROUNDS:-1}
s3_mbps=${BENCH_S3_MBPS:-}
read -r -a sftp_opts <<<"${BENCH_SFTP_OPTS:-}"

source "$(dirname "$0")/lib.sh"
bench_setup
start_gateway s3sftpd

make_source

echo "put $work/src.bin bench.bin" >"$work/put.batch"
echo "get bench.bin $work/sftp-get.bin" >"$work/get.batch"
direct=("$work/bin/s3direct" -endpoint "$endpoint" -bucket "$bucket" -key direct/bench.bin)

# measure PATH CMD...: run CMD and append to results its wall seconds, its
# own user and system seconds, and the CPU ticks s3sftpd and versitygw used meanwhile.
TIMEFORMAT='%3R %3U %3S'
measure() {
	local name=$1 wall user sys g0 v0
	shift
	g0=$(cpu "$gw_pid") v0=$(cpu "$vgw_pid")
	if ! { time "$@" >"$work/cmd.log" 2>&1; } 2>"$work/time"; then
		die "$name failed: $(cat "$work/cmd.log")"
	fi
	read -r wall user sys <"$work/time"
	echo "$name $wall $user $sys $(($(cpu "$gw_pid") - g0)) $(($(cpu "$vgw_pid") - v0))" >>"$work/results"
	awk -v n="$name" -v w="$wall" -v b="$bytes" 'BEGIN { printf "  %-11s %8.2f s %8.1f MB/s\n", n, w, b/w/1e6 }'
}

verify() {
	local sum
	sum=$(sha256sum <"$1" | cut -d' ' -f1)
	[[ $sum == "$src_sum" ]] || die "$1: sha256 $sum differs from the source's $src_sum"
	rm -f "$1"
}

rss_idle=$(awk '/^VmRSS/{print $2}' "/proc/$gw_pid/status")
for r in $(seq "$rounds"); do
	echo "round $r of $rounds"
	# Alternate which path goes first, so neither always runs on a warmer machine.
	order=(direct sftp)
	((r % 2)) || order=(sftp direct)
	for p in "${order[@]}"; do
		case $p in
		direct) measure "direct-put" "${direct[@]}" -op put -file "$work/src.bin" ;;
		sftp) measure "sftp-put" "${sftp_cmd[@]}" -b "$work/put.batch" bench@127.0.0.1 ;;
		esac
	done
	for p in "${order[@]}"; do
		case $p in
		direct) measure "direct-get" "${direct[@]}" -op get -out "$work/direct-get.bin" ;;
		sftp) measure "sftp-get" "${sftp_cmd[@]}" -b "$work/get.batch" bench@127.0.0.1 ;;
		esac
	done
	verify "$work/direct-get.bin"
	verify "$work/sftp-get.bin"
done
rss_peak=$(awk '/^VmHWM/{print $2}' "/proc/$gw_pid/status")

echo
echo "$size_mib MiB file, best of $rounds round(s); MB = 10^6 bytes; CPU = user+system seconds"
link_desc="loopback, no cap"
[[ -z $s3_mbps ]] || link_desc="bench/s3link, $s3_mbps MB/s per direction"
echo "sftp options: ${BENCH_SFTP_OPTS:-(defaults)}; S3: $link_desc; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$bytes" -v hz="$hz" -v idle="$rss_idle" -v peak="$rss_peak" '
	!($1 in best) || $2 < best[$1] { best[$1] = $2; line[$1] = $0 }
	END {
		printf "%-11s %8s %8s %11s %12s %14s\n", "path", "seconds", "MB/s", "client CPU", "s3sftpd CPU", "versitygw CPU"
		n = split("direct-put sftp-put direct-get sftp-get", order, " ")
		for (i = 1; i <= n; i++) {
			split(line[order[i]], f, " ")
			gw = f[1] ~ /^sftp/ ? sprintf("%.2f", f[5]/hz) : "-"
			printf "%-11s %8.2f %8.1f %11.2f %12s %14.2f\n", f[1], f[2], b/f[2]/1e6, f[3]+f[4], gw, f[6]/hz
		}
		printf "ratio sftp/direct (MB/s): put %.2f, get %.2f\n", best["direct-put"]/best["sftp-put"], best["direct-get"]/best["sftp-get"]
		printf "s3sftpd RSS: %.1f MiB idle, %.1f MiB peak (VmHWM)\n", idle/1024, peak/1024
	}' "$work/results"
