#!/usr/bin/env bash
# bench/gates.sh: the content gates' upload stages on 1 GiB in memory (the
# clamd scan against a real clamd, the OpenPGP decryption of a signed
# message), each as a ratio to a plain copy into 16 MiB parts. No network,
# no S3: what the stages themselves cost. See bench/README.md.
#
#   BENCH_SIZE_MIB   size in MiB (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
GATES_BENCH=1 go test -count=1 -timeout 60m -run '^TestThroughput$' -v ./bench/gates/ | grep -v '^=== RUN\|^--- PASS\|^PASS\|^ok '
