package s3fs

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// memBudget is the process-wide budget of upload buffers: a weighted
// semaphore that also counts the bytes reserved, for the metrics.
type memBudget struct {
	sem   *semaphore.Weighted
	inUse atomic.Int64
}

func newMemBudget(n int64) *memBudget { return &memBudget{sem: semaphore.NewWeighted(n)} }

// Acquire waits for n bytes of the budget, or for ctx to end.
func (m *memBudget) Acquire(ctx context.Context, n int64) error {
	if err := m.sem.Acquire(ctx, n); err != nil {
		return err
	}
	m.inUse.Add(n)
	return nil
}

// TryAcquire takes n bytes if they are free now.
func (m *memBudget) TryAcquire(n int64) bool {
	if !m.sem.TryAcquire(n) {
		return false
	}
	m.inUse.Add(n)
	return true
}

// Release returns n bytes to the budget.
func (m *memBudget) Release(n int64) {
	m.inUse.Add(-n)
	m.sem.Release(n)
}

// UploadMemoryInUse is the number of bytes of upload buffers reserved now.
func (fs *FS) UploadMemoryInUse() int64 { return fs.mem.inUse.Load() }
