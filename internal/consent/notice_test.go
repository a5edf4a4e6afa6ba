package consent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

func draft(body string) consent.Draft {
	return consent.Draft{Body: body, EffectiveAt: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)}
}

func TestNoticeVersioning(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		const n = "terms-of-use"

		_, err := f.reg.CurrentNotice(ctx, n)
		wantCode(t, err, errcode.NotFound)

		v1, err := f.reg.DraftNotice(ctx, dpo, n, draft("Terms, first edition."))
		if err != nil {
			t.Fatalf("draft v1: %v", err)
		}
		v2, err := f.reg.DraftNotice(ctx, dpo, n, draft("Terms, second edition."))
		if err != nil {
			t.Fatalf("draft v2: %v", err)
		}
		if v1.Version != 1 || v2.Version != 2 {
			t.Fatalf("versions %d, %d; want 1, 2", v1.Version, v2.Version)
		}
		if sum := sha256.Sum256([]byte("Terms, first edition.")); v1.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("hash %s is not the body's SHA-256", v1.SHA256)
		}
		_, err = f.reg.CurrentNotice(ctx, n)
		wantCode(t, err, errcode.NotFound) // drafts are not current

		if _, err := f.reg.PublishNotice(ctx, dpo, n, 1); err != nil {
			t.Fatalf("publish v1: %v", err)
		}
		cur, err := f.reg.CurrentNotice(ctx, n)
		if err != nil || cur.Version != 1 || cur.PublishedAt == nil {
			t.Fatalf("current after publishing v1 = v%d published %v, %v", cur.Version, cur.PublishedAt, err)
		}

		// A draft may change; its hash follows its body.
		edited, err := f.reg.UpdateDraft(ctx, dpo, n, 2, draft("Terms, second edition, proofread."))
		if err != nil {
			t.Fatalf("UpdateDraft v2: %v", err)
		}
		if edited.SHA256 == v2.SHA256 || edited.SHA256 != consent.BodyHash(edited.Body) {
			t.Errorf("edited draft hash %s (was %s)", edited.SHA256, v2.SHA256)
		}
		if _, err := f.reg.PublishNotice(ctx, dpo, n, 2); err != nil {
			t.Fatalf("publish v2: %v", err)
		}
		// A published version may not.
		_, err = f.reg.UpdateDraft(ctx, dpo, n, 2, draft("Sneaky rewrite."))
		wantCode(t, err, errcode.Conflict)
		_, err = f.reg.UpdateDraft(ctx, dpo, n, 1, draft("Sneaky rewrite."))
		wantCode(t, err, errcode.Conflict)
		got, err := f.reg.NoticeVersion(ctx, n, 2)
		if err != nil || got.Body != edited.Body || got.SHA256 != edited.SHA256 {
			t.Fatalf("v2 after refused rewrite = %q %s, %v", got.Body, got.SHA256, err)
		}
		_, err = f.reg.PublishNotice(ctx, dpo, n, 2)
		wantCode(t, err, errcode.Conflict)

		// The current version is the highest published; an older draft
		// cannot be published over a newer publication.
		if _, err := f.reg.DraftNotice(ctx, dpo, n, draft("Third.")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.DraftNotice(ctx, dpo, n, draft("Fourth.")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.reg.PublishNotice(ctx, dpo, n, 4); err != nil {
			t.Fatalf("publish v4: %v", err)
		}
		_, err = f.reg.PublishNotice(ctx, dpo, n, 3)
		wantCode(t, err, errcode.Conflict)
		_, err = f.reg.PublishNotice(ctx, dpo, n, 9)
		wantCode(t, err, errcode.NotFound)

		versions, err := f.reg.NoticeVersions(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		var published []int
		for _, v := range versions {
			if v.PublishedAt != nil {
				published = append(published, v.Version)
			}
		}
		if len(versions) != 4 || !slices.Equal(published, []int{1, 2, 4}) {
			t.Errorf("%d versions, published %v; want 4, [1 2 4]", len(versions), published)
		}
		notices, err := f.reg.Notices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		currents := map[string]int{}
		for _, x := range notices {
			currents[x.Slug] = x.Current
		}
		if currents[n] != 4 || currents["privacy-policy"] != 1 || currents["cookie-policy"] != 0 {
			t.Errorf("current versions %v", currents)
		}
		if n := f.count(t, "SELECT COUNT(*) FROM audit_events WHERE action = 'notice.publish' AND target LIKE 'notice:terms-of-use/%'"); n != 3 {
			t.Errorf("%d notice.publish events, want 3", n)
		}
	})
}

// TestPublishedNoticesImmutableInDatabase: the database itself refuses to
// change or delete a published version, whatever code runs against it.
func TestPublishedNoticesImmutableInDatabase(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		d, err := f.reg.DraftNotice(t.Context(), dpo, "privacy-policy", draft("A draft."))
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			query   string
			version int
			refused bool
		}{
			{"rewrite published body", "UPDATE notice_versions SET body = 'changed' WHERE notice = 'privacy-policy' AND version = $1", 1, true},
			{"unpublish", "UPDATE notice_versions SET published_at = NULL WHERE notice = 'privacy-policy' AND version = $1", 1, true},
			{"delete published", "DELETE FROM notice_versions WHERE notice = 'privacy-policy' AND version = $1", 1, true},
			{"rewrite a draft", "UPDATE notice_versions SET body = 'changed' WHERE notice = 'privacy-policy' AND version = $1", d.Version, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := f.db.Write(t.Context(), func(tx *sqlstore.Tx) error {
					_, err := tx.ExecContext(t.Context(), tc.query, tc.version)
					return err
				})
				if tc.refused && err == nil {
					t.Fatal("the database allowed it")
				}
				if !tc.refused && err != nil {
					t.Fatalf("refused: %v", err)
				}
			})
		}
		v, err := f.reg.NoticeVersion(t.Context(), "privacy-policy", 1)
		if err != nil || v.Body != f.policy.Body || v.PublishedAt == nil {
			t.Fatalf("published v1 after the attempts: %q %v, %v", v.Body, v.PublishedAt, err)
		}
	})
}

