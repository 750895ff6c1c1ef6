package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/web"
)

// settings are the local parts' addresses and stores. Each flag defaults to
// an environment variable so a deployment sets them once.
type settings struct {
	sandboxURL       string
	smtpAddr         string
	databaseURL      string
	dataDir          string
	orgFile          string
	keysDir          string
	policyDir        string
	webAddr          string
	webBaseURL       string
	financeOpsEmail  string
	detectorInterval time.Duration
	metricsAddr      string
	sandboxAddr      string
	settleAfter      time.Duration
	faults           map[string]sandbox.Fault
	devIdentityOpen  bool
	devIdentity      bool
	oidcIssuer       string
	oidcClientID     string
	oidcClientSecret string
	agentAPIAddr     string // agent gateway listen address (agents.go)
	agentAPIBaseURL  string // agent gateway URL; "" => http://<agentAPIAddr>
	codecKeys        string // payload keyring; "" => <keys dir>/codec.keys (codec.go)
	codecUIOrigins   []string
	// temporalUIURL is where the operations and audit views link runs.
	temporalUIURL   string
	codecNamespaces []string       // "" => the Temporal client's namespace
	ring            *codec.Keyring // loaded by keyring()
	errs            []error

	// chatWebhookSecret is the chat webhook's shared secret: env
	// ORCH_CHAT_WEBHOOK_SECRET, or generated per run by `orchestrator dev`;
	// "" serves no chat webhook.
	chatWebhookSecret string
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
	fs.StringVar(&s.keysDir, "keys-dir", os.Getenv("ORCH_KEYS_DIR"), "trusted public keys (*.pub) and the worker's and web app's signing keys; empty uses <data-dir>/keys (env ORCH_KEYS_DIR)")
	fs.StringVar(&s.policyDir, "policy-dir", os.Getenv("ORCH_POLICY_DIR"), "folder of the gate's *.cedar policies, re-read when they change; empty uses the embedded policy/*.cedar (env ORCH_POLICY_DIR)")
	fs.StringVar(&s.webAddr, "web-addr", envOr("ORCH_WEB_ADDR", "127.0.0.1:8080"), "listen address of the approval web app (env ORCH_WEB_ADDR)")
	fs.StringVar(&s.webBaseURL, "web-base-url", envOr("ORCH_WEB_BASE_URL", "http://127.0.0.1:8080"), "URL approvers open, used in emailed links (env ORCH_WEB_BASE_URL)")
	fs.StringVar(&s.financeOpsEmail, "finance-ops-email", envOr("ORCH_FINANCE_OPS_EMAIL", "finance-ops@orchestrator.example"), "where escalations are emailed (env ORCH_FINANCE_OPS_EMAIL)")
	fs.DurationVar(&s.detectorInterval, "detector-interval", s.envDuration("ORCH_DETECTOR_INTERVAL", time.Hour), "how often the overdue-invoice detector runs (env ORCH_DETECTOR_INTERVAL)")
	fs.StringVar(&s.codecKeys, "codec-keys", os.Getenv(codecKeysEnv), codecKeysUsage)
}

// metricsFlags adds where the worker serves Prometheus metrics.
func (s *settings) metricsFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.metricsAddr, "metrics-addr", envOrEmpty("ORCH_METRICS_ADDR", "127.0.0.1:9464"),
		`listen address of the worker's Prometheus /metrics; "" turns it off (env ORCH_METRICS_ADDR)`)
}

// envOrEmpty is envOr where a variable set to "" counts, so
// ORCH_METRICS_ADDR= turns a default-on listener off.
func envOrEmpty(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// sandboxFlags adds the flags of a locally started sandbox.
func (s *settings) sandboxFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.sandboxAddr, "sandbox-addr", envOr("ORCH_SANDBOX_ADDR", "127.0.0.1:8090"), "listen address of the sandbox HTTP API (env ORCH_SANDBOX_ADDR)")
	fs.DurationVar(&s.settleAfter, "settle-after", s.envDuration("ORCH_SANDBOX_SETTLE_AFTER", 3*time.Second), "sandbox treasury: time from release to settlement (env ORCH_SANDBOX_SETTLE_AFTER)")
	if v := os.Getenv("ORCH_SANDBOX_FAULTS"); v != "" {
		if err := s.setFaults(v); err != nil {
			s.errs = append(s.errs, fmt.Errorf("ORCH_SANDBOX_FAULTS: %w", err))
		}
	}
	fs.Func("faults", `sandbox fault injection as JSON, e.g. {"*": {"errorRate": 0.3, "latencyMs": 200}} (env ORCH_SANDBOX_FAULTS)`, s.setFaults)
}

func (s *settings) setFaults(v string) error {
	f, err := sandbox.ParseFaults([]byte(v))
	if err != nil {
		return err
	}
	s.faults = f
	return nil
}

