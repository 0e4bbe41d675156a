#!/usr/bin/env bash
# bench/events.sh: what events cost and how fast they go out. Uploads
# BENCH_FILES small files in one OpenSSH sftp batch three times against the
# same local versitygw, and prints files/s of each and events/s delivered:
#
#   none     a gateway without event sinks
#   live     a gateway with two webhook sinks (bench/hookrecv on 127.0.0.1,
#            signatures checked), receivers up: the upload rate, and how long
#            after the last upload its events had reached both receivers
#   backlog  the same gateway while both receivers answer 503; then they
#            come back and the backlog drains: events/s per sink, from the
#            first event accepted to the last
#
#   BENCH_FILES       number of files (default 1000)
#   BENCH_FILE_BYTES  size of each (default 4096)
set -euo pipefail

files=${BENCH_FILES:-1000}
file_bytes=${BENCH_FILE_BYTES:-4096}
s3_mbps=
sftp_opts=()

source "$(dirname "$0")/lib.sh"
bench_setup
go build -o "$work/bin/hookrecv" ./bench/hookrecv

echo "writing $files files of $file_bytes random bytes"
mkdir -p "$work/small"
head -c "$((files * file_bytes))" /dev/urandom | split -a 5 -d -b "$file_bytes" - "$work/small/f"
head -c 32 /dev/urandom >"$work/hook.secret"
chmod 600 "$work/hook.secret"

# upload DIR: puts every file into DIR in one session; prints the seconds.
upload() {
	echo "mkdir $1
put $work/small/* $1/" >"$work/put.batch"
	local t0 t1
	t0=$(date +%s.%N)
	"${sftp_cmd[@]}" -b "$work/put.batch" bench@127.0.0.1 >"$work/cmd.log" 2>&1 || die "sftp failed: $(tail -3 "$work/cmd.log")"
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}

# accepted LOG FROM: unique event ids in LOG after its first FROM lines.
accepted() { tail -n +"$(($2 + 1))" "$1" | awk '{print $2}' | sort -u | wc -l; }

# wait_events FROM: waits until both receivers hold files new events after FROM lines.
wait_events() {
	for _ in $(seq 1200); do
		(($(accepted "$work/r1.log" "$1") >= files && $(accepted "$work/r2.log" "$1") >= files)) && return
		sleep 0.1
	done
	die "events missing after 120s: $(accepted "$work/r1.log" "$1") and $(accepted "$work/r2.log" "$1") of $files"
}

echo "round none: no sinks"
start_gateway none "[audit]
file = \"$work/none/audit.jsonl\""
none_s=$(upload r-none)
stop_gateway

hooks=""
for r in r1 r2; do
	: >"$work/$r.log"
	"$work/bin/hookrecv" -secret "$work/hook.secret" -down "$work/down" -log "$work/$r.log" >"$work/$r.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 200); do
		addr=$(sed -n 's/^listening //p' "$work/$r.out")
		[[ -n $addr ]] && break
		sleep 0.05
	done
	[[ -n $addr ]] || die "hookrecv did not start: $(cat "$work/$r.out")"
	hooks+="[[events.webhook]]
url = \"http://$addr/$r\"
secret_file = \"$work/hook.secret\"
"
done

echo "round live: two webhook sinks, receivers up"
start_gateway sinks "[audit]
file = \"$work/sinks/audit.jsonl\"

$hooks"
live_s=$(upload r-live)
t_end=$(date +%s%N)
wait_events 0
t_last=$(tail -n1 -q "$work/r1.log" "$work/r2.log" | awk '{print $1}' | sort -n | tail -1)
live_lag=$(echo "scale=3; x = ($t_last - $t_end) / 1000000000; if (x < 0) x = 0; x" | bc) # 0: before sftp had exited

echo "round backlog: receivers answer 503 during the upload, then come back"
touch "$work/down"
from=$(wc -l <"$work/r1.log")
from2=$(wc -l <"$work/r2.log")
backlog_s=$(upload r-backlog)
rm "$work/down"
for _ in $(seq 1200); do
	(($(accepted "$work/r1.log" "$from") >= files && $(accepted "$work/r2.log" "$from2") >= files)) && break
	sleep 0.1
done
rate() { # LOG FROM: events/s from its first accepted event after FROM to its last
	tail -n +"$(($2 + 1))" "$1" | awk -v n="$files" 'NR == 1 { a = $1 } { b = $1 } END { if (NR < n) { print "incomplete"; exit } printf "%.0f", (NR - 1) / ((b - a) / 1e9) }'
}
r1_rate=$(rate "$work/r1.log" "$from")
r2_rate=$(rate "$work/r2.log" "$from2")
grep -q '"bad signature' "$work"/r?.out && die "a receiver saw a bad signature"

echo
echo "$files files of $file_bytes bytes; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-8s %8s %8s  %s\n" round seconds files/s events
printf "%-8s %8.2f %8.0f  %s\n" none "$none_s" "$(echo "$files / $none_s" | bc -l)" "-"
printf "%-8s %8.2f %8.0f  %s\n" live "$live_s" "$(echo "$files / $live_s" | bc -l)" "all at both sinks ${live_lag}s after the last upload"
printf "%-8s %8.2f %8.0f  %s\n" backlog "$backlog_s" "$(echo "$files / $backlog_s" | bc -l)" "drained at $r1_rate and $r2_rate events/s per sink"
