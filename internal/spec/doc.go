// Package spec parses and validates every file a cove environment is made
// of: the environment file (cove.yaml), ACA container app YAML, and Dapr
// components in ACA's format or Dapr's own. It owns their Go types, which
// carry the ACA property names as json tags so the management API serves
// them unchanged.
//
// Parsing is strict and complete: unknown fields, wrong types and invalid
// values are all errors, and every problem of every file is reported at
// once with file, line, column and field path, plus how to fix it. The
// decoder in decode.go walks yaml.Node trees against the types by
// reflection; the rules are in the *_parse.go files, environment.go and
// rules.go. Enum values are matched without regard to case, as ACA does,
// and rewritten to the schema's spelling.
//
// This package is a leaf: it must not import any other cove package. It
// reads files but starts nothing; the control plane acts on what it returns.
package spec
