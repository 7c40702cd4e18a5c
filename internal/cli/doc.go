// Package cli implements cove's commands (cobra). It parses flags, renders
// progress, tables and logs for people (or JSON for scripts), and delegates
// all work to the control plane (package control). Nothing below the CLI
// imports it.
package cli
