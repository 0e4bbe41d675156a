package upload

import "testing"

func TestPartSizeFor_Reaches5TiB(t *testing.T) {
	for _, base := range []int64{MinPartSize, 16 << 20, 64 << 20} {
		if got := maxUploadSize(base, MaxPartSize); got < 5<<40 {
			t.Errorf("part size %d: largest upload = %d; want ≥ 5 TiB", base, got)
		}
		if got := partSizeFor(base, MaxPartSize, MaxParts); got > MaxPartSize {
			t.Errorf("part size %d: last part = %d; want ≤ 5 GiB", base, got)
		}
	}
}

func TestAddSpan(t *testing.T) {
	tests := []struct {
		name string
		in   []span
		add  span
		want []span
	}{
		{"empty", nil, span{0, 5}, []span{{0, 5}}},
		{"append-touching", []span{{0, 5}}, span{5, 9}, []span{{0, 9}}},
		{"gap", []span{{0, 5}}, span{7, 9}, []span{{0, 5}, {7, 9}}},
		{"fill-gap", []span{{0, 5}, {7, 9}}, span{5, 7}, []span{{0, 9}}},
		{"before", []span{{7, 9}}, span{0, 3}, []span{{0, 3}, {7, 9}}},
		{"overlap", []span{{0, 5}}, span{3, 8}, []span{{0, 8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := addSpan(append([]span(nil), tt.in...), tt.add)
			if !equalSpans(got, tt.want) {
				t.Errorf("addSpan(%v, %v) = %v; want %v", tt.in, tt.add, got, tt.want)
			}
		})
	}
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
