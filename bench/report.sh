#!/usr/bin/env bash
# bench/report.sh: how fast `s3sftpd audit report` reads a big trail, and in
# how much memory. bench/trailgen writes a trail of BENCH_RECORDS records
# through the audit package (HMAC-keyed, rotated into 256 MiB segments, with
# its checkpoint); then, in the same run, `audit verify` alone (the ceiling:
# the report verifies the trail, then reads it again for the rows) and
# `audit report` in each of BENCH_FORMATS, to a file. Prints seconds,
# records/s (wall and per CPU second), peak RSS and the ratio to verify.
# See bench/README.md.
#
#   BENCH_RECORDS   records in the trail (default 10000000, about 3.3 GB)
#   BENCH_FORMATS   formats to time (default "csv html")
#   TMPDIR          where the trail goes (default /tmp; it is synthetic, not PHI)
set -euo pipefail

records=${BENCH_RECORDS:-10000000}
formats=${BENCH_FORMATS:-csv html}
die() { echo "bench: $*" >&2; exit 1; }
cd "$(dirname "$0")/.."
command -v go >/dev/null || die "missing go (Go 1.26)"
# The toolchain go.mod names, as scripts/test uses (fetched when the local Go is older).
export GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod)
[[ -x /usr/bin/time ]] || die "missing /usr/bin/time: apt-get install time"

work=$(mktemp -d "${TMPDIR:-/tmp}/s3sftpd-report-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
echo "building s3sftpd and trailgen"
go build -o "$work/s3sftpd" ./cmd/s3sftpd
go build -o "$work/trailgen" ./bench/trailgen
head -c 32 /dev/urandom >"$work/hmac.key"

echo "writing a trail of $records records to $work"
"$work/trailgen" -file "$work/trail/audit.jsonl" -records "$records" -hmac-key-file "$work/hmac.key"
trail=("$work"/trail/audit*.jsonl)
n=$("$work/s3sftpd" audit verify -hmac-key-file "$work/hmac.key" "${trail[@]}" | sed -n 's/^OK: \([0-9]*\) records.*/\1/p')
[[ -n $n ]] || die "the generated trail does not verify"
bytes=$(cat "${trail[@]}" | wc -c)

# timed NAME CMD...: runs CMD under /usr/bin/time, appends "NAME wall cpu rss_kb".
: >"$work/results"
timed() {
	local name=$1
	shift
	/usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>&1 || {
		cat "$work/out" >&2
		die "$name failed"
	}
	read -r wall user sys rss <"$work/time"
	echo "$name $wall $(echo "$user + $sys" | bc) $rss" >>"$work/results"
}
timed verify "$work/s3sftpd" audit verify -hmac-key-file "$work/hmac.key" "${trail[@]}"
for f in $formats; do
	timed "report-$f" "$work/s3sftpd" audit report -hmac-key-file "$work/hmac.key" -format "$f" -o "$work/report.$f" "${trail[@]}"
	head -c 4000 "$work/report.$f" | grep -q "OK: $n records" || die "report-$f does not state the verification at its top"
	echo "report-$f: $(wc -c <"$work/report.$f") bytes" >>"$work/sizes"
	rm -f "$work/report.$f"
done

echo
echo "trail: $n records, $((bytes / 1000000)) MB, ${#trail[@]} files; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$work/sizes"
awk -v n="$n" '
	BEGIN { printf "%-12s %9s %9s %12s %14s %10s %12s\n", "command", "seconds", "cpu s", "records/s", "records/cpu-s", "peak RSS", "vs verify" }
	{
		if ($1 == "verify") base = $2
		printf "%-12s %9.2f %9.2f %12.0f %14.0f %7.0f MB %12.2f\n", $1, $2, $3, n / $2, n / $3, $4 / 1024, base / $2
	}' "$work/results"
