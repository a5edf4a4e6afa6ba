// Command ceiling is the bare baseline of gdprd's benchmark: the fastest
// honest server for the same four vault operations, with the same HTTP and
// JSON contract as gdprd so the same load generator drives both, and the
// same durability (SQLite in WAL mode with synchronous=FULL, group commit),
// but no encryption, audit, authentication or validation beyond what JSON
// decoding does. What it achieves is the limit this machine allows; gdprd's
// targets are stated as a fraction of it.
//
// Routes:
//
//	POST   /api/v1/subjects         {"external_id","email","phone","data"} → 201 {"id"}; 409 on a duplicate
//	POST   /api/v1/subjects/lookup  {"email"} → 200 subject or 404
//	GET    /api/v1/subjects/{id}    → 200 subject or 404
//	DELETE /api/v1/subjects/{id}    → 200 {"subject_id",…} or 404
//	GET    /healthz                 → 200 "ok"
//
// The first line on standard output is "listening on HOST:PORT".
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// maxBody bounds request bodies, as any production server does.
const maxBody = 1 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	db := flag.String("db", "ceiling.db", "SQLite database file (created if missing)")
	readers := flag.Int("readers", 4, "read-only SQLite connections")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("ceiling: ")
	if err := run(*addr, *db, *readers); err != nil {
		log.Fatal(err)
	}
}

func run(addr, path string, readers int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := openStore(ctx, path, readers)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer st.close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newMux(st),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// server holds the handlers' shared state.
type server struct {
	st *store
}

func newMux(st *store) *http.ServeMux {
	s := &server{st: st}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/subjects", s.create)
	mux.HandleFunc("POST /api/v1/subjects/lookup", s.lookup)
	mux.HandleFunc("GET /api/v1/subjects/{id}", s.get)
	mux.HandleFunc("DELETE /api/v1/subjects/{id}", s.erase)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	return mux
}

// newSubject is the body of a create request.
type newSubject struct {
	ExternalID string          `json:"external_id"`
	Email      string          `json:"email"`
	Phone      string          `json:"phone"`
	Data       json.RawMessage `json:"data"`
}

// subject is the representation returned by lookup and get.
type subject struct {
	ID         string          `json:"id"`
	ExternalID string          `json:"external_id,omitempty"`
	Email      string          `json:"email,omitempty"`
	Phone      string          `json:"phone,omitempty"`
	Data       json.RawMessage `json:"data"`
	Restricted bool            `json:"restricted"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// receipt is the answer to an erasure.
type receipt struct {
	SubjectID string    `json:"subject_id"`
	ErasedAt  time.Time `json:"erased_at"`
	Scope     string    `json:"scope"`
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var in newSubject
	if !decode(w, r, &in) {
		return
	}
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	if in.Email == "" && in.ExternalID == "" && in.Phone == "" {
		problem(w, http.StatusUnprocessableEntity, "a subject needs at least one identifier")
		return
	}
	if len(in.Data) == 0 || in.Data[0] != '{' {
		problem(w, http.StatusUnprocessableEntity, "data must be a JSON object")
		return
	}
	row := &row{
		ID:         newID(),
		Email:      in.Email,
		ExternalID: in.ExternalID,
		Phone:      in.Phone,
		Data:       in.Data,
		CreatedAt:  time.Now().UnixMicro(),
	}
	switch err := s.st.insert(r.Context(), row); {
	case errors.Is(err, errDuplicate):
		problem(w, http.StatusConflict, "an identifier is already taken")
	case err != nil:
		serverError(w, err)
	default:
		reply(w, http.StatusCreated, struct {
			ID string `json:"id"`
		}{row.ID})
	}
}

func (s *server) lookup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.find(w, r, s.st.lookup, strings.ToLower(strings.TrimSpace(in.Email)))
}

func (s *server) get(w http.ResponseWriter, r *http.Request) {
	s.find(w, r, s.st.get, r.PathValue("id"))
}

// find answers with the subject one of the store's queries finds, or 404.
func (s *server) find(w http.ResponseWriter, r *http.Request, q *sql.Stmt, arg string) {
	row, err := s.st.find(r.Context(), q, arg)
	switch {
	case err != nil:
		serverError(w, err)
	case row == nil:
		problem(w, http.StatusNotFound, "no such subject")
	default:
		at := time.UnixMicro(row.CreatedAt).UTC()
		reply(w, http.StatusOK, subject{
			ID: row.ID, ExternalID: row.ExternalID, Email: row.Email, Phone: row.Phone,
			Data: row.Data, CreatedAt: at, UpdatedAt: at,
		})
	}
}

func (s *server) erase(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	found, err := s.st.remove(r.Context(), id)
	switch {
	case err != nil:
		serverError(w, err)
	case !found:
		problem(w, http.StatusNotFound, "no such subject")
	default:
		reply(w, http.StatusOK, receipt{SubjectID: id, ErasedAt: time.Now().UTC(), Scope: "subject"})
	}
}

// decode reads a JSON body into v, answering 400 itself if it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		problem(w, http.StatusBadRequest, "malformed JSON body")
		return false
	}
	return true
}

// reply writes v as JSON with the given status.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// problem writes a minimal RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{http.StatusText(status), status, detail})
}

// serverError logs err and answers 500 (or 503 once the store is closed).
func serverError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, errClosed) {
		status = http.StatusServiceUnavailable
	}
	log.Print(err)
	problem(w, status, "internal error")
}

// newID returns a random, URL-safe subject identifier.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return "sub_" + hex.EncodeToString(b[:])
}
