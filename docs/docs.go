// Package docs embeds the documents the binary serves: the OpenAPI
// contract of /api/v1.
package docs

import _ "embed"

// OpenAPI is docs/openapi.json, served at /api/v1/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
