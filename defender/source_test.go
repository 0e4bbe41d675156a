package defender

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// TestSourceOf: IPv4 addresses count one by one, IPv6 ones by their /64.
func TestSourceOf(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
	} {
		if got := sourceOf(netip.MustParseAddr(tc.a)).String(); got != tc.b {
			t.Errorf("sourceOf(%s) = %s; want %s", tc.a, got, tc.b)
		}
	}
	if sourceOf(netip.MustParseAddr("2001:db8:1:2::1")) != sourceOf(netip.MustParseAddr("2001:db8:1:2::9:9")) {
		t.Errorf("two addresses of one /64 are different sources")
	}
	if sourceOf(netip.MustParseAddr("2001:db8:1:2::1")) == sourceOf(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Errorf("two /64s are the same source")
	}
}

// TestDefender_IPv6CapsPerSlash64: the per-address cap holds for a whole
// /64, so an IPv6 host cannot pass it by using more of its addresses.
func TestDefender_IPv6CapsPerSlash64(t *testing.T) {
	d := New(Config{MaxUnauthPerIP: 2, MaxUnauth: 100}, slog.New(slog.DiscardHandler), nil, time.Now)
	for i, a := range []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"} {
		p, _ := d.Admit(netip.MustParseAddr(a), func() {})
		if got, want := p != nil, i < 2; got != want {
			t.Errorf("connection %d from %s admitted = %v; want %v", i+1, a, got, want)
		}
	}
	if p, _ := d.Admit(netip.MustParseAddr("2001:db8:0:1::1"), func() {}); p == nil {
		t.Errorf("a connection from another /64 was refused")
	}
}

// TestDefender_EarlyDrop: below start nothing is dropped; from start a draw
// drops with a probability that rises linearly from rate to 100% at full.
func TestDefender_EarlyDrop(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n, draw    int
		wantDrop   bool
		start, pct int
	}{
		{"below-start", 63, 0, false, 64, 30},
		{"at-start-lost", 64, 29, true, 64, 30},
		{"at-start-won", 64, 30, false, 64, 30},
		{"half-way-lost", 160, 64, true, 64, 30}, // 30 + 70*96/192 = 65
		{"half-way-won", 160, 65, false, 64, 30},
		{"just-below-full", 255, 99, false, 64, 30}, // 30 + 70*191/192 = 99
		{"full", 256, 99, true, 64, 30},
		{"off-full", 256, 99, true, 0, 0},
		{"off-below-full", 255, 0, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(Config{MaxUnauth: 256, EarlyDropStart: tc.start, EarlyDropRate: tc.pct},
				slog.New(slog.DiscardHandler), nil, time.Now)
			d.rand = func(int) int { return tc.draw }
			d.unauthTotal = tc.n
			if got := d.dropLocked() != ""; got != tc.wantDrop {
				t.Errorf("%d connections in the handshake, draw %d: drop = %v; want %v", tc.n, tc.draw, got, tc.wantDrop)
			}
		})
	}
}
