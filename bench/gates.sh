#!/usr/bin/env bash
# bench/gates.sh: what the content gates cost an upload, two ways.
#  1. In memory: the upload stages alone on 1 GiB (the clamd scan against a
#     real clamd, the OpenPGP decryption of a signed message), each as a
#     ratio to a plain copy into 16 MiB parts. No network, no S3.
#  2. Through the gateway (the real path): OpenSSH sftp puts the same file
#     to s3sftpd on a local versitygw, into a plain home, a scanned one
#     (a real clamd) and a decrypting one (the file encrypted and signed by
#     GnuPG beforehand, uncompressed), in one run; MB/s of plaintext bytes
#     and each gate's ratio to the plain home. See bench/README.md.
#
#   BENCH_SIZE_MIB   size in MiB (default 1024)
#   BENCH_GATES      "memory", "gateway" or "both" (default)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${BENCH_GATES:-both}
if [[ $which != gateway ]]; then
	GATES_BENCH=1 go test -count=1 -timeout 60m -run '^TestThroughput$' -v ./bench/gates/ | grep -v '^=== RUN\|^--- PASS\|^PASS\|^ok '
fi
[[ $which == memory ]] && exit 0

size_mib=${BENCH_SIZE_MIB:-1024}
s3_mbps=
sftp_opts=()
source bench/lib.sh
clamd=$(command -v clamd || echo /usr/sbin/clamd)
[[ -x $clamd ]] || die "missing clamd: apt-get install clamav-daemon"
command -v gpg >/dev/null || die "missing gpg: apt-get install gnupg"
bench_setup
make_source

# clamd on a socket of its own, with a one-line database (EICAR's MD5).
mkdir -p "$work/clamd/db" "$work/clamd/tmp"
echo "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature" >"$work/clamd/db/eicar.hdb"
cat >"$work/clamd/clamd.conf" <<EOF
LocalSocket $work/clamd/sock
Foreground yes
LogFile $work/clamd/clamd.log
DatabaseDirectory $work/clamd/db
TemporaryDirectory $work/clamd/tmp
PidFile $work/clamd/clamd.pid
StreamMaxLength 4000M
MaxFileSize 4000M
MaxScanSize 4000M
AlertExceedsMax yes
SelfCheck 0
EOF
[[ $(id -u) == 0 ]] && echo "User root" >>"$work/clamd/clamd.conf"
"$clamd" --config-file="$work/clamd/clamd.conf" >"$work/clamd/out.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do [[ -S $work/clamd/sock ]] && break; sleep 0.1; done
[[ -S $work/clamd/sock ]] || die "clamd did not start: $(cat "$work/clamd/out.log" "$work/clamd/clamd.log" 2>/dev/null)"

# GnuPG: the gateway's key and the partner's; the source encrypted and signed.
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
g() { gpg --batch --yes --pinentry-mode loopback --passphrase '' --trust-model always "$@"; }
for uid in gateway@bench partner@bench; do g -q --quick-gen-key "$uid" future-default default never 2>/dev/null; done
g --armor --export-secret-keys gateway@bench >"$work/gateway.asc"
chmod 600 "$work/gateway.asc"
g --armor --export partner@bench >"$work/partner.asc"
echo "encrypting and signing the source with gpg"
g --compress-algo none -e -s -r gateway@bench -u partner@bench -o "$work/src.bin.pgp" "$work/src.bin"
gpgconf --kill all 2>/dev/null || true

start_gateway gates "[scan]
clamd = \"unix:$work/clamd/sock\"
max_size = \"4GiB\"

[pgp]
private_key_file = \"$work/gateway.asc\"

[[users]]
name = \"scanned\"
home = \"scanned/\"
keys_file = \"$work/id_ed25519.pub\"
scan = true

[[users]]
name = \"decrypting\"
home = \"decrypting/\"
keys_file = \"$work/id_ed25519.pub\"
pgp = \"decrypt\"
pgp_require_signature = true
pgp_public_keys_file = \"$work/partner.asc\""

TIMEFORMAT='%3R'
put() { # put NAME USER FILE: seconds of one sftp put
	local wall
	printf 'put %s\n' "$3" >"$work/$1.batch"
	if ! { time "${sftp_cmd[@]}" -b "$work/$1.batch" "$2@127.0.0.1" >"$work/$1.log" 2>&1; } 2>"$work/time"; then
		die "$1 failed: $(cat "$work/$1.log")"
	fi
	read -r wall <"$work/time"
	echo "$1 $wall" >>"$work/results"
}
put plain bench "$work/src.bin"
put scanned scanned "$work/src.bin"
put decrypting decrypting "$work/src.bin.pgp"

echo
echo "through the gateway: $size_mib MiB, OpenSSH sftp put; MB = 10^6 bytes of plaintext; nproc $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v b="$bytes" '
	{ s[$1] = $2 }
	END {
		printf "%-11s %8s %8s %8s\n", "home", "seconds", "MB/s", "ratio"
		for (i = 1; i <= 3; i++) {
			n = (i == 1 ? "plain" : i == 2 ? "scanned" : "decrypting")
			printf "%-11s %8.2f %8.1f %8.2f\n", n, s[n], b/s[n]/1e6, s["plain"]/s[n]
		}
	}' "$work/results"
