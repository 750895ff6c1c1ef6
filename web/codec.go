package web

import "net/http"

// CodecPath is where the codec server is mounted.
const CodecPath = "/codec"

// CodecConfig configures the codec server. (Stub: replaced by the codec work.)
type CodecConfig struct{}

func (s *Server) codecHandler(cfg *CodecConfig) (http.Handler, error) { return nil, nil }
