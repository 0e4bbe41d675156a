package memlimit

import "testing"

// TestPlan_SplitsTheLimitOrSaysWhichKey: a limit that fits is split into
// parts summing to it; one the budgets cannot fit is refused at the key to
// change: the limit when set, else a budget the config sets, else none.
func TestPlan_SplitsTheLimitOrSaysWhichKey(t *testing.T) {
	const container = "/sys/fs/cgroup/memory.max"
	tests := []struct {
		name    string
		b       Budgets
		wantKey string // "-": no problem
	}{
		{"derived", Budgets{Uploads: 512 * mib, ReadAhead: 256 * mib, PartSize: 16 * mib, MinReadAhead: mib}, "-"},
		{"set-limit-fits", Budgets{Limit: 512 * mib, SetLimit: true, PartSize: 16 * mib, MinReadAhead: mib}, "-"},
		{"set-limit-too-small", Budgets{Limit: 100 * mib, SetLimit: true, PartSize: 16 * mib, MinReadAhead: mib}, "server.memory_limit"},
		{"container-cannot-hold-set-uploads", Budgets{Uploads: 200 * mib, SetUploads: true, ReadAhead: 256 * mib, PartSize: 16 * mib, MinReadAhead: mib,
			Container: Cgroup{300 * mib, container}}, "s3.upload_memory"},
		{"container-cannot-hold-set-read-ahead", Budgets{Uploads: 512 * mib, ReadAhead: 200 * mib, SetReadAhead: true, PartSize: 16 * mib, MinReadAhead: mib,
			Container: Cgroup{300 * mib, container}}, "s3.read_ahead_memory"},
		{"container-too-small", Budgets{Uploads: 512 * mib, ReadAhead: 256 * mib, PartSize: 16 * mib, MinReadAhead: mib,
			Container: Cgroup{100 * mib, container}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, p := Plan(tt.b)
			switch {
			case tt.wantKey == "-" && p != nil:
				t.Fatalf("got problem %+v; want none", *p)
			case tt.wantKey == "-":
				if got := m.Uploads + m.ReadAhead + m.Sessions + m.Base + m.Runtime; got != m.Limit {
					t.Errorf("got parts summing to %v; want the limit %v", got, m.Limit)
				}
				if m.MaxSessions() < minSessions || m.SoftLimit >= m.Limit {
					t.Errorf("got %d sessions, soft limit %v; want at least %d sessions and a soft limit under %v", m.MaxSessions(), m.SoftLimit, minSessions, m.Limit)
				}
			case p == nil:
				t.Fatalf("got split %v and no problem; want one at %q", m, tt.wantKey)
			case p.Key != tt.wantKey:
				t.Errorf("got problem at %q (%s); want at %q", p.Key, p.Msg, tt.wantKey)
			}
		})
	}
}
