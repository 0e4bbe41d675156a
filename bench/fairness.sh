#!/usr/bin/env bash
# bench/fairness.sh: N partners upload and download at once through one
# s3sftpd, first alone, then while a misbehaving partner holds upload handles
# with 1-byte writes and read handles that read slowly. Prints each partner's
# MB/s alone and under attack, the ratios (0.8 or more is the goal) and the
# gateway's peak RSS. Everything listens on 127.0.0.1 and lives in one temp dir
# that is removed on exit. See bench/README.md.
#
#   BENCH_PARTNERS        partners transferring at once (default 3)
#   BENCH_SIZE_MIB        each partner's file, in MiB (default 64)
#   BENCH_ATTACK_WRITES   upload handles the attacker holds, 1 byte written to each (default 64)
#   BENCH_ATTACK_READS    read handles the attacker holds, each reading 32 KiB a second (default 50)
#   BENCH_GATEWAY_TOML    more config for the gateway, such as a [user_defaults] table (default none)
#   BENCH_TIMEOUT         seconds after which a transfer counts as stalled (default 120)
set -euo pipefail

partners=${BENCH_PARTNERS:-3}
size_mib=${BENCH_SIZE_MIB:-64}
attack_writes=${BENCH_ATTACK_WRITES:-64}
attack_reads=${BENCH_ATTACK_READS:-50}
timeout=${BENCH_TIMEOUT:-120}
s3_mbps=
sftp_opts=()

source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c 'import paramiko' 2>/dev/null || die "missing python3-paramiko: apt-get install python3-paramiko"
bench_setup

# Every partner and the attacker log in with the bench key, each jailed to its own home.
users=""
for i in $(seq "$partners") evil; do
	users+="[[users]]
name = \"p$i\"
home = \"p$i/\"
keys_file = \"$work/id_ed25519.pub\"

"
done
start_gateway s3sftpd "${BENCH_GATEWAY_TOML:-}
$users"
make_source

# transfer USER PHASE: one partner's upload of PHASE.bin, then its download of
# alone.bin (so a stalled upload does not hide the download), each timed;
# appends "USER PHASE put|get SECONDS" to results ("stalled" after $timeout s).
TIMEFORMAT='%3R'
transfer() {
	local u=$1 phase=$2 op batch sum
	for op in put get; do
		if [[ $op == put ]]; then batch="put $work/src.bin $phase.bin"; else batch="get alone.bin $work/$u-$phase.bin"; fi
		if { time timeout "$timeout" "${sftp_cmd[@]}" -b - "$u@127.0.0.1" <<<"$batch" >"$work/$u-$op.log" 2>&1; } 2>"$work/$u-$op.time"; then
			echo "$u $phase $op $(cat "$work/$u-$op.time")" >>"$work/results"
		else
			echo "$u $phase $op stalled" >>"$work/results"
			[[ $op == put && $phase == alone ]] && return
		fi
	done
	if [[ -f $work/$u-$phase.bin ]]; then
		sum=$(sha256sum <"$work/$u-$phase.bin" | cut -d' ' -f1)
		[[ $sum == "$src_sum" ]] || echo "bench: $u's $phase download differs from the source" >&2
		rm -f "$work/$u-$phase.bin"
	fi
}

# round PHASE: every partner at once.
round() {
	echo "$1: $partners partners, $size_mib MiB each, upload then download"
	local ps=()
	for i in $(seq "$partners"); do
		transfer "p$i" "$1" &
		ps+=($!)
	done
	wait "${ps[@]}"
}

round alone

# The attacker: a file to read, then upload handles holding 1 byte each and
# read handles reading 32 KiB a second each, on one session apiece.
"${sftp_cmd[@]}" -b - pevil@127.0.0.1 <<<"put $work/src.bin big.bin" >"$work/evil-put.log" 2>&1 || die "attacker's upload failed: $(cat "$work/evil-put.log")"
hold=(/usr/bin/python3 test/e2e/testdata/paramiko_hold.py 127.0.0.1 "$gw_port" pevil "$work/id_ed25519" -)
attack() {
	local fifo=$work/attack-$1.in
	mkfifo "$fifo"
	"${hold[@]}" "${@:2}" <"$fifo" >"$work/attack-$1.out" 2>&1 &
	pids+=($!)
	exec {fd}>"$fifo" # held open until exit: EOF tells the attacker to let go
	for _ in $(seq 300); do
		grep -q ready "$work/attack-$1.out" 2>/dev/null && return
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: the attacker's $1 handles are not all held: $(tail -3 "$work/attack-$1.out")" >&2
}
echo "attack: $attack_writes upload handles with 1 byte each, $attack_reads read handles reading 32 KiB/s each"
((attack_writes == 0)) || attack writes write held "$attack_writes"
((attack_reads == 0)) || attack reads read big.bin "$attack_reads" 2 32768 1
rss_attack=$(awk '/^VmRSS/{print $2}' "/proc/$gw_pid/status")

round attacked
rss_peak=$(awk '/^VmHWM/{print $2}' "/proc/$gw_pid/status")

echo
echo "MB = 10^6 bytes; $partners partners x $size_mib MiB; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$((size_mib << 20))" -v np="$partners" -v rss="$rss_attack" -v peak="$rss_peak" '
	{ t[$1 " " $2 " " $3] = $4 }
	function mbps(s) { return s == "stalled" ? "stalled" : sprintf("%.1f", b / s / 1e6) }
	function ratio(a, u) { return (a == "stalled" || u == "stalled") ? "0.00" : sprintf("%.2f", a / u) }
	END {
		printf "%-8s %12s %12s %6s %12s %12s %6s\n", "partner", "put alone", "put attacked", "ratio", "get alone", "get attacked", "ratio"
		for (i = 1; i <= np; i++) {
			u = "p" i
			pa = t[u " alone put"]; pu = t[u " attacked put"]; ga = t[u " alone get"]; gu = t[u " attacked get"]
			if (pu == "") pu = "stalled"
			if (gu == "") gu = "stalled"
			printf "%-8s %12s %12s %6s %12s %12s %6s\n", u, mbps(pa), mbps(pu), ratio(pa, pu), mbps(ga), mbps(gu), ratio(ga, gu)
		}
		printf "s3sftpd RSS: %.1f MiB with the attacker holding its handles, %.1f MiB peak (VmHWM)\n", rss/1024, peak/1024
	}' "$work/results"
