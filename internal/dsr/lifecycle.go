package dsr

import (
	"slices"
)

// State is where a request is in its lifecycle.
type State string

const (
	Received         State = "received"
	AwaitingIdentity State = "awaiting_identity" // Art. 12(6): more information asked for
	InProgress       State = "in_progress"
	AwaitingApproval State = "awaiting_approval" // a rule requires a second person's approval
	Completed        State = "completed"
	Refused          State = "refused" // Arts. 12(4), 12(5): with reasons
	Withdrawn        State = "withdrawn"
)

var states = []State{Received, AwaitingIdentity, InProgress, AwaitingApproval, Completed, Refused, Withdrawn}

// transitions is the lifecycle, in one place: the states a request may move
// to from each state. Completed, refused and withdrawn are final.
//
// A request may go back to awaiting_identity from in_progress because
// reasonable doubts about identity (Art. 12(6)) can arise while the data
// is being gathered; the time waited is added up, never hidden.
// awaiting_approval may return to in_progress when the approver sends it
// back.
var transitions = map[State][]State{
	Received:         {AwaitingIdentity, InProgress, Refused, Withdrawn},
	AwaitingIdentity: {InProgress, Refused, Withdrawn},
	InProgress:       {AwaitingIdentity, AwaitingApproval, Completed, Refused, Withdrawn},
	AwaitingApproval: {InProgress, Completed, Refused, Withdrawn},
}

// CanTransition reports whether the lifecycle allows a move from one state
// to another. Staying in the same state is not a transition.
func CanTransition(from, to State) bool {
	return slices.Contains(transitions[from], to)
}

// Open reports whether a request in state s still needs an answer.
func (s State) Open() bool {
	_, ok := transitions[s]
	return ok
}

func (s State) valid() bool { return slices.Contains(states, s) }

// ReasonCode is a closed set of reasons for refusing, delaying or pausing
// a request. Free text cannot be a reason (section 1.0, "Justification
// codes"); the words that justify a decision go in Reason.Text, next to a
// code. Where W3C DPV defines the concept, the code maps to its IRI, which
// is stored with every event as a stable identifier for exports.
type ReasonCode string

// Refusal reasons.
const (
	// ManifestlyUnfounded and ManifestlyExcessive (Art. 12(5)(b)) put the
	// burden of proof on the controller: Reason.Text must say why.
	ManifestlyUnfounded ReasonCode = "manifestly-unfounded"
	ManifestlyExcessive ReasonCode = "manifestly-excessive"
	// IdentityNotVerified: the person did not or could not prove who they
	// are (Arts. 11(2), 12(2)).
	IdentityNotVerified ReasonCode = "identity-not-verified"
	// The Art. 17(3) exceptions, for erasure requests only.
	FreedomOfExpression ReasonCode = "freedom-of-expression" // 17(3)(a)
	LegalObligation     ReasonCode = "legal-obligation"      // 17(3)(b)
	PublicInterest      ReasonCode = "public-interest"       // 17(3)(b), public task or official authority
	PublicHealth        ReasonCode = "public-health"         // 17(3)(c)
	Archiving           ReasonCode = "archiving"             // 17(3)(d)
	LegalClaims         ReasonCode = "legal-claims"          // 17(3)(e)
	// CompellingGrounds: compelling legitimate grounds override an
	// objection (Art. 21(1)); never for direct marketing (21(3)). DPV has
	// no justification concept for it.
	CompellingGrounds ReasonCode = "compelling-legitimate-grounds"
)

// Reasons for asking the person for more before going on (Art. 12(6)).
const (
	IdentityRequired    ReasonCode = "identity-required"
	InformationRequired ReasonCode = "information-required"
)

// Reasons for the Art. 12(3) extension.
const (
	Complexity       ReasonCode = "complexity"
	NumberOfRequests ReasonCode = "number-of-requests"
)

// WithdrawnBySubject: the person withdrew the request.
const WithdrawnBySubject ReasonCode = "withdrawn-by-subject"

// use says which operation a reason code justifies.
type use int

const (
	useRefuse use = iota
	useWait
	useExtend
	useWithdraw
)

type reasonInfo struct {
	iri  string
	use  use
	only Kind // the one kind of request the code applies to; "" for all
}

// dpvGDPR is the namespace of DPV's GDPR extension (w3c/dpv 2.3,
// legal/eu/gdpr/modules/rights_justifications.csv).
const dpvGDPR = "https://w3id.org/dpv/legal/eu/gdpr#"

var reasons = map[ReasonCode]reasonInfo{
	ManifestlyUnfounded: {dpvGDPR + "JustificationA12ManifestlyUnfounded", useRefuse, ""},
	ManifestlyExcessive: {dpvGDPR + "JustificationA12ManifestlyExcessive", useRefuse, ""},
	IdentityNotVerified: {dpvGDPR + "JustificationA12IdentityFailure", useRefuse, ""},
	FreedomOfExpression: {dpvGDPR + "JustificationA17FreedomOfExpression", useRefuse, Erasure},
	LegalObligation:     {dpvGDPR + "JustificationA17LegallyRequired", useRefuse, Erasure},
	PublicInterest:      {dpvGDPR + "JustificationA17PublicInterest", useRefuse, Erasure},
	PublicHealth:        {dpvGDPR + "JustificationA17PublicHealth", useRefuse, Erasure},
	Archiving:           {dpvGDPR + "JustificationA17Archiving", useRefuse, Erasure},
	LegalClaims:         {dpvGDPR + "JustificationA17LegalClaims", useRefuse, Erasure},
	CompellingGrounds:   {"", useRefuse, Objection},
	IdentityRequired:    {dpvGDPR + "JustificationA12IdentityRequired", useWait, ""},
	InformationRequired: {dpvGDPR + "JustificationA12InformationRequired", useWait, ""},
	Complexity:          {dpvGDPR + "JustificationA12Complexity", useExtend, ""},
	NumberOfRequests:    {dpvGDPR + "JustificationA12HighVolume", useExtend, ""},
	WithdrawnBySubject:  {"", useWithdraw, ""},
}

// IRI returns the W3C DPV justification concept for c, or "" when DPV has
// none (or c is not a known code).
func (c ReasonCode) IRI() string { return reasons[c].iri }

// Reason justifies a transition or an extension.
type Reason struct {
	Code ReasonCode
	// Text is the justification in words. A refusal requires it (Art.
	// 12(4): the person is told why; 12(5): the controller bears the
	// burden of proof). It is stored sealed with the subject's key.
	Text string
}

// ReasonCodes returns the codes that may justify a move to state to (the
// refusal codes for Refused, and so on) for a request of kind k, so the
// console can offer exactly those.
func ReasonCodes(to State, k Kind) []ReasonCode {
	var out []ReasonCode
	for c, info := range reasons {
		if u, ok := stateUse(to); ok && info.use == u && (info.only == "" || info.only == k) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// ExtensionReasons returns the codes that may justify an extension.
func ExtensionReasons() []ReasonCode {
	var out []ReasonCode
	for c, info := range reasons {
		if info.use == useExtend {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// stateUse is the use of the codes that justify entering state to.
func stateUse(to State) (use, bool) {
	switch to {
	case Refused:
		return useRefuse, true
	case AwaitingIdentity:
		return useWait, true
	case Withdrawn:
		return useWithdraw, true
	}
	return 0, false
}
