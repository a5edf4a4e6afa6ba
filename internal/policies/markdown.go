package policies

import (
	"bytes"
	"html/template"
	"net/url"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// markdown renders notice bodies to HTML that is safe to put in a page.
//
// Safety comes from three layers, so that one mistake is not enough:
//   - goldmark's default renderer drops raw HTML (<script>, <img onerror>)
//     and blanks javascript:, vbscript:, file: and data: links;
//   - sanitize below keeps only links whose scheme is on an allow list
//     (http, https, mailto, tel, or none), judged the way a browser reads
//     the URL, and turns every other link into its plain text;
//   - the page's CSP runs no inline script even if something slipped by.
//
// Images become links to the image: a policy page must not make the
// reader's browser fetch from third parties (the CSP would block it anyway,
// leaving a broken image).
type markdown struct {
	md goldmark.Markdown
}

func newMarkdown() *markdown {
	return &markdown{md: goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify),
		goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(sanitize{}, 100))),
	)}
}

// render converts a notice body. The result is trusted by html/template,
// which is why it must only ever come from this function.
func (m *markdown) render(body string) (template.HTML, error) {
	var buf bytes.Buffer
	if err := m.md.Convert([]byte(body), &buf); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}

// sanitize rewrites the parsed document before rendering: headings move
// one level down (the page's own <h1> is the notice title, so the body's
// "# Privacy Policy" becomes an <h2> and the outline stays correct), images
// become links, and links with a scheme off the allow list become text.
type sanitize struct{}

func (sanitize) Transform(doc *ast.Document, reader text.Reader, pc parser.Context) {
	source := reader.Source()
	var nodes []ast.Node
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			switch n.(type) {
			case *ast.Heading, *ast.Link, *ast.Image, *ast.AutoLink:
				nodes = append(nodes, n)
			}
		}
		return ast.WalkContinue, nil
	})
	// Rewrite after the walk: changing the tree while walking it would skip
	// or revisit nodes.
	for _, n := range nodes {
		switch n := n.(type) {
		case *ast.Heading:
			n.Level = min(n.Level+1, 6)
		case *ast.Image:
			link := ast.NewLink()
			link.Destination, link.Title = n.Destination, n.Title
			moveChildren(n, link)
			n.Parent().ReplaceChild(n.Parent(), n, link)
			if !safeDestination(link.Destination) {
				unwrap(link)
			}
		case *ast.Link:
			if n.Parent() != nil && !safeDestination(n.Destination) {
				unwrap(n)
			}
		case *ast.AutoLink:
			if !safeDestination(n.URL(source)) {
				n.Parent().ReplaceChild(n.Parent(), n, ast.NewString(n.Label(source)))
			}
		}
	}
}

// moveChildren moves every child of from to the end of to.
func moveChildren(from, to ast.Node) {
	for c := from.FirstChild(); c != nil; {
		next := c.NextSibling()
		from.RemoveChild(from, c)
		to.AppendChild(to, c)
		c = next
	}
}

// unwrap replaces n by its children.
func unwrap(n ast.Node) {
	parent := n.Parent()
	for c := n.FirstChild(); c != nil; {
		next := c.NextSibling()
		n.RemoveChild(n, c)
		parent.InsertBefore(parent, n, c)
		c = next
	}
	parent.RemoveChild(parent, n)
}

// safeDestination judges a link destination as parsed (entities and
// backslash escapes still in it) and as the renderer will write it (with
// them resolved): "&#106;avascript:" is harmless text to the first view
// and a javascript: URL to the second.
func safeDestination(dest []byte) bool {
	resolved := util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(dest)))
	return safeURL(string(dest)) && safeURL(string(resolved))
}

// safeURL reports whether a link target may be followed from a notice. It
// reads the URL as a browser would: browsers ignore tabs and newlines
// anywhere in a URL and control characters and spaces at its start, so
// "java\tscript:" and " javascript:" are javascript: URLs to them.
func safeURL(dest string) bool {
	s := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, dest)
	s = strings.TrimLeft(s, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "", "http", "https", "mailto", "tel":
		return true
	}
	return false
}
