package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/client"
	"github.com/execution-orchestrator/orchestrator/codec"
)

const auditUsage = `audit: expected one of
  audit verify [--export FILE] [--temporal] [--sample N]   check the hash chain, checkpoints (and Temporal histories)
  audit show <business key or workflow id> [--json]       what happened, who approved, with what proof
  audit export [--out FILE]                                the ledger as JSON Lines, to keep a copy elsewhere
  audit checkpoint                                         sign the current head now`

// runAudit is `orchestrator audit verify|show|export|checkpoint`: the
// ledger where the other stores are (--data-dir or DATABASE_URL), signed
// with the key in --keys-dir.
func runAudit(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(auditUsage)
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], out, log)
	case "show":
		return auditShow(ctx, args[1:], out)
	case "export":
		return auditExport(ctx, args[1:], out)
	case "checkpoint":
		return auditCheckpoint(ctx, args[1:], out)
	case "help", "-h", "--help":
		fmt.Fprintln(out, auditUsage)
		return nil
	}
	return fmt.Errorf("%s\nnot %q", auditUsage, args[0])
}

// errNoLedger: the SQLite ledger file does not exist, so there is nothing
// to read (opening would create an empty one and call it intact).
var errNoLedger = errors.New("no audit ledger")

// openLedger opens the ledger in the configured database; signer may be
// nil (read only).
func openLedger(ctx context.Context, s *settings, opts audit.Options) (*audit.Ledger, error) {
	path := s.sqlitePath("orchestrator.db")
	if s.databaseURL == "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: set --data-dir or DATABASE_URL to where the worker keeps its state", errNoLedger, path)
		}
	}
	l, err := audit.Open(ctx, s.databaseURL, path, opts)
	if err != nil {
		return nil, fmt.Errorf("open audit ledger: %w", err)
	}
	return l, nil
}

func auditVerify(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	var (
		exportFile string
		temporal   bool
		sample     int
		every      int
	)
	s, err := parseSettings("audit verify", args, func(_ *settings, fs *flag.FlagSet) {
		fs.StringVar(&exportFile, "export", "", "also verify this exported copy, and check the live ledger against its checkpoints")
		fs.BoolVar(&temporal, "temporal", false, "compare a sample of entries with the workflow histories in Temporal (TEMPORAL_ADDRESS, ...)")
		fs.IntVar(&sample, "sample", audit.DefaultSample, "with --temporal: how many workflow-recorded entries to compare, spread over the ledger (0: all)")
		fs.IntVar(&every, "checkpoint-every", audit.DefaultCheckpointEvery, "the interval the worker signs checkpoints at: an entry at a multiple of it without one is a problem (0: do not check)")
	})
	if err != nil {
		return err
	}
	keys, err := audit.LoadPublicKeys(s.keys())
	if err != nil {
		return err
	}
	// The worker signs a checkpoint every DefaultCheckpointEvery entries: a
	// missing one means checkpoints were deleted (a rebuilt chain).
	opts := audit.VerifyOptions{PublicKeys: keys, CheckpointEvery: max(every, 0)}
	var failed []string

	if exportFile != "" {
		f, err := os.Open(exportFile)
		if err != nil {
			return fmt.Errorf("--export: %w", err)
		}
		x, err := audit.ReadExport(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", exportFile, err)
		}
		rep, err := audit.Verify(ctx, x, opts)
		if err != nil {
			return err
		}
		if err := rep.WriteText(out, "export "+filepath.Base(exportFile)); err != nil {
			return err
		}
		if !rep.OK {
			failed = append(failed, "export: "+rep.FirstProblem())
		}
		// Its checkpoints, kept outside the database, also vouch for the
		// live ledger: they reveal a tail cut together with its
		// checkpoints.
		opts.External, _ = x.Checkpoints(ctx)
	}

	l, err := openLedger(ctx, s, audit.Options{})
	switch {
	case errors.Is(err, errNoLedger) && exportFile != "":
		// An auditor checking a copy away from the deployment.
		fmt.Fprintf(out, "live ledger: not checked (%v)\n", err)
	case err != nil:
		return err
	default:
		defer l.Close()
		if temporal {
			// The markers are sealed with the payload keyring the worker
			// uses; without it they could not be compared.
			ring, err := s.keyring(false)
			if err != nil {
				return err
			}
			c, err := client.Dial(ctx, log, client.WithCodec(ring))
			if err != nil {
				return err
			}
			defer c.Close()
			opts.Histories = audit.TemporalHistories{Client: c, DataConverter: codec.DataConverter(ring)}
			opts.Sample = sample
			if sample <= 0 {
				opts.Sample = -1 // VerifyOptions' "all"; its 0 is the default
			}
		}
		rep, err := audit.Verify(ctx, l, opts)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		if len(keys) == 0 && rep.Checkpoints > 0 {
			fmt.Fprintf(out, "note: no audit public keys in %s (audit.pub, audit-*.pub): checkpoint signatures cannot be verified\n", s.keys())
		}
		if err := rep.WriteText(out, "live ledger"); err != nil {
			return err
		}
		if !rep.OK {
			failed = append(failed, rep.FirstProblem())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("audit verify failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

func auditShow(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "" || strings.HasPrefix(args[0], "-") {
		return errors.New("audit show: expected a business key or workflow id first, e.g. audit show INV-1042")
	}
	key := args[0]
	var asJSON bool
	s, err := parseSettings("audit show", args[1:], func(_ *settings, fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the timeline as JSON")
	})
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, s, audit.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	entries, err := l.History(ctx, key)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("audit show: no entries for %q (a business key such as INV-1042, or a workflow id)", key)
	}
	tl := audit.NewTimeline(key, entries)
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(tl)
	}
	return tl.WriteText(out)
}

func auditExport(ctx context.Context, args []string, out io.Writer) error {
	var file string
	s, err := parseSettings("audit export", args, func(_ *settings, fs *flag.FlagSet) {
		fs.StringVar(&file, "out", "", "write to this file instead of standard output")
	})
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, s, audit.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	if file == "" {
		return l.Export(ctx, out)
	}
	// Written aside and renamed: a failed export never leaves half a copy
	// under the name of a good one.
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(f.Name())
	if err := l.Export(ctx, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(f.Name(), file); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	seq, hash, err := l.Head(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "exported the audit ledger to %s (head %d, %s)\n", file, seq, shortHash(hash))
	return nil
}

func auditCheckpoint(ctx context.Context, args []string, out io.Writer) error {
	s, err := parseSettings("audit checkpoint", args, nil)
	if err != nil {
		return err
	}
	key, err := audit.EnsureKey(s.keys())
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, s, audit.Options{Signer: key})
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := l.Checkpoint(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "checkpoint at entry %d, hash %s, signed by %s at %s\n", c.Seq, c.Hash, c.KeyID, c.At.Format("2006-01-02 15:04:05Z"))
	return nil
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
