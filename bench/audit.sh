#!/usr/bin/env bash
# bench/audit.sh: what the audit trail costs on many small files. Uploads
# BENCH_FILES files with one `sftp -b` batch through s3sftpd with the audit
# trail off, to a local file, and to a local file plus the S3 sink (a segment
# shipped every second), and puts the same files directly with the SDK, all
# against the same local versitygw. Prints seconds, ms per file and the ratio
# to the audit-off run. See bench/README.md.
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
"$work/bin/s3direct" -op mb -endpoint "$endpoint" -bucket audit-trail

echo "writing $files files of $file_bytes random bytes"
mkdir -p "$work/small"
head -c "$((files * file_bytes))" /dev/urandom | split -a 5 -d -b "$file_bytes" - "$work/small/f"
echo "put $work/small/* ." >"$work/put.batch"

declare -A audit_toml=(
	[audit-off]='[audit]
file = ""'
	[audit-file]="[audit]
file = \"$work/audit-file/audit.jsonl\""
	[audit-file+s3]="[audit]
file = \"$work/audit-s3/audit.jsonl\"
s3_bucket = \"audit-trail\"
s3_prefix = \"gw/\"
rotate_every = \"1s\""
)
paths=(audit-off audit-file audit-file+s3)

TIMEFORMAT='%3R'
: >"$work/results"
for r in $(seq "$rounds"); do
	echo "round $r of $rounds"
	for p in "${paths[@]}"; do
		start_gateway "$p" "${audit_toml[$p]}"
		g0=$(cpu "$gw_pid")
		{ time "${sftp_cmd[@]}" -b "$work/put.batch" bench@127.0.0.1 >"$work/cmd.log" 2>&1; } 2>"$work/time" ||
			die "$p failed: $(cat "$work/cmd.log")"
		echo "$p $(cat "$work/time") $(($(cpu "$gw_pid") - g0))" >>"$work/results"
		stop_gateway
	done
	{ time "$work/bin/s3direct" -op putdir -endpoint "$endpoint" -bucket "$bucket" -key "direct/$r" \
		-file "$work/small" >"$work/cmd.log" 2>&1; } 2>"$work/time" || die "direct failed: $(cat "$work/cmd.log")"
	echo "direct $(cat "$work/time") 0" >>"$work/results"
done

# The trails written must verify, and the S3 copy must hold segments.
for d in audit-file audit-s3; do
	"$work/bin/s3sftpd" audit verify "$work/$d"/audit*.jsonl >"$work/verify.log" 2>&1 ||
		die "audit verify $d failed: $(cat "$work/verify.log")"
done
records=$(cat "$work/audit-file"/audit*.jsonl | wc -l)
trail_bytes=$(cat "$work/audit-file"/audit*.jsonl | wc -c)
segments=$(find "$work/s3/audit-trail" -type f -name '*.jsonl' | wc -l)

echo
echo "$files files of $file_bytes bytes, best of $rounds round(s); nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "trail of one audited run: $((records / rounds)) records, $((trail_bytes / rounds / files)) bytes per file; $segments segments shipped in all"
awk -v n="$files" -v hz="$hz" '
	!($1 in best) || $2 < best[$1] { best[$1] = $2; cpu[$1] = $3 }
	END {
		printf "%-14s %8s %8s %12s %12s\n", "path", "seconds", "ms/file", "s3sftpd CPU", "vs audit-off"
		split("direct audit-off audit-file audit-file+s3", order, " ")
		for (i = 1; i <= 4; i++) {
			p = order[i]
			c = p == "direct" ? "-" : sprintf("%.2f", cpu[p]/hz)
			printf "%-14s %8.2f %8.2f %12s %12.2f\n", p, best[p], best[p]*1000/n, c, best[p]/best["audit-off"]
		}
	}' "$work/results"
