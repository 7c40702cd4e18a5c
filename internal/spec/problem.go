package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Severity says whether a problem stops an environment from loading.
type Severity int

const (
	// SeverityError marks a problem that must be fixed; it is the zero value so
	// that a Problem literal without a severity is an error.
	SeverityError Severity = iota
	// SeverityWarning marks a problem that is reported but does not stop a load.
	SeverityWarning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// MarshalText renders the severity by name for the management API.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Problem is one thing wrong with an input file: where it is, which field, and
// what to do about it.
type Problem struct {
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Path     string   `json:"path,omitempty"` // field path in the file, e.g. properties.template.containers[0].image
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
}

// String renders the problem as "file:line:col: path: message"; warnings say
// so after the path. Parts that are unknown are left out.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems. It implements error so that a failed load
// can return every problem at once.
type Problems []Problem

// Error prints one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Errors returns only the problems of severity error.
func (ps Problems) Errors() Problems { return ps.filter(SeverityError) }

// Warnings returns only the problems of severity warning.
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

// Err returns the errors as an error, or nil when there are none.
func (ps Problems) Err() error {
	if errs := ps.Errors(); len(errs) > 0 {
		return errs
	}
	return nil
}

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// sorted orders problems by position within each file while keeping files in
// the order they were first reported (the environment file first, then the
// files it lists), which is the order a reader fixes them in.
func (ps Problems) sorted() Problems {
	fileOrder := map[string]int{}
	for _, p := range ps {
		if _, ok := fileOrder[p.File]; !ok {
			fileOrder[p.File] = len(fileOrder)
		}
	}
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Problem) int {
		if c := fileOrder[a.File] - fileOrder[b.File]; c != 0 {
			return c
		}
		if c := a.Line - b.Line; c != 0 {
			return c
		}
		return a.Column - b.Column
	})
	return out
}
