#!/usr/bin/env bash
# bench/ceiling.sh: s3sftpd against its ceilings, in the same run. One file is
# downloaded with OpenSSH sftp from s3sftpd (on a local versitygw) and from
# OpenSSH's own sshd + sftp-server serving the same bytes from tmpfs (started
# by the bench, see start_sshd in lib.sh), with the same cipher and MAC forced
# on both: the pair OpenSSH picks against s3sftpd by default (read from
# `sftp -vv`) and aes128-gcm@openssh.com. It is also uploaded through s3sftpd,
# to sshd (into tmpfs) and put directly with the SDK (16 MiB parts, as the
# gateway), and read with
# one direct GetObject, the second ceiling for downloads. Prints MB/s, the
# ratios s3sftpd/sshd (get) and s3sftpd/direct (put, get) per cipher, and
# each server's CPU seconds. See bench/README.md.
#
#   BENCH_SIZE_MIB   file size in MiB (default 1024)
#   BENCH_ROUNDS     rounds; the best of each path is reported (default 2)
set -euo pipefail

size_mib=${BENCH_SIZE_MIB:-1024}
rounds=${BENCH_ROUNDS:-2}
s3_mbps=
sftp_opts=()

source "$(dirname "$0")/lib.sh"
bench_setup
start_gateway s3sftpd
start_sshd
make_source

# The pair OpenSSH picks against s3sftpd when nothing is forced.
"${sftp_cmd[@]}" -vv -b - bench@127.0.0.1 <<<"pwd" >"$work/kex.log" 2>&1 || die "sftp -vv failed: $(tail -3 "$work/kex.log")"
read -r def_cipher def_mac < <(sed -n 's/.*kex: server->client cipher: \([^ ]*\) MAC: \([^ ]*\) .*/\1 \2/p' "$work/kex.log" | head -1)
[[ -n $def_cipher ]] || die "no cipher in sftp -vv: $(tail -3 "$work/kex.log")"
[[ $def_mac == "<implicit>" ]] && def_mac=hmac-sha2-256-etm@openssh.com
declare -A force=(
	[default]="-c $def_cipher -o MACs=$def_mac"
	[gcm]="-c aes128-gcm@openssh.com"
)
echo "OpenSSH picks against s3sftpd: $def_cipher + $def_mac (\"default\" below)"

echo "put $work/src.bin bench.bin" >"$work/put.batch"
echo "get bench.bin $work/get.bin" >"$work/get.batch"
echo "get $work/src.bin $work/get.bin" >"$work/sshd-get.batch"
echo "put $work/src.bin $work/sshd-put.bin" >"$work/sshd-put.batch"
direct=("$work/bin/s3direct" -endpoint "$endpoint" -bucket "$bucket" -key direct/bench.bin)

# sshd's CPU: the listener and every process under it (the session's sshd, sftp-server).
tree_cpu() {
	local t=0 c
	for c in $(ps -o pid= --ppid "$1") ; do t=$((t + $(tree_cpu "$c"))); done
	echo $((t + $(cpu "$1")))
}
TIMEFORMAT='%3R'
# measure NAME SERVER_PID CMD...: wall seconds of CMD and the server's CPU ticks meanwhile (cumulative
# CPU of exited children is counted in the parent's cutime, which cpu leaves out, so sshd's is sampled).
measure() {
	local name=$1 pid=$2 wall c0 peak=0 c
	shift 2
	c0=$(tree_cpu "$pid")
	{ time "$@" >"$work/cmd.log" 2>&1; } 2>"$work/time" &
	local tp=$!
	while kill -0 "$tp" 2>/dev/null; do
		c=$(tree_cpu "$pid") && ((c > peak)) && peak=$c
		sleep 0.2
	done
	wait "$tp" || die "$name failed: $(cat "$work/cmd.log")"
	wall=$(cat "$work/time")
	echo "$name $wall $((peak - c0))" >>"$work/results"
	awk -v n="$name" -v w="$wall" -v b="$bytes" 'BEGIN { printf "  %-20s %8.2f s %8.1f MB/s\n", n, w, b/w/1e6 }'
}
verify() {
	[[ $(sha256sum <"$work/get.bin" | cut -d' ' -f1) == "$src_sum" ]] || die "$1: download differs from the source"
	rm -f "$work/get.bin"
}

