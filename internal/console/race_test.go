//go:build race

package console_test

// raceEnabled: the race detector slows argon2id and the database code by
// an order of magnitude, unevenly, so timing comparisons mean nothing
// under it; the enumeration test then checks answers only.
const raceEnabled = true
