package web

import "net/http"

// OpsSource feeds the operations view. (Stub: replaced by the ops view.)
type OpsSource interface{}

func (s *Server) routeOps(mux *http.ServeMux, cfg Config) {}
