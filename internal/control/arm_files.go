package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cove-env/cove/internal/security"
	"github.com/cove-env/cove/internal/spec"
)

// The files are the record: a write through the API changes the app and
// component files and the environment file's lists, then reloads. These
// are the steps that share.

// fileWrite is one file a write changes: its new content, or its removal
// when data is nil.
type fileWrite struct {
	path string
	data []byte
}

// fileBackup is a file as it was before a write: its content and mode, or
// that it did not exist.
type fileBackup struct {
	path    string
	data    []byte
	mode    fs.FileMode
	existed bool
}

// writeFiles writes each file atomically, in order (a crash leaves each
// file old or new), and returns how to put them all back.
func writeFiles(writes []fileWrite) (func() string, error) {
	var backups []fileBackup
	restore := func() string {
		var failed []string
		for _, b := range slices.Backward(backups) {
			var err error
			if b.existed {
				err = security.WriteAtomic(b.path, b.data, b.mode)
			} else if err = os.Remove(b.path); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("putting %s back failed: %v", b.path, err))
			}
		}
		if len(failed) == 0 {
			return ""
		}
		return " (" + strings.Join(failed, "; ") + ")"
	}
	for _, w := range writes {
		b := fileBackup{path: w.path, mode: 0o644}
		if info, err := os.Stat(w.path); err == nil {
			if b.data, err = os.ReadFile(w.path); err != nil {
				return nil, errors.Join(err, errors.New(restore()))
			}
			b.mode, b.existed = info.Mode().Perm(), true
		}
		backups = append(backups, b)
		var err error
		if w.data == nil {
			err = os.Remove(w.path)
		} else {
			err = security.WriteAtomic(w.path, w.data, b.mode)
		}
		if err != nil {
			return nil, fmt.Errorf("%w%s", err, restore())
		}
	}
	return restore, nil
}

// applyWrite writes the files, reloads the environment and, when the
// reload refuses the result or does not apply it, puts the files back and
// says why; what names the change in messages ("app web was not
// created"). A reload that fails halfway leaves the environment as it was:
// reloads apply whole or not at all.
func applyWrite(ctx context.Context, m managed, what string, writes []fileWrite) (ReloadResult, *ARMErrorDetail) {
	restore, err := writeFiles(writes)
	if err != nil {
		return ReloadResult{}, internalError(fmt.Errorf("%s: %w", what, err))
	}
	// The reload finishes even if the caller goes: files and state agree.
	res, err := m.Reload(context.WithoutCancel(ctx))
	var probs spec.Problems
	switch {
	case errors.As(err, &probs):
		return res, badRequest("ContainerAppInvalidProperties", "%s: the change makes the environment invalid; nothing was changed%s:\n%s", what, restore(), probs.Error())
	case err != nil:
		return res, internalError(fmt.Errorf("%s: %w%s", what, err, restore()))
	case len(res.Errors) > 0:
		// What failed never took the place of what ran, so the files put
		// back say what runs.
		return res, &ARMErrorDetail{Code: "ContainerAppOperationError", Message: fmt.Sprintf(
			"%s: %s; it runs as before%s", what, strings.Join(res.Errors, "; "), restore())}
	}
	return res, nil
}

// encodeYAML writes a document as cove writes YAML files: block style,
// two spaces.
func encodeYAML(doc *yaml.Node) ([]byte, error) {
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// envFileList is the sequence under key (apps, components) of the
// environment file's document, added when missing.
func envFileList(doc *yaml.Node, key string) *yaml.Node {
	root := doc.Content[0]
	if v := mapValue(root, key); v != nil && v.Kind == yaml.SequenceNode {
		return v
	} else if v != nil {
		deleteKey(root, key) // null or empty: replaced by the list
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	root.Content = append(root.Content, scalar(key), seq)
	return seq
}

func scalar(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

// mappingOf builds a mapping of the pairs with a non-empty value, in order.
func mappingOf(pairs ...string) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			m.Content = append(m.Content, scalar(pairs[i]), scalar(pairs[i+1]))
		}
	}
	return m
}

// entryIndex is the index in list of the entry whose file resolves to
// path, or whose name is name; -1 when none.
func entryIndex(list *yaml.Node, dir, path, name string) int {
	return slices.IndexFunc(list.Content, func(n *yaml.Node) bool {
		if f := mapValue(n, "file"); f != nil && f.Value != "" && path != "" && resolveIn(dir, f.Value) == filepath.Clean(path) {
			return true
		}
		nm := mapValue(n, "name")
		return name != "" && nm != nil && nm.Value == name
	})
}

// readEnvFile reads and parses the environment file.
func readEnvFile(path string) (*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := yamlMapping(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return doc, nil
}

// resolveIn is file, as the environment file in dir names it, as a path.
func resolveIn(dir, file string) string {
	if filepath.IsAbs(file) {
		return filepath.Clean(file)
	}
	return filepath.Join(dir, file)
}
