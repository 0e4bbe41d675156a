#!/usr/bin/env bash
# bench/snssink.sh: BENCH_FILES (default 1000) small files in one OpenSSH
# sftp batch through s3sftpd without an event sink, then with one
# [[events.sns]] sink publishing to goaws on loopback (s3sftpd-goawsd, which
# scripts/test builds), and how long after the second batch started every
# upload event was in the topic's queue. Needs the [[events.sns]] table of
# issue 20 part A.
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
cat >"$work/goaws.yaml" <<Y
Local:
  Host: 127.0.0.1
  Region: us-east-1
  AccountId: "123456789012"
  Queues:
    - Name: q
  Topics:
    - Name: t
      Subscriptions:
        - QueueName: q
          Raw: true
Y
goawsd=$(command -v s3sftpd-goawsd || echo "$(go env GOPATH)/bin/s3sftpd-goawsd")
[[ -x $goawsd ]] || die "s3sftpd-goawsd missing: go build -C internal/snstest/goawsd -o \$(go env GOPATH)/bin/s3sftpd-goawsd ."
"$goawsd" -listen 127.0.0.1:0 -config "$work/goaws.yaml" >"$work/goaws.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q "listening on" "$work/goaws.log" && break; sleep 0.05; done
sns=http://$(sed -n 's/^listening on //p' "$work/goaws.log")
mkdir -p "$work/small"
head -c "$((files * file_bytes))" /dev/urandom | split -a 5 -d -b "$file_bytes" - "$work/small/f"
TIMEFORMAT='%3R'
run() { # name extra
	start_gateway "$1" "[audit]
file = \"$work/$1-audit/audit.jsonl\"
$2"
	echo "mkdir $1
put $work/small/* $1/" >"$work/put.batch"
	{ time "${sftp_cmd[@]}" -b "$work/put.batch" bench@127.0.0.1 >"$work/cmd.log" 2>&1; } 2>"$work/time" || die "sftp failed: $(tail -3 "$work/cmd.log")"
	echo "$1: $files files in $(cat "$work/time") s = $(awk -v n="$files" -v s="$(cat "$work/time")" 'BEGIN{printf "%.0f", n/s}') files/s"
}
count() { curl -s -d "Action=GetQueueAttributes&QueueUrl=$sns/123456789012/q&AttributeName.1=ApproximateNumberOfMessages" "$sns/" | sed -n 's/.*<Value>\([0-9]*\)<\/Value>.*/\1/p' | head -1; }
run nosink ""
t0=$(date +%s.%N)
run sns "[[events.sns]]
topic_arn = \"arn:aws:sns:us-east-1:123456789012:t\"
endpoint = \"$sns\"
types = [\"upload\"]"
until [[ $(count) -ge $files ]]; do sleep 0.1; done
t1=$(date +%s.%N)
echo "sns: $files upload events in the queue $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s after the batch started; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
