// Package baseurl parses the public base URL of one of our HTTP doors (the
// web app, the agent gateway) and compares request Hosts with it: a door on
// loopback answers only requests naming it, which stops DNS-rebinding pages.
package baseurl

import (
	"fmt"
	"net/url"
	"strings"
)

// Parse accepts scheme://host[:port] with an optional "/"; field names the
// setting in the error (e.g. "web: Config.BaseURL").
func Parse(field, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: %q must be http(s)://host[:port] with no path", field, v)
	}
	u.Path = ""
	return u, nil
}

// NormalHost lower-cases a host[:port] and drops the scheme's default port,
// so "Example.com:443" and "example.com" name the same https server.
func NormalHost(host, scheme string) string {
	host = strings.ToLower(host)
	if scheme == "https" {
		return strings.TrimSuffix(host, ":443")
	}
	return strings.TrimSuffix(host, ":80")
}
