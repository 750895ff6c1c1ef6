package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// runCodec is `orchestrator codec ...` (stub).
func runCodec(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	return errors.New("codec: not built yet")
}
