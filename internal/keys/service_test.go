package keys

import (
	"bytes"
	"testing"
)

func TestServiceKey(t *testing.T) {
	master := bytes.Repeat([]byte{7}, KeySize)
	a, _ := NewKeyring(master)
	b, _ := NewKeyring(master)
	other, _ := NewKeyring(bytes.Repeat([]byte{8}, KeySize))

	ka, err := a.ServiceKey("mail-outbox")
	if err != nil {
		t.Fatal(err)
	}
	if ka.ID() != "sk_mail-outbox_v1" {
		t.Errorf("ID = %q", ka.ID())
	}
	sealed, _ := ka.Seal([]byte("secret"), "row")
	t.Run("same master, same name opens", func(t *testing.T) {
		kb, _ := b.ServiceKey("mail-outbox")
		if got, err := kb.Open(sealed, "row"); err != nil || string(got) != "secret" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	})
	t.Run("other name does not open", func(t *testing.T) {
		kw, _ := a.ServiceKey("webhook")
		if _, err := kw.Open(sealed, "row"); err == nil {
			t.Fatal("a key of another service opened the value")
		}
	})
	t.Run("other master does not open", func(t *testing.T) {
		ko, _ := other.ServiceKey("mail-outbox")
		if _, err := ko.Open(sealed, "row"); err == nil {
			t.Fatal("a key from another master opened the value")
		}
	})
	t.Run("bad names refused", func(t *testing.T) {
		for _, n := range []string{"", "Mail", "a b", "x_y", string(make([]byte, 40))} {
			if _, err := a.ServiceKey(n); err == nil {
				t.Errorf("ServiceKey(%q) accepted", n)
			}
		}
	})
}
