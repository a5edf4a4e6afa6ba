package vault

import (
	"context"
	"fmt"
	"regexp"

	"github.com/gdprd/gdprd/internal/errcode"
	"github.com/gdprd/gdprd/internal/sqlstore"
)

var slugPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// Category is a group of personal data (contact, billing…).
type Category struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Builtin     bool   `json:"builtin"`
}

// Categories lists the data categories.
func (v *Vault) Categories(ctx context.Context) ([]Category, error) {
	rows, err := v.db.Read().QueryContext(ctx, "SELECT name, description, builtin FROM categories ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	defer rows.Close()
	var out []Category
	for rows.Next() {
		var c Category
		var builtin int
		if err := rows.Scan(&c.Name, &c.Description, &builtin); err != nil {
			return nil, err
		}
		c.Builtin = builtin == 1
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddCategory lets an operator add a category of their own.
func (v *Vault) AddCategory(ctx context.Context, a Actor, c Category) error {
	if !slugPattern.MatchString(c.Name) {
		return errcode.Field("name", "a category name is lower-case letters, digits and dashes, starting with a letter")
	}
	err := v.db.Write(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO categories (name, description, builtin, created_at) VALUES ($1, $2, 0, $3)",
			c.Name, c.Description, sqlstore.Micros(v.now())); err != nil {
			return err
		}
		return v.appendAudit(ctx, tx, a, "category.create", "category:"+c.Name, "ok", nil, nil)
	})
	if sqlstore.IsUniqueViolation(err) {
		return errcode.E(errcode.Conflict, "category %q exists", c.Name)
	}
	return err
}

// checkCategory answers Invalid for a category that does not exist. The
// cache is only a shortcut: a miss asks the database, so a category added
// on another replica is seen at once.
func (v *Vault) checkCategory(ctx context.Context, name string) error {
	return v.checkKnown(ctx, &v.categories, "SELECT name FROM categories", name, "category")
}

// CheckPurpose answers Invalid for an undeclared purpose.
func (v *Vault) CheckPurpose(ctx context.Context, slug string) error {
	return v.checkKnown(ctx, &v.purposes, "SELECT slug FROM purposes", slug, "purpose")
}

func (v *Vault) checkKnown(ctx context.Context, cache *map[string]bool, query, name, what string) error {
	v.mu.RLock()
	ok := (*cache)[name]
	v.mu.RUnlock()
	if ok {
		return nil
	}
	if !slugPattern.MatchString(name) {
		return errcode.Field(what, "unknown %s %q", what, truncate(name, 64))
	}
	rows, err := v.db.Read().QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("load %s list: %w", what, err)
	}
	defer rows.Close()
	fresh := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		fresh[s] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	*cache = fresh
	v.mu.Unlock()
	if !fresh[name] {
		return errcode.Field(what, "unknown %s %q", what, name)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
