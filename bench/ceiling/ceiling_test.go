package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestContract drives the four operations through the HTTP handlers, as
// the load generator does.
func TestContract(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "c.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	srv := httptest.NewServer(newMux(st))
	defer srv.Close()

	do := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
		}
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return v
	}

	body := `{"external_id":"c-1","email":"Ann@Example.org","phone":"+49 30 1234567","data":{"contact":{"name":"Ann"}}}`
	id, _ := do("POST", "/api/v1/subjects", body, http.StatusCreated)["id"].(string)
	if id == "" {
		t.Fatal("create answered no id")
	}
	do("POST", "/api/v1/subjects", `{"email":"ann@example.org","data":{}}`, http.StatusConflict)
	do("POST", "/api/v1/subjects", `{"email":"x@example.org","data":[]}`, http.StatusUnprocessableEntity)
	do("POST", "/api/v1/subjects", `{`, http.StatusBadRequest)

	got := do("POST", "/api/v1/subjects/lookup", `{"email":"ann@example.org"}`, http.StatusOK)
	if got["id"] != id || got["email"] != "ann@example.org" {
		t.Errorf("lookup = %v", got)
	}
	do("POST", "/api/v1/subjects/lookup", `{"email":"bob@example.org"}`, http.StatusNotFound)
	got = do("GET", "/api/v1/subjects/"+id, "", http.StatusOK)
	if data, _ := got["data"].(map[string]any); data["contact"] == nil {
		t.Errorf("get = %v", got)
	}
	if r := do("DELETE", "/api/v1/subjects/"+id, "", http.StatusOK); r["subject_id"] != id {
		t.Errorf("erase = %v", r)
	}
	do("DELETE", "/api/v1/subjects/"+id, "", http.StatusNotFound)
	do("GET", "/api/v1/subjects/"+id, "", http.StatusNotFound)
	do("GET", "/healthz", "", http.StatusOK)
}

// TestGroupCommit checks that concurrent writes sharing transactions fail
// or succeed individually: of many creates with one e-mail address, exactly
// one wins.
func TestGroupCommit(t *testing.T) {
	st, err := openStore(context.Background(), filepath.Join(t.TempDir(), "c.db"), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, dup := 0, 0
	for i := range 64 {
		wg.Go(func() {
			email := "same@example.org"
			if i%2 == 1 {
				email = newID() + "@example.org"
			}
			err := st.insert(ctx, &row{ID: newID(), Email: email, Data: []byte("{}")})
			mu.Lock()
			defer mu.Unlock()
			switch err {
			case nil:
				ok++
			case errDuplicate:
				dup++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 33 || dup != 31 {
		t.Errorf("%d created, %d duplicates; want 33 and 31", ok, dup)
	}
	st.close()
	if err := st.insert(ctx, &row{ID: newID(), Data: []byte("{}")}); err != errClosed {
		t.Errorf("insert after close: %v, want errClosed", err)
	}
}
