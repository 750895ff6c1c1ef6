package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/execution-orchestrator/orchestrator/workforce"
)

// openWorkforce opens the workforce directory where the other stores are.
func openWorkforce(ctx context.Context, s *settings) (*workforce.Store, error) {
	if s.databaseURL == "" {
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	store, err := workforce.Open(ctx, s.databaseURL, s.sqlitePath("orchestrator.db"), time.Now)
	if err != nil {
		return nil, fmt.Errorf("open workforce store: %w", err)
	}
	return store, nil
}

// seedWorkforce puts the demo workforce in an empty directory: "orchestrator
// dev" starts with people to route field tasks to.
func seedWorkforce(ctx context.Context, s *settings, log *slog.Logger) error {
	store, err := openWorkforce(ctx, s)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Seed(ctx); err != nil {
		return err
	}
	all, err := store.List(ctx)
	if err != nil {
		return err
	}
	log.Info("workforce ready", "workers", len(all))
	return nil
}

// runWorkforce manages the workforce directory: "orchestrator workforce
// list", "show ID", "put --file worker.json", "remove ID", "seed".
func runWorkforce(ctx context.Context, args []string, out io.Writer) error {
	const want = `workforce: expected "list", "show ID", "put --file worker.json", "remove ID" or "seed"`
	if len(args) == 0 {
		return errors.New(want)
	}
	open := func(cmd string, rest []string, extra func(*settings, *flag.FlagSet)) (*workforce.Store, error) {
		s, err := parseSettings(cmd, rest, extra)
		if err != nil {
			return nil, err
		}
		return openWorkforce(ctx, s)
	}
	switch args[0] {
	case "list":
		store, err := open("workforce list", args[1:], nil)
		if err != nil {
			return err
		}
		defer store.Close()
		all, err := store.List(ctx)
		if err != nil {
			return err
		}
		return printWorkers(out, all)
	case "show":
		id, rest, err := workerIDArg("workforce show", args[1:])
		if err != nil {
			return err
		}
		store, err := open("workforce show", rest, nil)
		if err != nil {
			return err
		}
		defer store.Close()
		w, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(w)
	case "put":
		var file string
		s, err := parseSettings("workforce put", args[1:], func(_ *settings, fs *flag.FlagSet) {
			fs.StringVar(&file, "file", "", `the worker as JSON ("-" reads standard input)`)
		})
		if err != nil {
			return err
		}
		w, err := readWorkerFile(file)
		if err != nil {
			return err
		}
		store, err := openWorkforce(ctx, s)
		if err != nil {
			return err
		}
		defer store.Close()
		if err := store.Put(ctx, w); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		fmt.Fprintf(out, "worker %s put\n", w.ID)
		return nil
	case "remove":
		id, rest, err := workerIDArg("workforce remove", args[1:])
		if err != nil {
			return err
		}
		store, err := open("workforce remove", rest, nil)
		if err != nil {
			return err
		}
		defer store.Close()
		if err := store.Remove(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(out, "worker %s removed\n", id)
		return nil
	case "seed":
		store, err := open("workforce seed", args[1:], nil)
		if err != nil {
			return err
		}
		defer store.Close()
		before, err := store.List(ctx)
		if err != nil {
			return err
		}
		if len(before) > 0 {
			fmt.Fprintf(out, "the workforce has %d workers already; nothing seeded\n", len(before))
			return nil
		}
		if err := store.Seed(ctx); err != nil {
			return err
		}
		all, err := store.List(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "seeded the demo workforce around Lisbon:\n")
		return printWorkers(out, all)
	}
	return fmt.Errorf("%s, not %q", want, args[0])
}

// readWorkerFile reads one worker from a JSON file strictly; an error names
// the file and the field at fault.
func readWorkerFile(file string) (workforce.Worker, error) {
	if file == "" {
		return workforce.Worker{}, errors.New(`--file: required: the worker as JSON, e.g. {"id": "ana-field", "name": ..., "skills": [...], ...}`)
	}
	var (
		f   io.ReadCloser = os.Stdin
		err error
	)
	if file != "-" {
		if f, err = os.Open(file); err != nil {
			return workforce.Worker{}, fmt.Errorf("--file: %w", err)
		}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, workforce.MaxBodyBytes+1))
	if err != nil {
		return workforce.Worker{}, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > workforce.MaxBodyBytes {
		return workforce.Worker{}, fmt.Errorf("%s: larger than %d bytes", file, workforce.MaxBodyBytes)
	}
	w, err := workforce.DecodeWorker(data)
	if err != nil {
		return workforce.Worker{}, fmt.Errorf("%s: %w", file, err)
	}
	return w, nil
}

func printWorkers(out io.Writer, all []workforce.Worker) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSKILLS\tLOAD\tRADIUS\tTIME ZONE\tCHANNEL\tACTIVE")
	for _, w := range all {
		skills := make([]string, 0, len(w.Skills))
		for _, sk := range w.Skills {
			skills = append(skills, fmt.Sprintf("%s:%d", sk.Name, sk.Level))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%g km\t%s\t%s\t%t\n", w.ID, w.Name, strings.Join(skills, ","),
			w.Load, w.MaxLoad, w.RadiusKm, w.TimeZone, w.Channel, w.Active)
	}
	return tw.Flush()
}

// workerIDArg takes the worker id that leads a subcommand's arguments.
func workerIDArg(cmd string, args []string) (string, []string, error) {
	if len(args) == 0 || args[0] == "" || strings.HasPrefix(args[0], "-") {
		return "", nil, fmt.Errorf("%s: expected a worker id first, e.g. %s ana-field", cmd, cmd)
	}
	if !workforce.ValidID(args[0]) {
		return "", nil, fmt.Errorf("%s: %q is not a worker id (1-64 of a-z, 0-9, '.', '_', '-')", cmd, args[0])
	}
	return args[0], args[1:], nil
}
