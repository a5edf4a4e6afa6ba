package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// The access-package benchmark (-export N): one gdprd, one subject with
// -fields stored fields spread over the six built-in categories, and N
// downloads of that person's access package through single-use links,
// one after the other. For each download it times the whole GET (the
// vault read, the audit events and building and streaming the ZIP) and
// counts the bytes; it reads the server's peak resident memory (VmHWM)
// before the downloads and after them. The run is repeated with four times
// the fields, so the growth of the peak can be compared with the growth of
// the archive: a server that buffered archives would grow with the archive
// times the downloads; a streaming one grows with the one subject's data.
//
// Target (issue 5): a package of 10,000 fields built in under 1 s.

// exportCategories are the built-in categories the fields are spread over.
var exportCategories = []string{"contact", "profile", "billing", "security", "usage", "marketing"}

// exportTarget is the target for one package of 10,000 fields.
const exportTarget = time.Second

// exportResult is one size's figures.
type exportResult struct {
	Fields        int     `json:"fields"`
	Downloads     int     `json:"downloads"`
	ArchiveBytes  int64   `json:"archive_bytes"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	PeakRSSBefore int64   `json:"peak_rss_before_bytes"`
	PeakRSSAfter  int64   `json:"peak_rss_after_bytes"`
	Errors        int     `json:"errors"`
}

// runExport measures the access package and returns the exit code.
func runExport(ctx context.Context, cfg config, bin, dir string) int {
	var results []exportResult
	for _, fields := range []int{cfg.fields, 4 * cfg.fields} {
		sub := filepath.Join(dir, fmt.Sprintf("export-%d", fields))
		if err := os.MkdirAll(sub, 0o700); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		r, err := measureExport(ctx, cfg, bin, sub, fields)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: export with %d fields: %v\n", fields, err)
			return 1
		}
		results = append(results, r)
	}
	printExport(os.Stdout, results)
	if cfg.jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"started": time.Now().UTC(), "export": results}, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	return 0
}

func measureExport(ctx context.Context, cfg config, bin, dir string, fields int) (exportResult, error) {
	srv, err := startGdprd(ctx, bin, dir)
	if err != nil {
		return exportResult{}, fmt.Errorf("failed to start: %w", err)
	}
	defer srv.stop()
	hc := &http.Client{Timeout: time.Minute}
	id, err := storeFields(ctx, hc, srv, fields)
	if err != nil {
		return exportResult{}, err
	}
	res := exportResult{Fields: fields, Downloads: cfg.export}
	pid := srv.cmd.Process.Pid
	res.PeakRSSBefore = procPeakRSS(pid)
	var times []time.Duration
	for range cfg.export {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		link, err := apiCall(ctx, hc, srv, "POST", "/api/v1/subjects/"+id+"/exports", []byte(`{}`))
		if err != nil {
			res.Errors++
			continue
		}
		var l struct{ URL string }
		json.Unmarshal(link, &l)
		u, err := url.Parse(l.URL)
		if err != nil {
			res.Errors++
			continue
		}
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.baseURL()+u.Path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			res.Errors++
			continue
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != 200 {
			res.Errors++
			continue
		}
		times = append(times, d)
		res.ArchiveBytes = n
		fmt.Fprintf(os.Stderr, "  export  %6d fields  %8d bytes  %7.1f ms\n", fields, n, float64(d.Microseconds())/1000)
	}
	res.PeakRSSAfter = procPeakRSS(pid)
	res.P50ms, res.P99ms, res.MaxMs = percentiles(times)
	if !srv.alive() {
		return res, fmt.Errorf("server died (%s)\nlog %s:\n%s", srv.exitStatus(), srv.logPath, srv.logTail(40))
	}
	return res, nil
}

// storeFields creates a subject and stores fields fields across the
// categories, one PUT per category (each body stays under the API's
// 1 MiB limit up to about 100,000 fields).
func storeFields(ctx context.Context, hc *http.Client, srv *server, fields int) (string, error) {
	out, err := apiCall(ctx, hc, srv, "POST", "/api/v1/subjects", []byte(`{"email":"export-bench-`+randomHex(4)+`@example.org"}`))
	if err != nil {
		return "", fmt.Errorf("create subject: %w", err)
	}
	var s struct{ ID string }
	if err := json.Unmarshal(out, &s); err != nil || s.ID == "" {
		return "", fmt.Errorf("create subject: %s", snippet(out))
	}
	per := (fields + len(exportCategories) - 1) / len(exportCategories)
	left := fields
	for _, cat := range exportCategories {
		n := min(per, left)
		left -= n
		data := make(map[string]string, n)
		for i := range n {
			data[fmt.Sprintf("field_%05d", i)] = fmt.Sprintf("value %d of %s, %s", i, cat, randomHex(4))
		}
		b, _ := json.Marshal(data)
		if _, err := apiCall(ctx, hc, srv, "PUT", "/api/v1/subjects/"+s.ID+"/data/"+cat, b); err != nil {
			return "", fmt.Errorf("store %s: %w", cat, err)
		}
	}
	return s.ID, nil
}

// apiCall sends one JSON request with the bench key and returns the body
// of a 2xx answer.
func apiCall(ctx context.Context, hc *http.Client, srv *server, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, srv.baseURL()+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+srv.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, snippet(out))
	}
	return out, nil
}

func printExport(w io.Writer, rs []exportResult) {
	fmt.Fprintln(w, "\naccess package (GET /download/{token}: vault read, audit, ZIP of CSVs + data.json, streamed)")
	fmt.Fprintf(w, "%8s %10s %10s %10s %10s %12s %12s %7s\n", "fields", "archive", "p50 ms", "p99 ms", "max ms", "peak RSS", "after", "errors")
	for _, r := range rs {
		fmt.Fprintf(w, "%8d %10s %10.1f %10.1f %10.1f %12s %12s %7d\n", r.Fields, mib(r.ArchiveBytes), r.P50ms, r.P99ms, r.MaxMs,
			mib(r.PeakRSSBefore), mib(r.PeakRSSAfter), r.Errors)
	}
	if len(rs) > 0 && rs[0].Downloads > 0 {
		status := "PASS"
		if rs[0].Errors > 0 || rs[0].P99ms >= float64(exportTarget.Milliseconds()) || rs[0].P50ms == 0 {
			status = "FAIL"
		}
		fmt.Fprintf(w, "%s  a package of %d fields is built and streamed in under %v (p99 %.1f ms)\n", status, rs[0].Fields, exportTarget, rs[0].P99ms)
	}
	if len(rs) == 2 {
		grow := func(r exportResult) int64 { return r.PeakRSSAfter - r.PeakRSSBefore }
		fmt.Fprintf(w, "peak RSS growth over %d downloads: %s at %d fields, %s at %d fields (archives of %s and %s)\n",
			rs[0].Downloads, mib(grow(rs[0])), rs[0].Fields, mib(grow(rs[1])), rs[1].Fields, mib(rs[0].ArchiveBytes), mib(rs[1].ArchiveBytes))
	}
}

func mib(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
