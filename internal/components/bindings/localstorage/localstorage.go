// Package localstorage is the bindings.localstorage output binding, as
// Dapr's: files under rootPath, created, read, listed and deleted by name.
//
// Unlike Dapr's, which silently clamps a name that climbs out of rootPath
// ("../x" writes rootPath/x), a name that is absolute or leaves rootPath
// is refused, and every file operation goes through an os.Root, so a
// symbolic link inside rootPath cannot lead outside it either.
package localstorage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/cove-env/cove/internal/components"
	"github.com/cove-env/cove/internal/components/bindings"
)

// Type is the component type this package registers.
const Type = "bindings.localstorage"

func init() {
	components.Register(components.Info{Type: Type, New: func() any { return New() }})
}

var _ bindings.Output = (*Binding)(nil)

// fileNameMetadata names the file in a request.
const fileNameMetadata = "fileName"

// disallowed are system directories Dapr refuses as rootPath.
var disallowed = []string{"/proc", "/sys", "/boot", "/var/run/secrets"}

// Binding is the local storage binding.
type Binding struct {
	dir  string // rootPath, absolute, symbolic links resolved
	root *os.Root
}

// New returns an uninitialised binding.
func New() *Binding { return &Binding{} }

// Init reads rootPath (relative to the environment's directory), creates it
// if missing and opens it.
func (b *Binding) Init(_ context.Context, md components.Metadata) error {
	var m struct {
		bindings.RuntimeMetadata
		RootPath string `metadata:"rootPath"`
	}
	unknown, err := md.Decode(&m)
	md.WarnUnknown(unknown)
	if err != nil {
		return fmt.Errorf("%s %q: %w", Type, md.Name, err)
	}
	if m.RootPath == "" {
		return fmt.Errorf("%s %q: metadata rootPath is required: the directory the binding's files live in", Type, md.Name)
	}
	dir := m.RootPath
	if !filepath.IsAbs(dir) {
		base := md.BaseDir
		if base == "" {
			if base, err = os.Getwd(); err != nil {
				return fmt.Errorf("%s %q: metadata rootPath %q is relative and the working directory is unknown: %w", Type, md.Name, dir, err)
			}
		}
		dir = filepath.Join(base, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s %q: metadata rootPath: %w", Type, md.Name, err)
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return fmt.Errorf("%s %q: metadata rootPath: %w", Type, md.Name, err)
	}
	for _, d := range disallowed {
		if dir == d || strings.HasPrefix(dir, d+"/") {
			return fmt.Errorf("%s %q: metadata rootPath %q is inside %s, which Dapr refuses; choose another directory", Type, md.Name, m.RootPath, d)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("%s %q: metadata rootPath: %w", Type, md.Name, err)
	}
	b.dir, b.root = dir, root
	return nil
}

// Operations are Dapr's: create, get, list, delete.
func (b *Binding) Operations() []string {
	return []string{bindings.OperationCreate, bindings.OperationGet, bindings.OperationList, bindings.OperationDelete}
}

// Invoke runs one operation on the file the fileName metadata item names.
func (b *Binding) Invoke(_ context.Context, req *bindings.Request) (*bindings.Response, error) {
	name := req.Metadata[fileNameMetadata]
	if name == "" && req.Operation == bindings.OperationCreate {
		name = uuid.NewString()
	}
	rel, err := local(name, req.Operation == bindings.OperationList)
	if err != nil {
		return nil, err
	}
	switch req.Operation {
	case bindings.OperationCreate:
		return b.create(rel, req.Data)
	case bindings.OperationGet:
		data, err := b.root.ReadFile(rel)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: file not found: %s", bindings.ErrInvalid, rel)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", rel, err)
		}
		return &bindings.Response{Data: data}, nil
	case bindings.OperationDelete:
		if err := b.root.Remove(rel); err != nil {
			return nil, fmt.Errorf("delete %s: %w", rel, err)
		}
		return nil, nil
	case bindings.OperationList:
		return b.list(rel)
	}
	return nil, fmt.Errorf("%w: unsupported operation %s", bindings.ErrInvalid, req.Operation)
}

// local checks that name stays under rootPath and returns it cleaned; ""
// (rootPath itself) only when allowed.
func local(name string, rootAllowed bool) (string, error) {
	if name == "" {
		if rootAllowed {
			return ".", nil
		}
		return "", fmt.Errorf("%w: metadata fileName is required", bindings.ErrInvalid)
	}
	if !filepath.IsLocal(name) {
		return "", fmt.Errorf("%w: fileName %q is outside rootPath: give a relative path that stays inside it", bindings.ErrInvalid, name)
	}
	return filepath.Clean(name), nil
}

// create writes the file, as Dapr: data that is a JSON string is unquoted
// (the HTTP API sends data JSON-encoded), then base64-decoded when it
// reads as base64. It answers {"fileName": <relative path>}.
func (b *Binding) create(rel string, data []byte) (*bindings.Response, error) {
	if s, err := strconv.Unquote(string(data)); err == nil {
		data = []byte(s)
	}
	if d, err := base64.StdEncoding.DecodeString(string(data)); err == nil {
		data = d
	}
	if dir := filepath.Dir(rel); dir != "." {
		if err := b.root.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create directory %s: %w", dir, err)
		}
	}
	if err := b.root.WriteFile(rel, data, 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	out, _ := json.Marshal(struct {
		FileName string `json:"fileName"`
	}{rel})
	return &bindings.Response{Data: out}, nil
}

// list answers the files under rel, recursively, as absolute paths, as
// Dapr does.
func (b *Binding) list(rel string) (*bindings.Response, error) {
	fi, err := b.root.Stat(rel)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", rel, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: unable to list files as the file specified is not a directory: %s", bindings.ErrInvalid, rel)
	}
	files := []string{}
	err = fs.WalkDir(b.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, filepath.Join(b.dir, p))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", rel, err)
	}
	out, _ := json.Marshal(files)
	return &bindings.Response{Data: out}, nil
}

// Close closes rootPath.
func (b *Binding) Close() error {
	if b.root == nil {
		return nil
	}
	err := b.root.Close()
	b.root = nil
	return err
}
