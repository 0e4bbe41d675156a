// Package gates measures the content gates' upload stages on 1 GiB in
// memory, each as a ratio to a plain copy of the same bytes into parts:
// the clamd scan (a real clamd, internal/clamdtest) and the OpenPGP
// decryption (a message made beforehand, uncompressed and signed). Run it
// with bench/gates.sh; a plain `go test ./...` skips it.
package gates

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/s3sftpd/s3sftpd/internal/clamdtest"
	"github.com/s3sftpd/s3sftpd/pgp"
	"github.com/s3sftpd/s3sftpd/scan"
)

const partSize = 16 << 20 // s3.part_size's default

// stage is the part of an upload stage the bench drives.
type stage interface {
	Write(p []byte, last bool) ([]byte, error)
	Finish() error
}

// copyStage is the baseline: each part copied once, as the upload copies
// the client's writes into its part buffers.
type copyStage struct{ part []byte }

func (c *copyStage) Write(p []byte, _ bool) ([]byte, error) { return append(c.part[:0], p...), nil }
func (c *copyStage) Finish() error                          { return nil }

// run feeds src through s in parts and returns the throughput in MB/s
// (10^6 bytes of src per second, Finish included), the bytes that came
// out, and the time the writes alone took (what the upload waited for,
// before the verdict).
func run(t *testing.T, s stage, src []byte) (float64, int64, time.Duration) {
	t.Helper()
	start := time.Now()
	var out int64
	for off := 0; off < len(src); off += partSize {
		end := min(off+partSize, len(src))
		b, err := s.Write(src[off:end], end == len(src))
		if err != nil {
			t.Fatal(err)
		}
		out += int64(len(b))
	}
	writes := time.Since(start)
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	return float64(len(src)) / 1e6 / time.Since(start).Seconds(), out, writes
}

func TestThroughput(t *testing.T) {
	if os.Getenv("GATES_BENCH") == "" {
		t.Skip("a benchmark: run bench/gates.sh (GATES_BENCH=1)")
	}
	size := 1 << 30
	if mib, err := strconv.Atoi(os.Getenv("BENCH_SIZE_MIB")); err == nil {
		size = mib << 20
	}
	plain := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(plain)

	// The OpenPGP message, made before the clock starts.
	gw := entity(t, "gateway")
	partner := entity(t, "partner")
	var msg bytes.Buffer
	msg.Grow(size + size/100)
	w, err := openpgp.Encrypt(&msg, []*openpgp.Entity{gw}, nil, []*openpgp.Entity{partner}, nil, &packet.Config{DefaultCompressionAlgo: packet.CompressionNone})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	gwKey := load(t, gw, true)
	partnerKey := load(t, partner, false)

	d := clamdtest.Start(t)
	c, err := scan.New(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	c.VerdictTimeout = 30 * time.Minute

	copyMBps, _, _ := run(t, &copyStage{part: make([]byte, 0, partSize)}, plain)
	hashMBps, _, _ := run(t, chain{&copyStage{part: make([]byte, 0, partSize)}, &hashStage{h: sha256.New()}}, plain)
	scanMBps, scanWrites := scanRun(t, c, plain)
	text := csv(size)
	textMBps, textWrites := scanRun(t, c, text)
	dec := pgp.NewDecrypt(gwKey, []*pgp.Key{partnerKey}, true)
	decMBps, n, _ := run(t, dec, msg.Bytes())
	if n != int64(size) || dec.Signer() == nil {
		t.Fatalf("decrypted %d bytes, signer %v; want %d, the partner", n, dec.Signer(), size)
	}
	fmt.Printf("content gates on %d MiB in memory, %d MiB parts (MB = 10^6 bytes)\n", size>>20, partSize>>20)
	fmt.Printf("%-28s %8.1f MB/s\n", "plain copy", copyMBps)
	fmt.Printf("%-28s %8.1f MB/s  ratio to copy %.4f\n", "copy + SHA-256 (any upload)", hashMBps, hashMBps/copyMBps)
	row := func(name string, mbps float64, note string) {
		fmt.Printf("%-28s %8.1f MB/s  ratio to copy %.4f, to copy + SHA-256 %.3f  %s\n", name, mbps, mbps/copyMBps, mbps/hashMBps, note)
	}
	row("scan, random bytes", scanMBps, fmt.Sprintf("(writes taken at %.1f MB/s, then the wait for the verdict)", float64(size)/1e6/scanWrites.Seconds()))
	row("scan, CSV text", textMBps, fmt.Sprintf("(writes taken at %.1f MB/s)", float64(size)/1e6/textWrites.Seconds()))
	row("decrypt + verify (OpenPGP)", decMBps, fmt.Sprintf("(MB/s of ciphertext, %d bytes)", msg.Len()))
}

// scanRun streams src through a copy and a clamd scan, as a scanned
// folder's upload does.
func scanRun(t *testing.T, c *scan.Client, src []byte) (float64, time.Duration) {
	sc, err := c.NewScan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mbps, _, writes := run(t, chain{&copyStage{part: make([]byte, 0, partSize)}, sc}, src)
	return mbps, writes
}

// csv is size bytes of claims-like CSV text.
func csv(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := bytes.NewBuffer(make([]byte, 0, size+200))
	for b.Len() < size {
		fmt.Fprintf(b, "%08d,%s,E11.%d,%d.%02d,2026-11-%02d\n", rng.IntN(1e8), []string{"inpatient", "outpatient", "pharmacy"}[rng.IntN(3)], rng.IntN(10), rng.IntN(5000), rng.IntN(100), 1+rng.IntN(30))
	}
	return b.Bytes()[:size]
}

// hashStage is the SHA-256 every upload takes of its bytes.
type hashStage struct{ h hash.Hash }

func (s *hashStage) Write(p []byte, _ bool) ([]byte, error) { s.h.Write(p); return p, nil }
func (s *hashStage) Finish() error                          { return nil }

// chain runs a part through stages in order, as the upload's chain does.
type chain []stage

func (c chain) Write(p []byte, last bool) ([]byte, error) {
	for _, s := range c {
		var err error
		if p, err = s.Write(p, last); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (c chain) Finish() error {
	for _, s := range c {
		if err := s.Finish(); err != nil {
			return err
		}
	}
	return nil
}

func entity(t *testing.T, name string) *openpgp.Entity {
	e, err := openpgp.NewEntity(name, "", name+"@s3sftpd.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func load(t *testing.T, e *openpgp.Entity, secret bool) *pgp.Key {
	var b bytes.Buffer
	if secret {
		e.SerializePrivate(&b, nil)
		k, err := pgp.ReadPrivateKey(&b, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	e.Serialize(&b)
	keys, err := pgp.ReadPublicKeys(&b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return keys[0]
}