: >"$work/results"
for r in $(seq "$rounds"); do
	echo "round $r of $rounds"
	order=(default gcm)
	((r % 2)) || order=(gcm default)
	for c in "${order[@]}"; do
		read -r -a f <<<"${force[$c]}"
		if ((r % 2)); then servers=(s3sftpd sshd); else servers=(sshd s3sftpd); fi
		for s in "${servers[@]}"; do
			if [[ $s == s3sftpd ]]; then
				measure "s3sftpd-put-$c" "$gw_pid" "${sftp_cmd[@]}" "${f[@]}" -b "$work/put.batch" bench@127.0.0.1
				measure "s3sftpd-get-$c" "$gw_pid" "${sftp_cmd[@]}" "${f[@]}" -b "$work/get.batch" bench@127.0.0.1
			else
				measure "sshd-put-$c" "$sshd_pid" "${sshd_cmd[@]}" "${f[@]}" -b "$work/sshd-put.batch" "$(id -un)@127.0.0.1"
				rm -f "$work/sshd-put.bin"
				measure "sshd-get-$c" "$sshd_pid" "${sshd_cmd[@]}" "${f[@]}" -b "$work/sshd-get.batch" "$(id -un)@127.0.0.1"
			fi
			verify "$s-get-$c"
		done
	done
	measure direct-put "$vgw_pid" "${direct[@]}" -op put -file "$work/src.bin"
	measure direct-get "$vgw_pid" "${direct[@]}" -op get -out "$work/get.bin"
	verify direct-get
done

echo
echo "$size_mib MiB file, best of $rounds round(s); MB = 10^6 bytes; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU = the server's user+system seconds (s3sftpd; sshd and its sftp-server; versitygw for direct)"
awk -v b="$bytes" -v hz="$hz" '
	!($1 in best) || $2 < best[$1] { best[$1] = $2; cpu[$1] = $3 }
	END {
		printf "%-20s %8s %8s %8s\n", "path", "seconds", "MB/s", "CPU"
		n = split("direct-put sshd-put-default s3sftpd-put-default sshd-put-gcm s3sftpd-put-gcm direct-get sshd-get-default s3sftpd-get-default sshd-get-gcm s3sftpd-get-gcm", order, " ")
		for (i = 1; i <= n; i++) printf "%-20s %8.2f %8.1f %8.2f\n", order[i], best[order[i]], b/best[order[i]]/1e6, cpu[order[i]]/hz
		split("default gcm", cs, " ")
		for (i = 1; i <= 2; i++) {
			c = cs[i]
			printf "ratio %-7s get s3sftpd/sshd %.2f (goal >= 0.90), get s3sftpd/direct %.2f, put s3sftpd/direct %.2f (goal >= 0.95)\n", c,
				best["sshd-get-" c]/best["s3sftpd-get-" c], best["direct-get"]/best["s3sftpd-get-" c], best["direct-put"]/best["s3sftpd-put-" c]
		}
		# An upload through any SFTP gateway to this S3 does the SSH work of sshd-put and the S3
		# work of direct-put; on a machine where those share the CPU, one after the other:
		for (i = 1; i <= 2; i++) {
			c = cs[i]
			printf "ratio %-7s put s3sftpd/sshd %.2f, put s3sftpd/(sshd-put + direct-put, one after the other) %.2f\n", c,
				best["sshd-put-" c]/best["s3sftpd-put-" c], (best["sshd-put-" c] + best["direct-put"])/best["s3sftpd-put-" c]
		}
	}' "$work/results"
