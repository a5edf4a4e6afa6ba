package policies

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gdprd/gdprd/internal/consent"
	"github.com/gdprd/gdprd/internal/errcode"
)

// fakeStore is an in-memory Store that answers like *consent.Register:
// NotFound for unknown notices, drafts included in NoticeVersions.
type fakeStore struct {
	notices  []consent.Notice
	versions map[string][]consent.NoticeVersion
	fail     error // when set, every call fails with it
}

func (f *fakeStore) add(slug, title string) {
	f.notices = append(f.notices, consent.Notice{Slug: slug, Title: title})
}

func (f *fakeStore) version(slug string, n int, body, summary string, material, published bool, effective time.Time) {
	v := consent.NoticeVersion{Notice: slug, Version: n, Body: body, SHA256: consent.BodyHash(body),
		EffectiveAt: effective, Summary: summary, Material: material, CreatedAt: effective}
	if published {
		at := effective.Add(-24 * time.Hour)
		v.PublishedAt = &at
	}
	if f.versions == nil {
		f.versions = map[string][]consent.NoticeVersion{}
	}
	f.versions[slug] = append(f.versions[slug], v)
}

func (f *fakeStore) current(slug string) int {
	cur := 0
	for _, v := range f.versions[slug] {
		if v.PublishedAt != nil {
			cur = max(cur, v.Version)
		}
	}
	return cur
}

func (f *fakeStore) Notices(ctx context.Context) ([]consent.Notice, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	out := slices.Clone(f.notices)
	for i := range out {
		out[i].Current = f.current(out[i].Slug)
	}
	return out, nil
}

func (f *fakeStore) CurrentNotice(ctx context.Context, slug string) (consent.NoticeVersion, error) {
	if f.fail != nil {
		return consent.NoticeVersion{}, f.fail
	}
	cur := f.current(slug)
	for _, v := range f.versions[slug] {
		if v.Version == cur {
			return v, nil
		}
	}
	return consent.NoticeVersion{}, errcode.E(errcode.NotFound, "notice %s has no published version", slug)
}

func (f *fakeStore) NoticeVersions(ctx context.Context, slug string) ([]consent.NoticeVersion, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	if !slices.ContainsFunc(f.notices, func(n consent.Notice) bool { return n.Slug == slug }) {
		return nil, errcode.E(errcode.NotFound, "no notice %q", slug)
	}
	return slices.Clone(f.versions[slug]), nil
}

var _ Store = (*consent.Register)(nil)

// errDatabase stands for an internal failure whose text must not leak.
var errDatabase = errors.New("database on fire: secret detail")
