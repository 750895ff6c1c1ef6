package agentapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// RunStdio serves MCP over in and out (newline-delimited JSON-RPC, what
// desktop agent hosts spawn) as a proxy of the gateway's MCP endpoint at
// remoteURL: it lists the gateway's tools, offers each under the same name,
// description and schemas, and forwards every call with the agent's key.
//
// It proxies rather than serving the tools itself so that the desktop host
// holds only the agent's key, never the gateway's signing key or the key
// store, and every call passes the one identity check, scope check and rate
// limit of the gateway. It returns when in ends or ctx is cancelled.
func RunStdio(ctx context.Context, remoteURL, key string, in io.Reader, out io.Writer) error {
	if strings.TrimSpace(key) == "" {
		return errors.New("mcp proxy: the agent key is required")
	}
	remote, err := checkRemote(remoteURL)
	if err != nil {
		return err
	}
	hc := &http.Client{
		Transport: &bearerTransport{key: key, host: remote.Host, base: http.DefaultTransport},
		// One call may wait up to agentaction.MaxWait for the action.
		Timeout: agentaction.MaxWait + time.Minute,
		// The gateway never redirects; following one could carry the key
		// from https to http on the same host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "orchestrator-mcp-proxy", Version: "1.0.0"}, nil)
	// The gateway is stateless and sends nothing unasked: no standalone
	// event stream to hold open.
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: remoteURL, HTTPClient: hc, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return fmt.Errorf("mcp proxy: connect to the agent gateway at %s: %w", remoteURL, err)
	}
	defer cs.Close()

	opts := &mcp.ServerOptions{}
	if r := cs.InitializeResult(); r != nil {
		opts.Instructions = r.Instructions
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "execution-orchestrator", Title: "ExecutionOrchestrator (via the agent gateway)", Version: "1.0.0"}, opts)
	n := 0
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("mcp proxy: list the gateway's tools: %w", err)
		}
		if err := addForwarded(server, cs, tool); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("mcp proxy: the agent gateway at %s offers no tools", remoteURL)
	}

	err = server.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(in), Writer: nopWriteCloser{out}})
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		// Asked to stop: a normal end.
		return nil
	}
	return fmt.Errorf("mcp proxy: %w", err)
}

// addForwarded offers tool locally and forwards its calls to cs. A schema
// the SDK refuses is an error, not a crash: the gateway is another process.
func addForwarded(server *mcp.Server, cs *mcp.ClientSession, tool *mcp.Tool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mcp proxy: the gateway's tool %q cannot be offered: %v", tool.Name, r)
		}
	}()
	local := *tool
	name := tool.Name
	server.AddTool(&local, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args any = map[string]any{}
		if req.Params != nil && len(bytes.TrimSpace(req.Params.Arguments)) > 0 {
			args = req.Params.Arguments
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			// The model reads the failure (a revoked key, the rate limit,
			// the gateway down) as the tool's answer.
			var failed mcp.CallToolResult
			failed.SetError(fmt.Errorf("agent gateway: %w", err))
			return &failed, nil
		}
		return res, nil
	})
	return nil
}

// checkRemote refuses to send the key in clear text anywhere but this
// machine: over http it must be a loopback address.
func checkRemote(remoteURL string) (*url.URL, error) {
	u, err := url.Parse(remoteURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("mcp proxy: %q is not an http(s) URL of the gateway's MCP endpoint, e.g. http://127.0.0.1:8070/mcp", remoteURL)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("mcp proxy: %s would carry the agent key unencrypted to another machine; use https", remoteURL)
		}
	}
	return u, nil
}

// bearerTransport adds the agent key to requests for the gateway's host,
// and to no other.
type bearerTransport struct {
	key  string
	host string
	base http.RoundTripper
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return nil, fmt.Errorf("mcp proxy: refusing to send the agent key to %s", req.URL.Host)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+t.key)
	return t.base.RoundTrip(req)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
