package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/execution-orchestrator/orchestrator/codec"
	"github.com/execution-orchestrator/orchestrator/web"
)

// codecKeysEnv overrides where every command finds the payload keyring.
const codecKeysEnv = "ORCH_CODEC_KEYS"

// codecKeysPath is the payload encryption keyring: --codec-keys, or
// codec.keys in the keys folder.
func (s *settings) codecKeysPath() string {
	if s.codecKeys != "" {
		return s.codecKeys
	}
	return filepath.Join(s.keys(), codec.FileName)
}

// codecTokensPath holds the hashes of the codec server's bearer tokens,
// beside the keyring.
func (s *settings) codecTokensPath() string {
	return filepath.Join(filepath.Dir(s.codecKeysPath()), codec.TokensFileName)
}

// keyring loads the payload keyring (once per command); create makes it
// first if it is missing, as the worker and `orchestrator dev` do: every
// other command needs the keyring the worker uses.
func (s *settings) keyring(create bool) (*codec.Keyring, error) {
	if s.ring != nil {
		return s.ring, nil
	}
	var err error
	if create {
		s.ring, err = codec.Ensure(s.codecKeysPath())
	} else {
		s.ring, err = codec.Load(s.codecKeysPath())
	}
	return s.ring, err
}

// codecFlags adds where browsers may call the web app's codec server from.
func (s *settings) codecFlags(fs *flag.FlagSet) {
	s.codecUIOrigins = splitList(os.Getenv("ORCH_CODEC_UI_ORIGINS"))
	fs.Func("codec-ui-origin", "origin of the Temporal UI that may decode payloads through the web app's codec server at <web-base-url>/codec, e.g. https://temporal.example.com; repeat or comma-separate for several (env ORCH_CODEC_UI_ORIGINS)",
		func(v string) error {
			for _, o := range splitList(v) {
				if _, err := codec.NormalizeOrigin(o); err != nil {
					return err
				}
				s.codecUIOrigins = append(s.codecUIOrigins, o)
			}
			return nil
		})
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// webCodec is the web app's codec server: the worker's keyring, for the
// UI origins given, in the namespace the app's Temporal client uses.
func (s *settings) webCodec() (*web.CodecConfig, error) {
	ring, err := s.keyring(false)
	if err != nil {
		return nil, err
	}
	namespaces := s.codecNamespaces
	if len(namespaces) == 0 {
		opts, err := envconfig.LoadDefaultClientOptions()
		if err != nil {
			return nil, fmt.Errorf("load Temporal client configuration: %w", err)
		}
		ns := opts.Namespace
		if ns == "" {
			ns = "default"
		}
		namespaces = []string{ns}
	}
	return &web.CodecConfig{Codec: codec.NewCodec(ring), UIOrigins: s.codecUIOrigins, Namespaces: namespaces,
		Tokens: codec.OpenTokens(s.codecTokensPath())}, nil
}

// envCodecKeys is the keyring of the operator commands that take no
// settings flags (start, status, result): ORCH_CODEC_KEYS, else codec.keys
// in ORCH_KEYS_DIR, else in <ORCH_DATA_DIR or .data>/keys.
func envCodecKeys() string {
	s := settings{codecKeys: os.Getenv(codecKeysEnv), keysDir: os.Getenv("ORCH_KEYS_DIR"), dataDir: envOr("ORCH_DATA_DIR", ".data")}
	return s.codecKeysPath()
}

const codecKeysUsage = "payload encryption keyring the worker uses; empty uses <keys-dir>/codec.keys (env " + codecKeysEnv + ")"

// codecKeysFlag parses the only flag of status and result: --codec-keys.
func codecKeysFlag(name string, args []string) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	keys := fs.String("codec-keys", envCodecKeys(), codecKeysUsage)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return *keys, nil
}

const codecUsage = `codec: expected one of
  orchestrator codec keygen          create the payload keyring (<keys-dir>/codec.keys) if missing
  orchestrator codec rotate          add a new active key; older keys keep decrypting
  orchestrator codec list            key ids (the active one marked) and bearer token names
  orchestrator codec token NAME      a bearer token for the codec server (temporal --codec-auth), shown once
  orchestrator codec token revoke NAME
each with [--codec-keys FILE | --keys-dir DIR | --data-dir DIR]`

// runCodec manages the payload keyring and the codec server's tokens:
// `orchestrator codec keygen|rotate|list|token`. Key bytes are never
// printed.
func runCodec(_ context.Context, args []string, out io.Writer, _ *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(codecUsage)
	}
	cmd, rest := args[0], args[1:]
	var name string
	revoke := false
	if cmd == "token" {
		if len(rest) > 0 && rest[0] == "revoke" {
			revoke, rest = true, rest[1:]
		}
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return errors.New("codec token: expected a token name first, e.g. orchestrator codec token ops-cli")
		}
		name, rest = rest[0], rest[1:]
	}
	s, err := parseSettings("codec "+cmd, rest, nil)
	if err != nil {
		return err
	}
	path := s.codecKeysPath()
	switch cmd {
	case "keygen":
		ring, err := codec.Create(path)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("codec keygen: %s exists; add a key with \"orchestrator codec rotate\" (a new keyring could not read the histories written so far)", path)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "payload keyring created: %s (active key %s)\nKeep it secret and back it up: without it no workflow history can be read. Give the same file to the worker, web app, agent gateway and command line (--codec-keys or %s).\n", path, ring.ActiveID(), codecKeysEnv)
		return nil
	case "rotate":
		ring, err := codec.Rotate(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: new active key %s; keys %s still decrypt.\nCopy the file to every process and restart them, the worker last; remove an old key only when no history still needs it (docs/codec.md).\n",
			path, ring.ActiveID(), strings.Join(ring.IDs()[1:], ", "))
		return nil
	case "list":
		ring, err := codec.Load(path)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "KEY\tUSE\n")
		for i, id := range ring.IDs() {
			use := "decrypt"
			if i == 0 {
				use = "encrypt, decrypt (active)"
			}
			fmt.Fprintf(tw, "%s\t%s\n", id, use)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		tokens, err := codec.ListTokens(s.codecTokensPath())
		if err != nil {
			return err
		}
		if len(tokens) > 0 {
			fmt.Fprintln(out)
			tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "TOKEN\tCREATED\n")
			for _, t := range tokens {
				fmt.Fprintf(tw, "%s\t%s\n", t.Name, t.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		}
		return nil
	case "token":
		tokens := s.codecTokensPath()
		if revoke {
			if err := codec.RevokeToken(tokens, name); err != nil {
				return err
			}
			fmt.Fprintf(out, "codec token %s revoked; its next request is refused\n", name)
			return nil
		}
		// A token for a keyring that does not exist would be useless.
		if _, err := codec.Load(path); err != nil {
			return err
		}
		tok, err := codec.AddToken(tokens, name, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "codec token %s created; it is shown only now (only its SHA-256 is stored in %s):\n\n  %s\n\n"+
			"Use it with the temporal CLI, e.g.\n  temporal workflow show -w <id> --codec-endpoint %s%s --codec-auth 'Bearer %s'\n",
			name, tokens, tok, strings.TrimSuffix(s.webBaseURL, "/"), web.CodecPath, tok)
		return nil
	}
	return fmt.Errorf("%s\nnot %q", codecUsage, cmd)
}
