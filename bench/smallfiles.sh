#!/usr/bin/env bash
# bench/smallfiles.sh: many small files in one OpenSSH sftp session through
# s3sftpd (`put dir/* .` in one `sftp -b` batch) against sequential direct
# PutObject of the same files with the SDK (bench/s3direct -op putdir), in
# the same run, against the same local versitygw. Prints files per second
# and the ratio sftp/direct (of rates). See bench/README.md.
#
#   BENCH_FILES       number of files (default 1000)
#   BENCH_FILE_BYTES  size of each (default 4096)
#   BENCH_ROUNDS      rounds; the best of each path is reported (default 1)
set -euo pipefail

files=${BENCH_FILES:-1000}
file_bytes=${BENCH_FILE_BYTES:-4096}
rounds=${BENCH_ROUNDS:-1}
s3_mbps=
sftp_opts=()

source "$(dirname "$0")/lib.sh"
bench_setup
start_gateway s3sftpd '[audit]
file = ""'

echo "writing $files files of $file_bytes random bytes"
mkdir -p "$work/small"
head -c "$((files * file_bytes))" /dev/urandom | split -a 5 -d -b "$file_bytes" - "$work/small/f"

TIMEFORMAT='%3R'
: >"$work/results"
for r in $(seq "$rounds"); do
	echo "round $r of $rounds"
	echo "mkdir r$r
put $work/small/* r$r/" >"$work/put.batch"
	g0=$(cpu "$gw_pid")
	{ time "${sftp_cmd[@]}" -b "$work/put.batch" bench@127.0.0.1 >"$work/cmd.log" 2>&1; } 2>"$work/time" ||
		die "sftp failed: $(tail -3 "$work/cmd.log")"
	echo "sftp $(cat "$work/time") $(($(cpu "$gw_pid") - g0))" >>"$work/results"
	{ time "$work/bin/s3direct" -op putdir -endpoint "$endpoint" -bucket "$bucket" -key "direct/$r" \
		-file "$work/small" >"$work/cmd.log" 2>&1; } 2>"$work/time" || die "direct failed: $(cat "$work/cmd.log")"
	echo "direct $(cat "$work/time") 0" >>"$work/results"
done

echo
echo "$files files of $file_bytes bytes, best of $rounds round(s); nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v n="$files" -v hz="$hz" '
	!($1 in best) || $2 < best[$1] { best[$1] = $2; cpu[$1] = $3 }
	END {
		printf "%-8s %8s %8s %12s %10s\n", "path", "seconds", "files/s", "s3sftpd CPU", "vs direct"
		split("direct sftp", order, " ")
		for (i = 1; i <= 2; i++) {
			p = order[i]
			c = p == "direct" ? "-" : sprintf("%.2f", cpu[p]/hz)
			printf "%-8s %8.2f %8.0f %12s %10.2f\n", p, best[p], n/best[p], c, best["direct"]/best[p]
		}
	}' "$work/results"
