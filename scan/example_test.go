package scan_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/s3sftpd/s3sftpd/scan"
)

// An upload to a scanned folder: the scan is a stage of the upload's
// chain, and the commit waits for Finish. With on_unavailable = "accept",
// a missing verdict stores the file marked unscanned.
func ExampleScan() {
	c, err := scan.New("unix:/run/clamav/clamd.ctl") // [scan] clamd
	if err != nil {
		panic(err)
	}
	c.MaxSize = 1 << 30 // [scan] max_size
	acceptUnscanned := false

	ctx := context.Background()
	parts := [][]byte{[]byte("patient,claim\n"), []byte("1,2\n")}

	s, err := c.NewScan(ctx)
	if err != nil {
		var unavailable *scan.UnavailableError
		if errors.As(err, &unavailable) && acceptUnscanned {
			slog.Warn("upload stored unscanned", "err", err) // and "unscanned" in the trail and on the object
			return
		}
		fmt.Println(scan.UnavailableMessage) // to the partner; err to the log
		return
	}
	for i, p := range parts {
		if _, err := s.Write(p, i == len(parts)-1); err != nil { // p passes on unchanged
			msg, _ := scan.Refusal(err) // the file is too large: abort the upload
			fmt.Println(msg)
			return
		}
		// ... the part goes on to the next stages and to S3, meanwhile ...
	}
	if err := s.Finish(); err != nil {
		msg, noVerdict := scan.Refusal(err)
		if noVerdict && acceptUnscanned {
			slog.Warn("upload stored unscanned", "err", err)
		} else {
			fmt.Println(msg) // abort the multipart upload: nothing is visible
			return
		}
	}
	v, _ := c.Version(ctx) // for the trail and the object: "clean", v.String()
	_ = v
}