// TestConcurrentDraftsGetDistinctVersions: version numbers come from the
// database's uniqueness, so racing drafts never share one.
func TestConcurrentDraftsGetDistinctVersions(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		const n = 8
		got := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				v, err := f.reg.DraftNotice(t.Context(), dpo, "cookie-policy", draft("Cookies."))
				got[i], errs[i] = v.Version, err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("DraftNotice: %v", err)
			}
		}
		slices.Sort(got)
		if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
			t.Fatalf("versions %v, want %v", got, want)
		}
	})
}

func TestDraftRefusesInvalid(t *testing.T) {
	tests := []struct {
		name   string
		notice string
		edit   func(*consent.Draft)
		code   errcode.Code
	}{
		{"empty body", "privacy-policy", func(d *consent.Draft) { d.Body = " \n" }, errcode.Invalid},
		{"NUL in body", "privacy-policy", func(d *consent.Draft) { d.Body = "a\x00b" }, errcode.Invalid},
		{"no effective date", "privacy-policy", func(d *consent.Draft) { d.EffectiveAt = time.Time{} }, errcode.Invalid},
		{"material change without summary", "privacy-policy", func(d *consent.Draft) { d.Material = true }, errcode.Invalid},
		{"unknown notice", "no-such-notice", nil, errcode.NotFound},
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d := draft("A valid body.")
				if tc.edit != nil {
					tc.edit(&d)
				}
				before := f.count(t, "SELECT COUNT(*) FROM notice_versions")
				_, err := f.reg.DraftNotice(t.Context(), dpo, tc.notice, d)
				wantCode(t, err, tc.code)
				if n := f.count(t, "SELECT COUNT(*) FROM notice_versions"); n != before {
					t.Errorf("%d versions after a refused draft, want %d", n, before)
				}
			})
		}
		if _, err := f.reg.DraftNotice(t.Context(), dpo, "privacy-policy", draft("A valid body.")); err != nil {
			t.Fatalf("the unedited draft is refused: %v", err)
		}
	})
}

func TestCreateNotice(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		if _, err := f.reg.CreateNotice(ctx, dpo, "imprint", "Imprint"); err != nil {
			t.Fatalf("CreateNotice: %v", err)
		}
		_, err := f.reg.CreateNotice(ctx, dpo, "imprint", "Imprint")
		wantCode(t, err, errcode.Conflict)
		_, err = f.reg.CreateNotice(ctx, dpo, "Imprint!", "Imprint")
		wantCode(t, err, errcode.Invalid)
		_, err = f.reg.CreateNotice(ctx, dpo, "other", "")
		wantCode(t, err, errcode.Invalid)
		if _, err := f.reg.DraftNotice(ctx, dpo, "imprint", draft("Who we are.")); err != nil {
			t.Fatalf("drafting the new notice: %v", err)
		}
	})
}

// TestNeedsReacceptance walks one person through a notice's life: what
// they must (re-)accept after each publication and acceptance.
func TestNeedsReacceptance(t *testing.T) {
	type step struct {
		publish  string // publish a version: "minor" or "material"
		accept   bool   // the person accepts the current version
		wantNeed []int  // versions of data-handling-policy to accept, afterwards
	}
	steps := []step{
		{publish: "minor", wantNeed: nil}, // v1, minor: nothing to accept
		{publish: "material", wantNeed: []int{2}},
		{accept: true, wantNeed: nil},
		{publish: "minor", wantNeed: nil}, // v3
		{publish: "material", wantNeed: []int{4}},
		{publish: "minor", wantNeed: []int{5}}, // v5: still owes the v4 change
		{accept: true, wantNeed: nil},
	}
	sqltest.Each(t, func(t *testing.T, e sqlstore.Engine) {
		f := newFixture(t, e)
		ctx := t.Context()
		s := f.newSubject(t)
		other := f.newSubject(t)
		var cur consent.NoticeVersion
		for i, st := range steps {
			switch {
			case st.publish != "":
				cur = f.publish(t, "data-handling-policy", "Data handling, step "+string(rune('a'+i)), st.publish == "material")
			case st.accept:
				f.mustRecord(t, subjectActor(s), consent.Request{SubjectID: s, Kind: consent.AcceptNotice,
					Notice: "data-handling-policy", NoticeVersion: cur.Version, NoticeSHA256: cur.SHA256,
					Channel: consent.Portal, Action: consent.Button})
			}
			got, err := f.reg.NeedsReacceptance(ctx, s)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			var versions []int
			for _, v := range got {
				if v.Notice != "data-handling-policy" {
					t.Fatalf("step %d: needs %s v%d, which never had a material change", i, v.Notice, v.Version)
				}
				versions = append(versions, v.Version)
			}
			if !slices.Equal(versions, st.wantNeed) {
				t.Fatalf("step %d: needs versions %v, want %v", i, versions, st.wantNeed)
			}
		}
		// Someone who never accepted owes the current version.
		got, err := f.reg.NeedsReacceptance(ctx, other)
		if err != nil || len(got) != 1 || got[0].Version != cur.Version {
			t.Fatalf("never accepted: %+v, %v; want v%d", got, err, cur.Version)
		}
		_, err = f.reg.NeedsReacceptance(ctx, newSubjectID())
		wantCode(t, err, errcode.NotFound)
	})
}
