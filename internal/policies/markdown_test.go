package policies

import (
	"strings"
	"testing"
)

func TestMarkdown(t *testing.T) {
	md := newMarkdown()
	tests := []struct {
		name, in string
		want     []string // substrings the HTML must contain
		not      []string // substrings it must not contain (case-insensitive)
	}{
		{"heading moves down", "# Privacy Policy", []string{"<h2>Privacy Policy</h2>"}, []string{"<h1"}},
		{"deepest heading stays", "###### Fine print", []string{"<h6>Fine print</h6>"}, nil},
		{"paragraph and emphasis", "We **never** sell data.", []string{"<p>We <strong>never</strong> sell data.</p>"}, nil},
		{"https link", "[our site](https://example.com/a?b=1&c=2)", []string{`<a href="https://example.com/a?b=1&amp;c=2">our site</a>`}, nil},
		{"relative link", "[cookies](/policies/cookie-policy)", []string{`<a href="/policies/cookie-policy">cookies</a>`}, nil},
		{"mailto link", "[DPO](mailto:dpo@example.com)", []string{`<a href="mailto:dpo@example.com">DPO</a>`}, nil},
		{"email autolink", "<dpo@example.com>", []string{`href="mailto:dpo@example.com"`}, nil},
		{"linkify", "See www.example.com for more.", []string{`<a href="http://www.example.com">www.example.com</a>`}, nil},
		{"table", "| data | kept |\n|---|---|\n| invoices | 10 years |", []string{"<table>", "<td>invoices</td>"}, nil},
		{"script block", "<script>alert(1)</script>", nil, []string{"<script", "alert(1)"}},
		{"inline script", "text <script>alert(1)</script> more", []string{"text", "more"}, []string{"<script"}},
		{"img onerror", `<img src=x onerror="alert(1)">`, nil, []string{"<img", "onerror"}},
		{"raw anchor", `<a href="javascript:alert(1)">x</a>`, nil, []string{"javascript:", "<a "}},
		{"iframe", `<iframe src="https://evil.example"></iframe>`, nil, []string{"<iframe"}},
		{"javascript link", "[x](javascript:alert(1))", []string{"<p>x</p>"}, []string{"javascript:", "<a"}},
		{"javascript link upper case", "[x](JaVaScRiPt:alert(1))", []string{"<p>x</p>"}, []string{"javascript:", "<a"}},
		{"javascript by entity", "[x](&#106;avascript:alert(1))", []string{"<p>x</p>"}, []string{"javascript:", "<a"}},
		{"javascript with tab", "[x](java&#9;script:alert(1))", []string{"<p>x</p>"}, []string{"script:", "<a"}},
		{"javascript autolink", "<javascript:alert(1)>", nil, []string{"<a", "href"}},
		{"vbscript link", "[x](vbscript:msgbox)", []string{"<p>x</p>"}, []string{"vbscript:", "<a"}},
		{"data link", "[x](data:text/html;base64,PHNjcmlwdD4=)", []string{"<p>x</p>"}, []string{"data:", "<a"}},
		{"unknown scheme", "[x](intent://foo)", []string{"<p>x</p>"}, []string{"intent:", "<a"}},
		{"reference link", "[x][1]\n\n[1]: javascript:alert(1)", []string{"<p>x</p>"}, []string{"javascript:", "<a"}},
		{"image becomes link", "![our logo](https://cdn.example/logo.png)", []string{`<a href="https://cdn.example/logo.png">our logo</a>`}, []string{"<img"}},
		{"dangerous image", "![x](javascript:alert(1))", []string{"<p>x</p>"}, []string{"<img", "javascript:", "<a"}},
		{"link text with markup", "[**bold**](javascript:x)", []string{"<strong>bold</strong>"}, []string{"<a", "javascript:"}},
		{"title escaped", `[x](https://e.example "a\" onmouseover=\"alert(1)")`, []string{`title="a&quot; onmouseover=&quot;alert(1)"`}, nil},
		{"html entities stay text", "5 &lt; 6 & <b>", []string{"5 &lt; 6 &amp;"}, []string{"<b>"}},
		{"code span escaped", "`<script>`", []string{"<code>&lt;script&gt;</code>"}, []string{"<script"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := md.render(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			html := string(got)
			for _, w := range tt.want {
				if !strings.Contains(html, w) {
					t.Errorf("HTML lacks %q:\n%s", w, html)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(strings.ToLower(html), strings.ToLower(n)) {
					t.Errorf("HTML contains %q:\n%s", n, html)
				}
			}
		})
	}
}

func TestSafeURL(t *testing.T) {
	tests := []struct {
		url  string
		safe bool
	}{
		{"https://example.com", true},
		{"http://example.com", true},
		{"HTTPS://EXAMPLE.COM", true},
		{"mailto:dpo@example.com", true},
		{"tel:+4930123456", true},
		{"/policies/x", true},
		{"#section", true},
		{"//example.com/x", true},
		{"relative/path", true},
		{"javascript:alert(1)", false},
		{"JAVASCRIPT:alert(1)", false},
		{" javascript:alert(1)", false},
		{"\x01javascript:alert(1)", false},
		{"java\tscript:alert(1)", false},
		{"java\nscript:alert(1)", false},
		{"vbscript:x", false},
		{"data:text/html,x", false},
		{"file:///etc/passwd", false},
		{"blob:https://e/x", false},
		{"http://[::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if got := safeURL(tt.url); got != tt.safe {
				t.Fatalf("safeURL(%q) = %v, want %v", tt.url, got, tt.safe)
			}
		})
	}
}
