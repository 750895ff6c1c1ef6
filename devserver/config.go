// Package devserver runs the Temporal CLI dev server described by
// temporal-dev.yaml: it validates the file, turns it into
// `temporal server start-dev` flags, starts the process and waits until its
// frontend and UI answer.
package devserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config mirrors temporal-dev.yaml.
type Config struct {
	Server           ServerConfig      `yaml:"server"`
	Storage          StorageConfig     `yaml:"storage"`
	SearchAttributes map[string]string `yaml:"searchAttributes"`
	DynamicConfig    map[string]any    `yaml:"dynamicConfig"`
}

// ServerConfig holds the network side of the dev server.
type ServerConfig struct {
	IP        string `yaml:"ip"`
	Port      int    `yaml:"port"`
	UIPort    int    `yaml:"uiPort"`
	Namespace string `yaml:"namespace"`
	LogLevel  string `yaml:"logLevel"`
	Headless  bool   `yaml:"headless"`
	// UICodecEndpoint is the codec server the Web UI decodes payloads
	// with (--ui-codec-endpoint), e.g. http://127.0.0.1:8080/codec;
	// `orchestrator dev` sets it to its web app's when empty.
	UICodecEndpoint string `yaml:"uiCodecEndpoint"`
}

// StorageConfig holds where the dev server keeps its state.
type StorageConfig struct {
	DataDir       string            `yaml:"dataDir"`
	DBFile        string            `yaml:"dbFile"`
	SQLitePragmas map[string]string `yaml:"sqlitePragmas"`
}

var (
	identRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	dynKeyRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
	saTypes       = []string{"Text", "Keyword", "Int", "Double", "Bool", "Datetime", "KeywordList"}
	logLevels     = []string{"debug", "info", "warn", "error", "never"}
	namespaceRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	pragmaValueRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// Load reads and validates a temporal-dev.yaml file.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read dev server config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes and validates temporal-dev.yaml content; unknown keys are
// errors so that a typo never silently falls back to a default.
func Parse(data []byte) (Config, error) {
	cfg := Config{
		Server:  ServerConfig{IP: "127.0.0.1", Port: 7233, Namespace: "default", LogLevel: "warn"},
		Storage: StorageConfig{DataDir: ".data", DBFile: "temporal.db"},
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF and means "all defaults".
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse: %w", nameKeys(data, err))
	}
	if cfg.Server.UIPort == 0 {
		cfg.Server.UIPort = cfg.Server.Port + 1000
	}
	return cfg, cfg.Validate()
}

// Validate checks every key and names the first bad one.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if net.ParseIP(c.Server.IP) == nil && c.Server.IP != "localhost" {
		bad("server.ip", "%q is not an IP address", c.Server.IP)
	}
	if p := c.Server.Port; p < 1 || p > 65535 {
		bad("server.port", "%d is not a port (1-65535)", p)
	}
	if p := c.Server.UIPort; p < 1 || p > 65535 {
		bad("server.uiPort", "%d is not a port (1-65535)", p)
	}
	if c.Server.Port == c.Server.UIPort {
		bad("server.uiPort", "must differ from server.port (%d)", c.Server.Port)
	}
	if !namespaceRE.MatchString(c.Server.Namespace) {
		bad("server.namespace", "%q is not a valid namespace name", c.Server.Namespace)
	}
	if e := c.Server.UICodecEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("server.uiCodecEndpoint", "%q must be an http(s) URL without query, e.g. http://127.0.0.1:8080/codec", e)
		}
	}
	if !slices.Contains(logLevels, c.Server.LogLevel) {
		bad("server.logLevel", "%q is not one of %s", c.Server.LogLevel, strings.Join(logLevels, ", "))
	}
	if strings.TrimSpace(c.Storage.DataDir) == "" {
		bad("storage.dataDir", "must not be empty")
	}
	if c.Storage.DBFile == "" || strings.ContainsRune(c.Storage.DBFile, filepath.Separator) {
		bad("storage.dbFile", "%q must be a plain file name inside storage.dataDir", c.Storage.DBFile)
	}
	for _, k := range sortedKeys(c.Storage.SQLitePragmas) {
		if !identRE.MatchString(k) {
			bad("storage.sqlitePragmas."+k, "not a pragma name")
		} else if !pragmaValueRE.MatchString(c.Storage.SQLitePragmas[k]) {
			bad("storage.sqlitePragmas."+k, "value %q must be a word or number", c.Storage.SQLitePragmas[k])
		}
	}
	for _, k := range sortedKeys(c.SearchAttributes) {
		if !identRE.MatchString(k) {
			bad("searchAttributes."+k, "not an identifier")
		}
		if !slices.Contains(saTypes, c.SearchAttributes[k]) {
			bad("searchAttributes."+k, "type %q is not one of %s", c.SearchAttributes[k], strings.Join(saTypes, ", "))
		}
	}
	for _, k := range sortedKeys(c.DynamicConfig) {
		if !dynKeyRE.MatchString(k) {
			bad("dynamicConfig."+k, "not a dynamic config key")
		} else if _, err := json.Marshal(c.DynamicConfig[k]); err != nil {
			bad("dynamicConfig."+k, "value is not JSON-encodable: %v", err)
		}
	}
	return errors.Join(errs...)
}

