// Package keys is the only package in gdprd that handles key material.
//
// The hierarchy is:
//
//	master key (32 bytes, a file on disk, see CreateMasterFile)
//	├── HKDF-SHA256 subkeys, one per purpose: blind indexes, audit targets,
//	│   checkpoint signing and receipt signing (Ed25519 seeds), token
//	│   hashing, KEK wrapping
//	└── key-encryption keys (KEKs), random, stored wrapped by the KEK-wrap subkey
//	    └── data keys (DEKs), random, one per subject, stored wrapped by a KEK
//	        └── personal data, sealed with AES-256-GCM
//
// Every wrapped key and sealed value is opaque bytes that callers persist;
// this package never talks to a database. Erasing a subject means deleting
// its wrapped data key (crypto-shredding), and rotating a KEK means calling
// Rewrap on each wrapped data key, which never touches the data itself.
//
// No exported field or method returns raw key bytes, so other packages cannot
// leak them by accident (security targets CR-7 and AL-4). Errors never echo
// key bytes or the personal data being normalised or sealed.
package keys
