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

die() { echo "bench: $*" >&2; exit 1; }

cd "$(dirname "$0")/.."

# Install nothing; say what is missing.
missing=()
command -v go >/dev/null || missing+=("go (Go 1.26)")
versitygw=$(command -v versitygw || true)
if [[ -z $versitygw ]] && command -v go >/dev/null; then
	versitygw=$(go env GOPATH)/bin/versitygw
fi
[[ -x $versitygw ]] || missing+=("versitygw: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
for c in sftp ssh-keygen; do
	command -v "$c" >/dev/null || missing+=("$c: apt-get install openssh-client")
done
command -v sha256sum >/dev/null || missing+=("sha256sum: apt-get install coreutils")
if ((${#missing[@]})); then
	printf 'bench: missing %s\n' "${missing[@]}" >&2
	exit 1
fi

# The test file is random bytes, not PHI: keep it (and the store) in memory when possible.
tmp=${TMPDIR:-/tmp}
[[ -d /dev/shm && -w /dev/shm ]] && tmp=/dev/shm
work=$(mktemp -d "$tmp/s3sftpd-bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/bin" "$work/s3"

echo "building s3sftpd and s3direct"
go build -o "$work/bin/s3sftpd" ./cmd/s3sftpd
go build -o "$work/bin/s3direct" ./bench/s3direct
go build -o "$work/bin/s3link" ./bench/s3link

rnd() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
export AWS_ACCESS_KEY_ID=bench-$(rnd 4) AWS_SECRET_ACCESS_KEY=$(rnd 16) AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
bucket=bench

# versitygw on a random free loopback port (retried if another process takes it first).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
vgw_pid=
for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 40000))
	port_open "$port" && continue
	ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
		"$versitygw" --port "127.0.0.1:$port" --quiet posix "$work/s3" >"$work/versitygw.log" 2>&1 &
	vgw_pid=$!
	pids+=("$vgw_pid")
	for _ in $(seq 200); do
		port_open "$port" || ! kill -0 "$vgw_pid" 2>/dev/null && break
		sleep 0.05
	done
	kill -0 "$vgw_pid" 2>/dev/null && port_open "$port" && break
	vgw_pid=
done
[[ -n $vgw_pid ]] || die "versitygw did not start: $(cat "$work/versitygw.log")"
endpoint=http://127.0.0.1:$port
"$work/bin/s3direct" -op mb -endpoint "$endpoint" -bucket "$bucket"
if [[ -n $s3_mbps ]]; then
	"$work/bin/s3link" -target "127.0.0.1:$port" -mbps "$s3_mbps" >"$work/s3link.log" 2>&1 &
	pids+=($!)
	link=
	for _ in $(seq 200); do
		link=$(sed -n 's/^listening //p' "$work/s3link.log")
		[[ -n $link ]] && break
		sleep 0.05
	done
	[[ -n $link ]] || die "s3link did not start: $(cat "$work/s3link.log")"
	endpoint=http://$link
fi

ssh-keygen -t ed25519 -N '' -q -C s3sftpd-bench -f "$work/id_ed25519"
# part_size and upload_memory are left at their defaults (16MiB, 512MiB).
cat >"$work/s3sftpd.toml" <<EOF
[server]
listen = "127.0.0.1:0"
host_key_dir = "$work/hostkeys"

[s3]
endpoint = "$endpoint"
region = "us-east-1"
bucket = "$bucket"
path_style = true
checksums = "compat"

[[users]]
name = "bench"
home = "bench/"
keys_file = "$work/id_ed25519.pub"
EOF
"$work/bin/s3sftpd" serve -config "$work/s3sftpd.toml" 2>"$work/s3sftpd.log" &
gw_pid=$!
pids+=("$gw_pid")
addr=
for _ in $(seq 400); do
	addr=$(sed -n 's/.*"msg":"listening".*"addr":"\([^"]*\)".*/\1/p' "$work/s3sftpd.log")
	[[ -n $addr ]] || ! kill -0 "$gw_pid" 2>/dev/null && break
	sleep 0.05
done
[[ -n $addr ]] || die "s3sftpd did not start: $(cat "$work/s3sftpd.log")"
sftp_port=${addr##*:}

echo "writing $size_mib MiB of random bytes to $work"
head -c "$((size_mib << 20))" /dev/urandom >"$work/src.bin"
src_sum=$(sha256sum <"$work/src.bin" | cut -d' ' -f1)
bytes=$((size_mib << 20))

sftp_cmd=(sftp -q "${sftp_opts[@]}" -i "$work/id_ed25519" -P "$sftp_port" -o StrictHostKeyChecking=no
	-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR)
echo "put $work/src.bin bench.bin" >"$work/put.batch"
echo "get bench.bin $work/sftp-get.bin" >"$work/get.batch"
direct=("$work/bin/s3direct" -endpoint "$endpoint" -bucket "$bucket" -key direct/bench.bin)

hz=$(getconf CLK_TCK)
cpu() { # clock ticks of CPU (user+system) process $1 has used so far
	local st
	read -r -a st <"/proc/$1/stat"
	echo $((st[13] + st[14]))
}

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
