package console

import (
	"net/http"

	"github.com/gdprd/gdprd/internal/auth"
)

// Stage is how far a visitor must have got to use a route.
type Stage int

const (
	StagePublic   Stage = iota // anyone (sign-in, enrolment links)
	StagePending               // first factor given, second factor pending
	StageEnrol                 // enrolling after opening a link
	StageSignedIn              // both factors; Roles decide
)

// Route is one console route: its pattern, who may use it and whether it
// needs a second factor given within FreshFor.
type Route struct {
	Pattern string
	Stage   Stage
	Roles   []auth.Role // StageSignedIn only
	Fresh   bool
	// Back is where a form post that needed a fresh second factor returns
	// after the step-up (the page holding the form).
	Back   string
	handle func(s *Server, w http.ResponseWriter, r *http.Request, q *request) error
}

var (
	everyone = []auth.Role{auth.RoleOwner, auth.RoleDPO, auth.RoleSupport, auth.RoleAuditor}
	owners   = []auth.Role{auth.RoleOwner}
	// workers change requests and decide erasures; the auditor only reads.
	workers = []auth.Role{auth.RoleOwner, auth.RoleDPO, auth.RoleSupport}
	// stewards manage purposes and notices and export the register.
	stewards = []auth.Role{auth.RoleOwner, auth.RoleDPO}
)

