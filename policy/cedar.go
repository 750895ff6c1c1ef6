package policy

import (
	"embed"
	"io/fs"
)

//go:embed *.cedar
var cedarFiles embed.FS

// DefaultPolicies returns the Cedar policy files compiled into the binary
// (policy/*.cedar), for gate.FSSource. They are the fallback when a worker
// is not pointed at a policy directory; a directory source is preferred in
// production because it is hot-reloaded.
func DefaultPolicies() fs.FS { return cedarFiles }
