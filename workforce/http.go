package workforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// MaxBodyBytes caps a PUT body; a worker record is a few hundred bytes.
const MaxBodyBytes = 64 << 10

// WorkerList is the answer of GET /api/workforce.
type WorkerList struct {
	Workers []Worker `json:"workers"`
}

// ErrorBody is every error answer: what is wrong and, when a field of the
// body is at fault, its JSON path.
type ErrorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

type handler struct {
	store     *Store
	authorize func(r *http.Request) (string, bool)
	log       *slog.Logger
}

// NewHandler serves the REST API that manages the workforce:
//
//	GET    /api/workforce       every worker, by id ({"workers": [...]})
//	GET    /api/workforce/{id}  one worker
//	PUT    /api/workforce/{id}  create or replace it; the body is a Worker
//	DELETE /api/workforce/{id}  remove it (204)
//
// authorize decides every request (who is asking, and whether they may);
// false is 403. A PUT body is decoded strictly (an unknown field is 400
// naming it), its id must be the path's (an empty one is taken from the
// path), and it must pass Validate (400 {"error", "field"}); bodies over
// MaxBodyBytes are 413. log may be nil.
func NewHandler(store *Store, authorize func(r *http.Request) (who string, ok bool), log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{store: store, authorize: authorize, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/workforce", h.guard(h.list))
	mux.HandleFunc("GET /api/workforce/{id}", h.guard(h.get))
	mux.HandleFunc("PUT /api/workforce/{id}", h.guard(h.put))
	mux.HandleFunc("DELETE /api/workforce/{id}", h.guard(h.remove))
	return mux
}

// guard authorizes a request before anything of it is read.
func (h *handler) guard(next func(w http.ResponseWriter, r *http.Request, who string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := allowed(h.authorize, r)
		if !ok {
			writeJSON(w, http.StatusForbidden, ErrorBody{Error: "not allowed to manage the workforce"})
			return
		}
		next(w, r, who)
	}
}

// allowed calls authorize, refusing everyone when there is none.
func allowed(authorize func(*http.Request) (string, bool), r *http.Request) (string, bool) {
	if authorize == nil {
		return "", false
	}
	return authorize(r)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request, _ string) {
	all, err := h.store.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, WorkerList{Workers: all})
}

func (h *handler) get(w http.ResponseWriter, r *http.Request, _ string) {
	wk, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wk)
}

func (h *handler) put(w http.ResponseWriter, r *http.Request, who string) {
	id := r.PathValue("id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorBody{Error: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)})
			return
		}
		writeJSON(w, http.StatusBadRequest, ErrorBody{Error: "could not read the request body"})
		return
	}
	wk, err := DecodeWorker(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if wk.ID == "" {
		wk.ID = id
	}
	if wk.ID != id {
		h.fail(w, r, fieldErr("id", "%q does not match the id %q in the path", clip(wk.ID), clip(id)))
		return
	}
	if err := h.store.Put(r.Context(), wk); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("workforce: worker put", "by", who, "worker", wk.ID, "active", wk.Active)
	stored, err := h.store.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, stored)
}

func (h *handler) remove(w http.ResponseWriter, r *http.Request, who string) {
	id := r.PathValue("id")
	if err := h.store.Remove(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("workforce: worker removed", "by", who, "worker", id)
	w.WriteHeader(http.StatusNoContent)
}

// fail answers an error: a field at fault or a malformed body is 400, an
// unknown worker 404; anything else is logged and answered without detail.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, ErrorBody{Error: fe.Error(), Field: fe.Field})
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, ErrorBody{Error: fmt.Sprintf("no worker %q", clip(r.PathValue("id")))})
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
	case isBodyError(err):
		writeJSON(w, http.StatusBadRequest, ErrorBody{Error: err.Error()})
	default:
		h.log.Error("workforce request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, ErrorBody{Error: "internal error; the server logged the detail"})
	}
}

// isBodyError tells DecodeWorker's errors that are not about one field.
func isBodyError(err error) bool {
	var be bodyError
	return errors.As(err, &be)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
