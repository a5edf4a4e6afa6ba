package keys

import (
	"bytes"
	"testing"
)

func TestSystemKey(t *testing.T) {
	a1, a2, b := newTestKeyring(t, 1), newTestKeyring(t, 1), newTestKeyring(t, 2)
	k1, err := a1.SystemKey("widget-proof")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k1.Seal([]byte("203.0.113.0"), "widget_choice", "v1")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("same master opens on another replica", func(t *testing.T) {
		k2, _ := a2.SystemKey("widget-proof")
		got, err := k2.Open(sealed, "widget_choice", "v1")
		if err != nil || !bytes.Equal(got, []byte("203.0.113.0")) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	t.Run("other name does not open", func(t *testing.T) {
		other, _ := a1.SystemKey("mail-outbox")
		if _, err := other.Open(sealed, "widget_choice", "v1"); err == nil {
			t.Fatal("a system key of another name opened the value")
		}
	})
	t.Run("other master does not open", func(t *testing.T) {
		kb, _ := b.SystemKey("widget-proof")
		if _, err := kb.Open(sealed, "widget_choice", "v1"); err == nil {
			t.Fatal("a system key of another master key opened the value")
		}
	})
	t.Run("bad names refused", func(t *testing.T) {
		for _, name := range []string{"", "Widget", "a/b", "x y"} {
			if _, err := a1.SystemKey(name); err == nil {
				t.Errorf("SystemKey(%q) accepted", name)
			}
		}
	})
	if k1.ID() != "sys_widget-proof" {
		t.Errorf("ID %q", k1.ID())
	}
}