// DBPath is the SQLite file the dev server persists to.
func (c Config) DBPath() string { return filepath.Join(c.Storage.DataDir, c.Storage.DBFile) }

// Address is the gRPC frontend address clients dial.
func (c Config) Address() string {
	return net.JoinHostPort(c.Server.IP, strconv.Itoa(c.Server.Port))
}

// UIURL is the Web UI address.
func (c Config) UIURL() string {
	return "http://" + net.JoinHostPort(c.Server.IP, strconv.Itoa(c.Server.UIPort))
}

// Args returns the `temporal` arguments that start this dev server, in a
// stable order.
func (c Config) Args() []string {
	args := []string{"server", "start-dev",
		"--ip", c.Server.IP,
		"--port", strconv.Itoa(c.Server.Port),
		"--ui-port", strconv.Itoa(c.Server.UIPort),
		"--db-filename", c.DBPath(),
		"--log-level", c.Server.LogLevel,
	}
	if c.Server.Namespace != "default" {
		args = append(args, "--namespace", c.Server.Namespace)
	}
	if c.Server.Headless {
		args = append(args, "--headless")
	} else if c.Server.UICodecEndpoint != "" {
		args = append(args, "--ui-codec-endpoint", c.Server.UICodecEndpoint)
	}
	for _, k := range sortedKeys(c.Storage.SQLitePragmas) {
		args = append(args, "--sqlite-pragma", k+"="+c.Storage.SQLitePragmas[k])
	}
	return append(args, c.NamespaceArgs()...)
}

// NamespaceArgs are the flags that shape what workflows see (search
// attributes, dynamic config), apart from where the server listens and
// stores; the test harness passes them to testsuite.StartDevServer so tests
// run on the same server shape as `orchestrator dev`.
func (c Config) NamespaceArgs() []string {
	var args []string
	for _, k := range sortedKeys(c.SearchAttributes) {
		args = append(args, "--search-attribute", k+"="+c.SearchAttributes[k])
	}
	for _, k := range sortedKeys(c.DynamicConfig) {
		v, _ := json.Marshal(c.DynamicConfig[k]) // Validate checked it encodes
		args = append(args, "--dynamic-config-value", k+"="+string(v))
	}
	return args
}

var lineRE = regexp.MustCompile(`^line (\d+): `)

// nameKeys rewrites yaml type errors ("line 3: cannot unmarshal ...") so that
// each names the dotted key found on that line.
func nameKeys(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	keys := map[int]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := strings.TrimPrefix(path+"."+n.Content[i].Value, ".")
				keys[n.Content[i].Line] = p
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&root, "")
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if sub := lineRE.FindStringSubmatch(m); sub != nil {
			line, _ := strconv.Atoi(sub[1])
			if key, ok := keys[line]; ok {
				m = key + ": " + m
			}
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
