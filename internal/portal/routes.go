package portal

import "net/http"

// Route is one portal route: its pattern, whether it needs a signed-in
// person, and whether it counts against the per-address sign-in limit.
type Route struct {
	Pattern  string
	SignedIn bool
	Limited  bool
	MaxForm  int64 // the largest form accepted, when not the default maxForm
	handle   func(s *Server, w http.ResponseWriter, r *http.Request, q *request) error
}

// routes is the one table of portal routes. No pattern carries a subject
// id: the person is always the session's.
func (s *Server) routes() []Route {
	return []Route{
		{Pattern: "GET " + Prefix + "handoff", Limited: true, handle: (*Server).handoffSignIn},
		{Pattern: "GET " + Prefix + "signin", handle: (*Server).signinForm},
		{Pattern: "POST " + Prefix + "signin", Limited: true, handle: (*Server).requestCode},
		{Pattern: "GET " + Prefix + "signin/code", handle: (*Server).codeFormGet},
		{Pattern: "POST " + Prefix + "signin/code", Limited: true, handle: (*Server).verifyCode},
		{Pattern: "POST " + Prefix + "signout", SignedIn: true, handle: (*Server).signout},
		{Pattern: "GET " + Prefix + "{$}", SignedIn: true, handle: (*Server).home},
		{Pattern: "POST " + Prefix + "export", SignedIn: true, handle: (*Server).download},
		{Pattern: "GET " + Prefix + "choices", SignedIn: true, handle: (*Server).choices},
		{Pattern: "POST " + Prefix + "choices/{purpose}", SignedIn: true, handle: (*Server).choose},
		{Pattern: "GET " + Prefix + "receipts/{record}", SignedIn: true, handle: (*Server).receipt},
		{Pattern: "POST " + Prefix + "notices/{notice}", SignedIn: true, handle: (*Server).acceptNotice},
		{Pattern: "GET " + Prefix + "correct", SignedIn: true, handle: (*Server).correctForm},
		{Pattern: "POST " + Prefix + "correct", SignedIn: true, MaxForm: maxCorrectForm, handle: (*Server).correct},
	}
}

// Routes returns the route table (for tests and documentation).
func (s *Server) Routes() []Route { return s.routes() }
