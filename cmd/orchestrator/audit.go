package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// runAudit is `orchestrator audit ...` (stub).
func runAudit(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	return errors.New("audit: not built yet")
}