// parseSettings parses a command's flags: the shared settings, plus what
// extra adds; bad flag or environment values are errors naming them.
func parseSettings(name string, args []string, extra func(*settings, *flag.FlagSet)) (*settings, error) {
	s := &settings{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	s.register(fs)
	if extra != nil {
		extra(s, fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// webFlags adds the flags of the approval web app run on its own: how
// people sign in, and where the person picker may be served.
func (s *settings) webFlags(fs *flag.FlagSet) {
	s.webExposureFlags(fs)
	s.codecFlags(fs)
	fs.StringVar(&s.temporalUIURL, "temporal-ui-url", os.Getenv("ORCH_TEMPORAL_UI_URL"),
		"the Temporal UI operators open, e.g. http://127.0.0.1:8233: the operations and audit views link each run there (env ORCH_TEMPORAL_UI_URL)")
	fs.BoolVar(&s.devIdentity, "dev-identity", os.Getenv("ORCH_DEV_IDENTITY") == "1",
		"sign in with the development person picker, where anyone can act as anyone (env ORCH_DEV_IDENTITY=1)")
	fs.StringVar(&s.oidcIssuer, "oidc-issuer", os.Getenv("ORCH_OIDC_ISSUER"),
		"OpenID Connect issuer people sign in at, e.g. https://login.example.com (env ORCH_OIDC_ISSUER)")
	fs.StringVar(&s.oidcClientID, "oidc-client-id", os.Getenv("ORCH_OIDC_CLIENT_ID"),
		"the web app's client id at the OpenID provider; its redirect URL is <web-base-url>/auth/callback (env ORCH_OIDC_CLIENT_ID)")
	fs.StringVar(&s.oidcClientSecret, "oidc-client-secret", os.Getenv("ORCH_OIDC_CLIENT_SECRET"),
		"the client's secret; prefer the environment variable, flags show in process lists (env ORCH_OIDC_CLIENT_SECRET)")
}

// webExposureFlags adds the flag that lets the person picker listen beyond
// loopback; the dev stack, which always uses the picker, has only this one.
func (s *settings) webExposureFlags(fs *flag.FlagSet) {
	fs.BoolVar(&s.devIdentityOpen, "insecure-dev-identity", os.Getenv("ORCH_INSECURE_DEV_IDENTITY") == "1",
		"serve the development person picker on a non-loopback address (anyone reaching it can act as anyone; env ORCH_INSECURE_DEV_IDENTITY=1)")
}

// checkWeb checks the web app's settings before anything starts: exactly
// one way to sign in, a usable base URL, and the picker's exposure.
func (s *settings) checkWeb() error {
	if err := s.checkWebIdentity(); err != nil {
		return err
	}
	u, err := url.Parse(s.webBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("--web-base-url: %q must be http(s)://host[:port]; the web app answers only for that host", s.webBaseURL)
	}
	return s.checkWebExposure()
}

// checkWebIdentity wants OpenID Connect or, said explicitly, the
// development person picker; never neither, never both.
func (s *settings) checkWebIdentity() error {
	oidc := s.oidcIssuer != "" || s.oidcClientID != "" || s.oidcClientSecret != ""
	switch {
	case s.devIdentity && oidc:
		return errors.New("--dev-identity and --oidc-issuer/--oidc-client-id/--oidc-client-secret are mutually exclusive: the person picker would bypass OpenID Connect")
	case s.devIdentity:
		return nil
	case !oidc:
		return errors.New("no sign-in configured for the web app: pass --oidc-issuer and --oidc-client-id (env ORCH_OIDC_ISSUER, ORCH_OIDC_CLIENT_ID) for OpenID Connect, or --dev-identity (env ORCH_DEV_IDENTITY=1) for the development person picker")
	case s.oidcIssuer == "":
		return errors.New("--oidc-issuer: required with --oidc-client-id or --oidc-client-secret (env ORCH_OIDC_ISSUER)")
	case s.oidcClientID == "":
		return errors.New("--oidc-client-id: required with --oidc-issuer (env ORCH_OIDC_CLIENT_ID)")
	}
	return nil
}

// checkWebExposure refuses to put the development person picker, where
// whoever opens the page chooses who they are, on a network address unless
// asked to explicitly. OpenID sign-in may listen anywhere.
func (s *settings) checkWebExposure() error {
	host, _, err := net.SplitHostPort(s.webAddr)
	if err != nil {
		return fmt.Errorf("--web-addr: %q is not host:port: %w", s.webAddr, err)
	}
	if ip := net.ParseIP(host); !s.devIdentity || host == "localhost" || (ip != nil && ip.IsLoopback()) || s.devIdentityOpen {
		return nil
	}
	return fmt.Errorf("--web-addr: %s is not a loopback address, and the web app's development person picker would let anyone there approve as anyone; bind to 127.0.0.1 or pass --insecure-dev-identity", s.webAddr)
}

// webSignIn is the web app's sign-in configuration from these settings.
func (s *settings) webSignIn(cfg *web.Config) {
	cfg.BaseURL = s.webBaseURL
	if s.devIdentity {
		cfg.DevIdentity = true
		return
	}
	cfg.OIDC = &web.OIDCConfig{IssuerURL: s.oidcIssuer, ClientID: s.oidcClientID, ClientSecret: s.oidcClientSecret,
		RedirectURL: strings.TrimSuffix(s.webBaseURL, "/") + "/auth/callback"}
}

func (s *settings) sqlitePath(name string) string { return filepath.Join(s.dataDir, name) }

// evidenceDir holds the evidence store's blobs (uploads of field workers),
// also when the metadata is in PostgreSQL.
func (s *settings) evidenceDir() string { return filepath.Join(s.dataDir, "evidence") }

// keys is the folder of trusted public keys and our signing keys.
func (s *settings) keys() string {
	if s.keysDir != "" {
		return s.keysDir
	}
	return filepath.Join(s.dataDir, "keys")
}
