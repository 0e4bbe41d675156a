#!/usr/bin/env bash
# bench/filepart.sh: WinSCP's "transfer to temporary filename" against a plain
# upload of the same file through s3sftpd, with OpenSSH sftp, on a local
# versitygw. The temporary-name path is WinSCP's sequence: upload
# NAME.filepart with its time kept (put -p: FSETSTAT before CLOSE), chmod,
# then rename onto NAME (posix-rename). S3 has no rename: the gateway streams
# NAME.filepart into a multipart upload under NAME, leaves it pending at
# CLOSE, and the rename completes it (no copy); the time rides on a tag.
# Prints seconds, MB/s and the ratio (target ≤ 1.2).
#
#   BENCH_SIZE_MIB   file size in MiB (default 2048)
#   BENCH_ROUNDS     rounds; the best of each path is reported (default 1)
set -euo pipefail

size_mib=${BENCH_SIZE_MIB:-2048}
rounds=${BENCH_ROUNDS:-1}
s3_mbps=
sftp_opts=()

source "$(dirname "$0")/lib.sh"
bench_setup
start_gateway s3sftpd

make_source
touch -d '2001-02-03 04:05:06 UTC' "$work/src.bin"

printf 'put %s plain.bin\n' "$work/src.bin" >"$work/plain.batch"
printf 'put -p %s temp.bin.filepart\nchmod 644 temp.bin.filepart\nrename temp.bin.filepart temp.bin\n' "$work/src.bin" >"$work/filepart.batch"
printf 'get temp.bin %s\nls -l temp.bin\n' "$work/back.bin" >"$work/check.batch"

TIMEFORMAT='%3R'
measure() {
	local name=$1 wall
	shift
	if ! { time "$@" >"$work/cmd.log" 2>&1; } 2>"$work/time"; then
		die "$name failed: $(cat "$work/cmd.log")"
	fi
	read -r wall <"$work/time"
	echo "$name $wall" >>"$work/results"
	awk -v n="$name" -v w="$wall" -v b="$bytes" 'BEGIN { printf "  %-9s %8.2f s %8.1f MB/s\n", n, w, b/w/1e6 }'
}

for r in $(seq "$rounds"); do
	echo "round $r of $rounds"
	order=(plain filepart)
	((r % 2)) || order=(filepart plain)
	for p in "${order[@]}"; do
		measure "$p" "${sftp_cmd[@]}" -b "$work/$p.batch" bench@127.0.0.1
	done
	"${sftp_cmd[@]}" -b "$work/check.batch" bench@127.0.0.1 >"$work/check.log" 2>&1 || die "check failed: $(cat "$work/check.log")"
	sum=$(sha256sum <"$work/back.bin" | cut -d' ' -f1)
	[[ $sum == "$src_sum" ]] || die "temp.bin: sha256 $sum differs from the source's $src_sum"
	grep -q 'Feb  *3  *2001 temp.bin' "$work/check.log" || die "temp.bin lost its time: $(cat "$work/check.log")"
	rm -f "$work/back.bin"
done

echo
echo "$size_mib MiB file, best of $rounds round(s); MB = 10^6 bytes; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$bytes" '
	!($1 in best) || $2 < best[$1] { best[$1] = $2 }
	END {
		printf "%-9s %8s %8s\n", "path", "seconds", "MB/s"
		printf "%-9s %8.2f %8.1f\n", "plain", best["plain"], b/best["plain"]/1e6
		printf "%-9s %8.2f %8.1f\n", "filepart", best["filepart"], b/best["filepart"]/1e6
		printf "ratio filepart/plain (seconds): %.2f (target <= 1.20)\n", best["filepart"]/best["plain"]
	}' "$work/results"