// routes is the one table of console routes and the roles allowed on
// each. The auditor is read-only: it appears on no route that changes
// anything but its own session.
func (s *Server) routes() []Route {
	return []Route{
		{Pattern: "GET " + Prefix + "signin", Stage: StagePublic, handle: (*Server).signinForm},
		{Pattern: "POST " + Prefix + "signin", Stage: StagePublic, handle: (*Server).signin},
		{Pattern: "GET " + Prefix + "signin/code", Stage: StagePending, handle: (*Server).codeForm},
		{Pattern: "POST " + Prefix + "signin/code", Stage: StagePending, handle: (*Server).code},
		{Pattern: "POST " + Prefix + "signin/passkey/options", Stage: StagePending, handle: (*Server).signinPasskeyOptions},
		{Pattern: "POST " + Prefix + "signin/passkey", Stage: StagePending, handle: (*Server).signinPasskey},
		{Pattern: "GET " + Prefix + "enrol/{token}", Stage: StagePublic, handle: (*Server).enrolLink},
		{Pattern: "POST " + Prefix + "enrol/start", Stage: StagePublic, handle: (*Server).enrolStart},
		{Pattern: "GET " + Prefix + "enrol", Stage: StageEnrol, handle: (*Server).enrolForm},
		{Pattern: "POST " + Prefix + "enrol/password", Stage: StageEnrol, handle: (*Server).enrolPassword},
		{Pattern: "GET " + Prefix + "enrol/qr.png", Stage: StageEnrol, handle: (*Server).enrolQR},
		{Pattern: "POST " + Prefix + "enrol/totp", Stage: StageEnrol, handle: (*Server).enrolTOTP},
		{Pattern: "GET " + Prefix + "{$}", Stage: StageSignedIn, Roles: everyone, handle: (*Server).dashboard},
		{Pattern: "GET " + Prefix + "stepup", Stage: StageSignedIn, Roles: everyone, handle: (*Server).stepUpForm},
		{Pattern: "POST " + Prefix + "stepup", Stage: StageSignedIn, Roles: everyone, handle: (*Server).stepUp},
		{Pattern: "POST " + Prefix + "stepup/passkey/options", Stage: StageSignedIn, Roles: everyone, handle: (*Server).stepUpPasskeyOptions},
		{Pattern: "POST " + Prefix + "stepup/passkey", Stage: StageSignedIn, Roles: everyone, handle: (*Server).stepUpPasskey},
		{Pattern: "POST " + Prefix + "signout", Stage: StageSignedIn, Roles: everyone, handle: (*Server).signout},
		{Pattern: "POST " + Prefix + "signout/everywhere", Stage: StageSignedIn, Roles: everyone, handle: (*Server).signoutEverywhere},
		// Every member manages their own passkeys (a second factor of
		// their own account, like their session), the auditor too.
		{Pattern: "GET " + Prefix + "passkeys", Stage: StageSignedIn, Roles: everyone, handle: (*Server).passkeyList},
		{Pattern: "POST " + Prefix + "passkeys/options", Stage: StageSignedIn, Roles: everyone, Fresh: true, Back: Prefix + "passkeys", handle: (*Server).passkeyOptions},
		{Pattern: "POST " + Prefix + "passkeys", Stage: StageSignedIn, Roles: everyone, Fresh: true, Back: Prefix + "passkeys", handle: (*Server).passkeyRegister},
		{Pattern: "POST " + Prefix + "passkeys/{id}/remove", Stage: StageSignedIn, Roles: everyone, Fresh: true, Back: Prefix + "passkeys", handle: (*Server).passkeyRemove},
		{Pattern: "GET " + Prefix + "staff", Stage: StageSignedIn, Roles: owners, handle: (*Server).staffList},
		{Pattern: "POST " + Prefix + "staff", Stage: StageSignedIn, Roles: owners, Fresh: true, handle: (*Server).staffCreate},
		{Pattern: "POST " + Prefix + "staff/{id}/role", Stage: StageSignedIn, Roles: owners, Fresh: true, handle: (*Server).staffRole},
		{Pattern: "GET " + Prefix + "requests", Stage: StageSignedIn, Roles: everyone, handle: (*Server).requestQueue},
		{Pattern: "GET " + Prefix + "requests/new", Stage: StageSignedIn, Roles: workers, handle: (*Server).requestNewForm},
		{Pattern: "POST " + Prefix + "requests", Stage: StageSignedIn, Roles: workers, handle: (*Server).requestCreate},
		{Pattern: "GET " + Prefix + "requests/{id}", Stage: StageSignedIn, Roles: everyone, handle: (*Server).requestPage},
		{Pattern: "POST " + Prefix + "requests/{id}/transition", Stage: StageSignedIn, Roles: workers, handle: (*Server).requestTransition},
		{Pattern: "POST " + Prefix + "requests/{id}/extend", Stage: StageSignedIn, Roles: workers, handle: (*Server).requestExtend},
		{Pattern: "POST " + Prefix + "requests/{id}/assign", Stage: StageSignedIn, Roles: workers, handle: (*Server).requestAssign},
		{Pattern: "POST " + Prefix + "requests/{id}/erase", Stage: StageSignedIn, Roles: workers, handle: (*Server).requestErase},
		{Pattern: "POST " + Prefix + "requests/{id}/notes", Stage: StageSignedIn, Roles: workers, handle: (*Server).requestNote},
		{Pattern: "GET " + Prefix + "consent/purposes", Stage: StageSignedIn, Roles: everyone, handle: (*Server).purposeList},
		{Pattern: "GET " + Prefix + "consent/purposes/{slug}", Stage: StageSignedIn, Roles: stewards, handle: (*Server).purposeForm},
		{Pattern: "POST " + Prefix + "consent/purposes/{slug}", Stage: StageSignedIn, Roles: stewards, handle: (*Server).purposeUpdate},
		{Pattern: "GET " + Prefix + "consent/notices", Stage: StageSignedIn, Roles: everyone, handle: (*Server).noticeList},
		{Pattern: "GET " + Prefix + "consent/notices/{slug}", Stage: StageSignedIn, Roles: everyone, handle: (*Server).noticePage},
		{Pattern: "POST " + Prefix + "consent/notices/{slug}/draft", Stage: StageSignedIn, Roles: stewards, handle: (*Server).noticeDraft},
		{Pattern: "POST " + Prefix + "consent/notices/{slug}/{version}/publish", Stage: StageSignedIn, Roles: stewards, handle: (*Server).noticePublish},
		{Pattern: "GET " + Prefix + "consent/register", Stage: StageSignedIn, Roles: everyone, handle: (*Server).registerForm},
		{Pattern: "POST " + Prefix + "consent/register", Stage: StageSignedIn, Roles: everyone, handle: (*Server).registerSearch},
		{Pattern: "POST " + Prefix + "consent/register.csv", Stage: StageSignedIn, Roles: stewards, Fresh: true, Back: Prefix + "consent/register", handle: (*Server).registerExport},
		{Pattern: "GET " + Prefix + "consent/figures", Stage: StageSignedIn, Roles: everyone, handle: (*Server).consentFigures},
		{Pattern: "GET " + Prefix + "webhooks", Stage: StageSignedIn, Roles: everyone, handle: (*Server).webhookList},
		{Pattern: "POST " + Prefix + "webhooks", Stage: StageSignedIn, Roles: owners, Fresh: true, Back: Prefix + "webhooks", handle: (*Server).webhookCreate},
		{Pattern: "POST " + Prefix + "webhooks/{id}/disable", Stage: StageSignedIn, Roles: owners, handle: (*Server).webhookDisable},
		{Pattern: "GET " + Prefix + "erasures", Stage: StageSignedIn, Roles: everyone, handle: (*Server).erasureList},
		{Pattern: "GET " + Prefix + "erasures/{id}", Stage: StageSignedIn, Roles: everyone, handle: (*Server).erasurePage},
		{Pattern: "POST " + Prefix + "erasures/{id}/{category}", Stage: StageSignedIn, Roles: workers, handle: (*Server).erasureDecide},
	}
}

// Routes returns the route table (for the route × role matrix test and
// documentation).
func (s *Server) Routes() []Route { return s.routes() }
