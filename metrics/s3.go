package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// S3Middleware adds the timing of every S3 call to stack. It is an entry
// of s3fs.Config.APIOptions. Placed first in the Initialize step, it sees
// the whole call, retries included, and its final error.
func (m *Metrics) S3Middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("S3SFTPDMetrics",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleInitialize(ctx, in)
			op := middleware.GetOperationName(ctx)
			m.s3Duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
			if err != nil {
				m.s3Errors.WithLabelValues(op, errorCode(err)).Inc()
			}
			return out, md, err
		}), middleware.Before)
}

// errorCode names an error by its S3 code, a small set.
func errorCode(err error) string {
	var ae smithy.APIError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &ae):
		return ae.ErrorCode()
	}
	return "transport"
}
