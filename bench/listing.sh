#!/usr/bin/env bash
# bench/listing.sh: `ls -l` of a large folder through s3sftpd against raw
# ListObjectsV2 paging of the same prefix, in the same run. Fills the folder
# straight in S3 (empty objects, 32 puts at once, as a hospital's systems
# fill outbound folders), then, on a fresh gateway each time:
#   direct   bench/s3direct -op list: ListObjectsV2 with delimiter "/", 1000 a page
#   ls-l     OpenSSH `sftp -b` with `ls -l big`
#   first    paramiko listdir_iter: seconds to the first READDIR answer
# and, after BENCH_KEPT files get a kept time through the gateway (paramiko
# utime), the same again ("+kept": the listing reads the folder's times
# index). Prints seconds, the ratio to direct and s3sftpd's RSS growth
# during the listing. See bench/README.md.
#
#   BENCH_OBJECTS  objects in the folder (default 100000)
#   BENCH_KEPT     files given a kept time for the second half (default 200; 0 skips it)
set -euo pipefail

objects=${BENCH_OBJECTS:-100000}
kept=${BENCH_KEPT:-200}
s3_mbps=
sftp_opts=()

source "$(dirname "$0")/lib.sh"
bench_setup
py=/usr/bin/python3
"$py" -c 'import paramiko' 2>/dev/null || die "missing paramiko: apt-get install python3-paramiko"

echo "filling bench/big/ with $objects empty objects"
"$work/bin/s3direct" -op fill -n "$objects" -endpoint "$endpoint" -bucket "$bucket" -key bench/big
echo "ls -l big" >"$work/ls.batch"

cat >"$work/first.py" <<'EOF'
import sys, time, paramiko
port, key, path, utimes = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
t = paramiko.Transport(("127.0.0.1", port))
t.connect(username="bench", pkey=paramiko.Ed25519Key.from_private_key_file(key))
c = paramiko.SFTPClient.from_transport(t)
for i in range(utimes):
    c.utime("%s/f%07d" % (path, i), (946684800 + i, 946684800 + i))
start = time.monotonic()
it = c.listdir_iter(path)
next(it)
first = time.monotonic() - start
n = 1 + sum(1 for _ in it)
print("%.3f %d" % (first, n))
EOF

TIMEFORMAT='%3R'
: >"$work/results"
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

# round SUFFIX: one measurement of each path.
round() {
	local sfx=$1 before first n
	{ time "$work/bin/s3direct" -op list -endpoint "$endpoint" -bucket "$bucket" -key bench/big >"$work/cmd.log" 2>&1; } 2>"$work/time" ||
		die "direct list failed: $(cat "$work/cmd.log")"
	echo "direct$sfx $(cat "$work/time") -" >>"$work/results"

	start_gateway "ls$sfx"
	before=$(rss "$gw_pid")
	{ time "${sftp_cmd[@]}" -b "$work/ls.batch" bench@127.0.0.1 >"$work/ls.out" 2>&1; } 2>"$work/time" ||
		die "ls -l failed: $(tail -3 "$work/ls.out")"
	n=$(grep -c ' f[0-9]' "$work/ls.out" || true)
	[[ $n == "$objects" ]] || die "ls -l listed $n files; want $objects"
	echo "ls-l$sfx $(cat "$work/time") $(($(hwm "$gw_pid") - before))" >>"$work/results"
	stop_gateway

	start_gateway "first$sfx"
	read -r first n < <("$py" "$work/first.py" "$gw_port" "$work/id_ed25519" big 0)
	[[ $n == "$objects" ]] || die "paramiko listed $n entries; want $objects"
	echo "first$sfx $first -" >>"$work/results"
	stop_gateway
}

round ""
if ((kept > 0)); then
	echo "keeping a time on $kept files through the gateway"
	start_gateway keep
	"$py" "$work/first.py" "$gw_port" "$work/id_ed25519" big "$kept" >/dev/null
	stop_gateway
	round "+kept"
	# the kept times must show in the listing of the second half
	grep -q "Jan 1  2000 f0000000" "$work/ls.out" || die "ls -l does not show the kept time of f0000000: $(grep f0000000 "$work/ls.out")"
fi

echo
echo "$objects objects; $kept kept times; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
	{ s[$1] = $2; m[$1] = $3 }
	END {
		printf "%-12s %8s %10s %16s\n", "path", "seconds", "vs direct", "s3sftpd RSS +MiB"
		split("direct ls-l first direct+kept ls-l+kept first+kept", order, " ")
		for (i = 1; i <= 6; i++) {
			p = order[i]
			if (!(p in s)) continue
			d = p ~ /kept/ ? s["direct+kept"] : s["direct"]
			r = p ~ /^first/ ? "-" : sprintf("%.2f", s[p] / d)
			mem = m[p] == "-" ? "-" : sprintf("%.1f", m[p] / 1024)
			printf "%-12s %8.3f %10s %16s\n", p, s[p], r, mem
		}
	}' "$work/results"
