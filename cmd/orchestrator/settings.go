package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// settings are the local parts' addresses and stores. Each flag defaults to
// an environment variable so a deployment sets them once.
type settings struct {
	sandboxURL       string
	smtpAddr         string
	databaseURL      string
	dataDir          string
	orgFile          string
	webAddr          string
	webBaseURL       string
	financeOpsEmail  string
	detectorInterval time.Duration
	errs             []error
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envDuration reads a duration from the environment; a bad value is kept
// as an error for check, never silently replaced by the default.
func (s *settings) envDuration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %q is not a duration (e.g. 1h, 10m)", key, v))
		return def
	}
	return d
}

// check reports bad environment values after flags are parsed.
func (s *settings) check() error { return errors.Join(s.errs...) }

func (s *settings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.sandboxURL, "sandbox-url", envOr("ORCH_SANDBOX_URL", "http://127.0.0.1:8090"), "base URL of the ERP, treasury and mail HTTP APIs (env ORCH_SANDBOX_URL)")
	fs.StringVar(&s.smtpAddr, "smtp-addr", envOr("ORCH_SMTP_ADDR", "127.0.0.1:2525"), "SMTP server the email connector sends through (env ORCH_SMTP_ADDR)")
	fs.StringVar(&s.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL for our state; empty uses SQLite files in --data-dir (env DATABASE_URL)")
	fs.StringVar(&s.dataDir, "data-dir", envOr("ORCH_DATA_DIR", ".data"), "folder for local state (env ORCH_DATA_DIR)")
	fs.StringVar(&s.orgFile, "org", os.Getenv("ORCH_ORG_FILE"), "organisation directory YAML; empty uses the embedded policy/org.yaml (env ORCH_ORG_FILE)")
	fs.StringVar(&s.webAddr, "web-addr", envOr("ORCH_WEB_ADDR", "127.0.0.1:8080"), "listen address of the approval web app (env ORCH_WEB_ADDR)")
	fs.StringVar(&s.webBaseURL, "web-base-url", envOr("ORCH_WEB_BASE_URL", "http://127.0.0.1:8080"), "URL approvers open, used in emailed links (env ORCH_WEB_BASE_URL)")
	fs.StringVar(&s.financeOpsEmail, "finance-ops-email", envOr("ORCH_FINANCE_OPS_EMAIL", "finance-ops@orchestrator.example"), "where escalations are emailed (env ORCH_FINANCE_OPS_EMAIL)")
	fs.DurationVar(&s.detectorInterval, "detector-interval", s.envDuration("ORCH_DETECTOR_INTERVAL", time.Hour), "how often the overdue-invoice detector runs (env ORCH_DETECTOR_INTERVAL)")
}

func (s *settings) sqlitePath(name string) string { return filepath.Join(s.dataDir, name) }
