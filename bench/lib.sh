#!/usr/bin/env bash
# bench/lib.sh: the set-up shared by the bench scripts, which source it. It
# checks the tools (installing nothing but, for start_sshd, openssh-server),
# makes one temp dir removed on exit, builds the programs, starts versitygw on
# 127.0.0.1 (optionally behind s3link), s3sftpd gateways on it, and a private
# OpenSSH sshd.
#
# The caller sets s3_mbps ("" for no cap) and sftp_opts before bench_setup.

die() { echo "bench: $*" >&2; exit 1; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# make_source: $work/src.bin, size_mib MiB of random bytes; sets bytes and
# src_sum (its SHA-256) for the checks after each transfer.
make_source() {
	echo "writing $size_mib MiB of random bytes to $work"
	bytes=$((size_mib << 20))
	head -c "$bytes" /dev/urandom >"$work/src.bin"
	src_sum=$(sha256sum <"$work/src.bin" | cut -d' ' -f1)
}

# bench_setup: everything up to a running store and a client key.
bench_setup() {
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
	# BENCH_TMP puts them elsewhere (bench/memory.sh: its store outgrows memory).
	tmp=${TMPDIR:-/tmp}
	[[ -d /dev/shm && -w /dev/shm ]] && tmp=/dev/shm
	tmp=${BENCH_TMP:-$tmp}
	work=$(mktemp -d "$tmp/s3sftpd-bench.XXXXXX")
	pids=()
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$work/bin" "$work/s3"

	echo "building s3sftpd, s3direct and s3link"
	go build -o "$work/bin/s3sftpd" ./cmd/s3sftpd
	go build -o "$work/bin/s3direct" ./bench/s3direct
	go build -o "$work/bin/s3link" ./bench/s3link

	export AWS_ACCESS_KEY_ID=bench-$(rnd 4) AWS_SECRET_ACCESS_KEY=$(rnd 16) AWS_REGION=us-east-1
	export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
	bucket=bench

	# versitygw on a random free loopback port (retried if another process takes it first).
	vgw_pid=
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		port_open "$port" && continue
		ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
			"$versitygw" --port "127.0.0.1:$port" --quiet --keep-alive posix "$work/s3" >"$work/versitygw.log" 2>&1 &
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
}

rnd() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}

# start_gateway NAME [TOML [SERVER_TOML]]: runs s3sftpd with the defaults
# (part_size 16MiB, upload_memory 512MiB), one user "bench" with all
# permissions, TOML added to its config after the [s3] keys and SERVER_TOML
# to its [server] table. Sets gw_pid, gw_port and sftp_cmd (sftp to it,
# without -b).
start_gateway() {
	local name=$1 extra=${2:-} server=${3:-} addr=
	cat >"$work/$name.toml" <<EOF
[server]
listen = "127.0.0.1:0"
host_key_dir = "$work/hostkeys"
$server

[s3]
endpoint = "$endpoint"
region = "us-east-1"
bucket = "$bucket"
path_style = true
checksums = "compat"

$extra

[[users]]
name = "bench"
home = "bench/"
keys_file = "$work/id_ed25519.pub"
EOF
	"$work/bin/s3sftpd" serve -config "$work/$name.toml" 2>"$work/$name.log" &
	gw_pid=$!
	pids+=("$gw_pid")
	for _ in $(seq 400); do
		addr=$(sed -n 's/.*"msg":"listening".*"addr":"\([^"]*\)".*/\1/p' "$work/$name.log")
		[[ -n $addr ]] || ! kill -0 "$gw_pid" 2>/dev/null && break
		sleep 0.05
	done
	[[ -n $addr ]] || die "s3sftpd did not start: $(cat "$work/$name.log")"
	gw_port=${addr##*:}
	sftp_cmd=(sftp -q "${sftp_opts[@]}" -i "$work/id_ed25519" -P "${addr##*:}" -o StrictHostKeyChecking=no
		-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR)
}

# stop_gateway: stops the last gateway started (SIGTERM) and waits for it.
stop_gateway() {
	kill "$gw_pid" 2>/dev/null || true
	wait "$gw_pid" 2>/dev/null || true
}

# cpu PID: clock ticks of CPU (user+system) the process has used so far.
cpu() {
	local st
	read -r -a st <"/proc/$1/stat"
	echo $((st[13] + st[14]))
}
hz=$(getconf CLK_TCK)

# start_sshd: OpenSSH's own sshd, private to the bench, as the ceiling an
# SFTP server on local disk reaches: run as the current user on a free
# loopback port with its own host key, the bench key as the only authorized
# key, no PAM, and OpenSSH's sftp-server as the sftp subsystem. It offers the
# ciphers and MACs s3sftpd offers (compatible policy), so a client forced to
# one pair gets the same on both. Installs openssh-server when root (as
# scripts/test installs the clients), else says it is missing. Sets
# sshd_pid and sshd_cmd (sftp to it, without -b).
start_sshd() {
	local sshd=/usr/sbin/sshd sftp_server=/usr/lib/openssh/sftp-server p
	if [[ ! -x $sshd || ! -x $sftp_server ]]; then
		[[ $(id -u) == 0 ]] || die "missing sshd: apt-get install openssh-server"
		echo "installing openssh-server"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
	fi
	[[ $(id -u) == 0 ]] && mkdir -p /run/sshd # its privilege-separation directory, when run as root
	ssh-keygen -t ed25519 -N '' -q -C s3sftpd-bench-sshd -f "$work/sshd_host_ed25519"
	cp "$work/id_ed25519.pub" "$work/authorized_keys"
	for _ in 1 2 3 4 5; do
		p=$((20000 + RANDOM % 40000))
		port_open "$p" && continue
		cat >"$work/sshd_config" <<EOC
ListenAddress 127.0.0.1:$p
HostKey $work/sshd_host_ed25519
PidFile none
AuthorizedKeysFile $work/authorized_keys
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $(id -un)
UsePAM no
StrictModes no
Subsystem sftp $sftp_server
Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr
MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512
LogLevel ERROR
EOC
		"$sshd" -D -e -f "$work/sshd_config" >"$work/sshd.log" 2>&1 &
		sshd_pid=$!
		pids+=("$sshd_pid")
		for _ in $(seq 200); do
			port_open "$p" || ! kill -0 "$sshd_pid" 2>/dev/null && break
			sleep 0.05
		done
		kill -0 "$sshd_pid" 2>/dev/null && port_open "$p" && break
		sshd_pid=
	done
	[[ -n $sshd_pid ]] || die "sshd did not start: $(cat "$work/sshd.log")"
	sshd_cmd=(sftp -q "${sftp_opts[@]}" -i "$work/id_ed25519" -P "$p" -o StrictHostKeyChecking=no
		-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR)
}
