#!/usr/bin/env bash
# bench/soak.sh: BENCH_SESSIONS concurrent OpenSSH sftp sessions through
# s3sftpd to a local versitygw for BENCH_SECONDS, each looping over upload,
# download (checked by SHA-256), listing and delete. Prints transfers tried
# and failed (must be 0), s3sftpd's RSS over time, and its goroutines and
# open files before the load and after it (must come back). See bench/README.md.
#
#   BENCH_SESSIONS  concurrent sessions (default 200)
#   BENCH_SECONDS   how long the load runs (default 600)
set -euo pipefail

sessions=${BENCH_SESSIONS:-200}
seconds=${BENCH_SECONDS:-600}
s3_mbps=
sftp_opts=()

source "$(dirname "$0")/lib.sh"
bench_setup
start_gateway soak '[audit]
rotate_size = "16MiB"'

# stats: the figures s3sftpd logs on SIGUSR1.
stats() {
	local before
	before=$(grep -c '"msg":"stats"' "$work/soak.log" || true)
	kill -USR1 "$gw_pid"
	for _ in $(seq 100); do
		(($(grep -c '"msg":"stats"' "$work/soak.log" || true) > before)) && break
		sleep 0.05
	done
	grep '"msg":"stats"' "$work/soak.log" | tail -1 | sed 's/.*"goroutines":\([0-9]*\).*"heap_mib":\([0-9]*\).*"open_fds":\([0-9]*\).*/goroutines \1, heap \2 MiB, open fds \3/'
}
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$gw_pid/status"; }

mkdir -p "$work/src"
for i in $(seq 0 15); do
	head -c $(((i * 131 + 17) * 1024)) /dev/urandom >"$work/src/f$i" # 17 KiB .. 2 MiB
done
before=$(stats)
echo "s3sftpd before the load: $before, RSS $(rss) MiB"
echo "$sessions sessions for $seconds s"

# worker N: loops until the deadline, appending "ok" or "fail NAME" per transfer.
worker() {
	local n=$1 end=$2 i=0 f dir="$work/w$1"
	mkdir -p "$dir"
	while ((SECONDS < end)); do
		f=f$(((n + i) % 16))
		i=$((i + 1))
		printf 'put %s w%s-%s\nget w%s-%s %s/back\nls -l\nrm w%s-%s\n' "$work/src/$f" "$n" "$i" "$n" "$i" "$dir" "$n" "$i" >"$dir/batch"
		if "${sftp_cmd[@]}" -b "$dir/batch" bench@127.0.0.1 >"$dir/out" 2>&1 && cmp -s "$work/src/$f" "$dir/back"; then
			echo ok
		else
			echo "fail w$n-$i: $(tail -1 "$dir/out")"
		fi
		rm -f "$dir/back"
	done >"$dir/results"
}
end=$((SECONDS + seconds))
wpids=()
for n in $(seq "$sessions"); do
	worker "$n" "$end" &
	wpids+=($!)
done
peak=0
while ((SECONDS < end)); do
	sleep 10
	r=$(rss)
	((r > peak)) && peak=$r
	echo "  t+$((seconds - end + SECONDS)) s: RSS $r MiB"
done
wait "${wpids[@]}"
sleep 2 # the last sessions end
after=$(stats)

ok=$(cat "$work"/w*/results | grep -c '^ok' || true)
failed=$(cat "$work"/w*/results | grep -c '^fail' || true)
echo
echo "$sessions sessions, $seconds s; nproc $(nproc)"
echo "transfers: $((ok + failed)) batches of upload+download+list+delete, $ok ok, $failed failed"
echo "s3sftpd before: $before"
echo "s3sftpd after:  $after"
echo "s3sftpd RSS: peak $peak MiB during the load, $(rss) MiB after (VmHWM $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$gw_pid/status") MiB)"
echo "audit trail: $("$work/bin/s3sftpd" audit verify "$work"/data/audit/audit*.jsonl | tail -1)"
grep -h '^fail' "$work"/w*/results | head -5 || true
((failed == 0))
