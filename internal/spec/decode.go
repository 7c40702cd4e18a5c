package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cove-env/cove/internal/textmatch"
)

// This file is a small strict YAML decoder. It walks a yaml.Node tree against
// Go types by reflection, matching mapping keys to `json` tags (so the same
// types serve the management API), and collects every problem with its line,
// column and field path instead of stopping at the first. Validators then
// report against field paths and the decoder supplies the positions.

// nodeBudget bounds how many nodes one document may expand to, so that alias
// bombs ("billion laughs") fail fast instead of exhausting memory.
const nodeBudget = 200_000

// position is a 1-based line and column in a YAML file.
type position struct{ line, col int }

// nodeUnmarshaler is implemented by types that decode themselves from a node
// (values that take more than one YAML shape). They report problems through d.
type nodeUnmarshaler interface {
	unmarshalNode(d *decoder, n *yaml.Node, path string)
}

// decoder decodes one file and collects its problems.
type decoder struct {
	file   string
	probs  Problems
	pos    map[string]position // field path → position of its key, or of the item for list items
	bad    map[string]bool     // paths whose value failed to decode; later checks on them stay quiet
	nulls  map[string]bool     // paths written as null, which count as unset
	budget int
	fields map[reflect.Type]map[string][]int
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:   file,
		pos:    map[string]position{"": {1, 1}},
		bad:    map[string]bool{},
		nulls:  map[string]bool{},
		budget: nodeBudget,
		fields: map[reflect.Type]map[string][]int{},
	}
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// parse reads data as exactly one YAML document and returns its root node, or
// nil after recording why it cannot.
func (d *decoder) parse(data []byte) *yaml.Node {
	roots := d.parseAll(data)
	if len(roots) == 0 {
		if len(d.probs) == 0 {
			d.add(position{1, 1}, "", SeverityError, "the file is empty")
		}
		return nil
	}
	if len(roots) > 1 {
		d.add(position{roots[1].Line, 1}, "", SeverityError, "the file holds more than one YAML document; put one per file")
	}
	d.pos[""] = nodePos(roots[0])
	return roots[0]
}

// parseAll reads every document of data ("---"-separated) and returns
// their root nodes, in order, leaving out empty ones; their lines are the
// file's. It stops at the first syntax error, after recording it.
func (d *decoder) parseAll(data []byte) (roots []*yaml.Node) {
	defer func() {
		// The YAML library is third-party code fed with arbitrary bytes: a
		// panic there must become a problem, not a crash of the control plane.
		if r := recover(); r != nil {
			roots = nil
			d.add(position{1, 1}, "", SeverityError, fmt.Sprintf("cannot parse YAML: %v", r))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return roots
		}
		if err != nil {
			d.syntaxError(err)
			return roots
		}
		if len(doc.Content) > 0 {
			roots = append(roots, doc.Content[0])
		}
	}
}

// parserProblems are the messages of the YAML library's parser (not its
// scanner). The library reports their line 0-based, and leaves it out for
// the first line; scanner messages carry 1-based lines.
var parserProblems = []string{
	"did not find expected key", "did not find expected node content", "did not find expected '-' indicator",
	"did not find expected ',' or", "did not find expected <", "found incompatible YAML document",
	"found duplicate %", "found undefined tag handle",
}

func (d *decoder) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	for _, pp := range parserProblems {
		if strings.HasPrefix(msg, pp) {
			line++
			break
		}
	}
	d.add(position{max(line, 1), 0}, "", SeverityError, "invalid YAML: "+msg)
}

func nodePos(n *yaml.Node) position {
	return position{max(n.Line, 1), max(n.Column, 1)}
}

func (d *decoder) add(at position, path string, sev Severity, msg string) {
	d.probs = append(d.probs, Problem{File: d.file, Line: at.line, Column: at.col, Path: path, Message: msg, Severity: sev})
}

// typeErrorf records a problem with the value at path and marks the path so
// that validation does not pile further problems onto it.
func (d *decoder) typeErrorf(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.add(nodePos(n), path, SeverityError, fmt.Sprintf(format, args...))
}

// errorf records an error for the field at path, positioned at the field or,
// when it is absent, at its closest present ancestor.
func (d *decoder) errorf(path, format string, args ...any) {
	d.report(path, SeverityError, fmt.Sprintf(format, args...))
}

// warnf records a warning like errorf.
func (d *decoder) warnf(path, format string, args ...any) {
	d.report(path, SeverityWarning, fmt.Sprintf(format, args...))
}

func (d *decoder) report(path string, sev Severity, msg string) {
	for p := path; ; p = parentPath(p) {
		if d.bad[p] {
			return
		}
		if p == "" {
			break
		}
	}
	d.add(d.lookup(path), path, sev, msg)
}

// has reports whether the field at path was written in the file with a
// value. An explicit null (which `az containerapp show` prints for unset
// fields) counts as unset.
func (d *decoder) has(path string) bool {
	_, ok := d.pos[path]
	return ok && !d.nulls[path]
}

// record notes where the field at path is and whether it is null.
func (d *decoder) record(path string, at, val *yaml.Node) {
	d.pos[path] = nodePos(at)
	for hops := 0; val != nil && val.Kind == yaml.AliasNode && hops < 100; hops++ {
		val = val.Alias
	}
	if val != nil && isNull(val) {
		d.nulls[path] = true
	}
}

func (d *decoder) lookup(path string) position {
	for p := path; ; p = parentPath(p) {
		if at, ok := d.pos[p]; ok {
			return at
		}
		if p == "" {
			return position{1, 1}
		}
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// fieldPath appends a mapping key to a path; keys that are not plain
// identifiers are quoted in brackets so the path stays unambiguous.
func fieldPath(parent, key string) string {
	if !identRE.MatchString(key) {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parentPath strips the last element of a path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
		return ""
	}
	if i := strings.LastIndexAny(p, ".]"); i >= 0 {
		if p[i] == ']' {
			return p[:i+1]
		}
		return p[:i]
	}
	return ""
}

// reflectValue returns the settable value a pointer points to.
func reflectValue(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }

// decodeDocument decodes root into out, which must be a pointer.
func (d *decoder) decodeDocument(root *yaml.Node, out any) {
	d.decode(root, "", reflect.ValueOf(out).Elem())
}

func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = d.deref(n, path)
	if n == nil || isNull(n) {
		return
	}
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(nodeUnmarshaler); ok {
			u.unmarshalNode(d, n, path)
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.String:
		// Like ACA, which receives YAML as JSON and coerces scalars, a number
		// or boolean is accepted where a string is expected; the literal text
		// is kept ("1.10" stays "1.10").
		if n.Kind != yaml.ScalarNode {
			d.typeErrorf(n, path, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.typeErrorf(n, path, "expected true or false, got %s%s", describe(n), quoteHint(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.typeErrorf(n, path, "expected an integer, got %s%s", describe(n), quoteHint(n))
			return
		}
		if v.OverflowInt(i) {
			d.typeErrorf(n, path, "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.typeErrorf(n, path, "expected a number, got %s%s", describe(n), quoteHint(n))
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable when a type in this package uses a kind the decoder
		// does not know; report it rather than panic.
		d.typeErrorf(n, path, "cannot decode into %s", v.Type())
	}
}

// deref follows aliases and charges the node budget. It returns nil once the
// budget is spent.
func (d *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			d.typeErrorf(n, path, "alias *%s does not resolve", n.Value)
			return nil
		}
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return d.deref(n.Content[0], path)
	}
	d.budget--
	if d.budget == 0 {
		d.typeErrorf(n, path, "the document is too large or expands too many aliases")
	}
	if d.budget <= 0 {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's type for messages: `string "8080"`, `a list`.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return "string " + strconv.Quote(v)
		case "!!int", "!!float":
			return "number " + v
		case "!!bool":
			return "boolean " + v
		case "!!null":
			return "null"
		}
		return strconv.Quote(v)
	}
	return "an unknown node"
}

// quoteHint suggests removing quotes when a quoted string holds the value
// that was expected.
func quoteHint(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return ""
	}
	switch strings.ToLower(n.Value) {
	case "true", "false":
		return "; write it without quotes"
	case "yes", "no", "on", "off", "y", "n":
		return "; use true or false"
	}
	if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
		return "; write the number without quotes"
	}
	return ""
}

// mappingPairs returns the key/value pairs of a mapping with YAML merge keys
// ("<<: *base") applied: explicit keys win over merged ones, and earlier
// merge sources win over later ones.
func (d *decoder) mappingPairs(n *yaml.Node, path string) [][2]*yaml.Node {
	var explicit, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.ShortTag() == "!!merge") {
			merged = append(merged, d.mergeSource(val, path)...)
			continue
		}
		explicit = append(explicit, [2]*yaml.Node{k, val})
	}
	if len(merged) == 0 {
		return explicit
	}
	have := map[string]bool{}
	for _, p := range explicit {
		have[p[0].Value] = true
	}
	out := explicit
	for _, p := range merged {
		if !have[p[0].Value] {
			have[p[0].Value] = true
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) mergeSource(val *yaml.Node, path string) [][2]*yaml.Node {
	val = d.deref(val, path)
	if val == nil {
		return nil
	}
	switch val.Kind {
	case yaml.MappingNode:
		return d.mappingPairs(val, path)
	case yaml.SequenceNode:
		var out [][2]*yaml.Node
		for _, item := range val.Content {
			if item = d.deref(item, path); item == nil {
				continue
			}
			if item.Kind != yaml.MappingNode {
				d.typeErrorf(item, path, "a merge key (<<) takes mappings, got %s", describe(item))
				continue
			}
			out = append(out, d.mappingPairs(item, path)...)
		}
		return out
	}
	d.typeErrorf(val, path, "a merge key (<<) takes a mapping, got %s", describe(val))
	return nil
}

// mapKeys walks a mapping's pairs, checking keys are unique strings.
func (d *decoder) mapKeys(n *yaml.Node, path string, each func(key string, k, val *yaml.Node)) {
	seen := map[string]int{}
	for _, p := range d.mappingPairs(n, path) {
		k := d.deref(p[0], path)
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.typeErrorf(k, path, "mapping keys must be strings, got %s", describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.add(nodePos(k), fieldPath(path, k.Value), SeverityError,
				fmt.Sprintf("duplicate key; it is already set at line %d", line))
			continue
		}
		seen[k.Value] = k.Line
		each(k.Value, k, p[1])
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.typeErrorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := d.structFields(v.Type())
	d.mapKeys(n, path, func(key string, k, val *yaml.Node) {
		child := fieldPath(path, key)
		index, ok := fields[key]
		if !ok {
			d.add(nodePos(k), child, SeverityError, unknownField(key, fields))
			return
		}
		d.record(child, k, val)
		d.decode(val, child, v.FieldByIndex(index))
	})
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.typeErrorf(n, path, "expected a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := indexPath(path, i)
		d.record(child, item, item)
		d.decode(item, child, out.Index(i))
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.typeErrorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.typeErrorf(n, path, "cannot decode into %s", v.Type())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	d.mapKeys(n, path, func(key string, k, val *yaml.Node) {
		child := fieldPath(path, key)
		d.record(child, k, val)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, child, elem)
		v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
	})
}

// structFields maps the json names of a struct's fields to their index paths,
// flattening embedded structs the way encoding/json does.
func (d *decoder) structFields(t reflect.Type) map[string][]int {
	if f, ok := d.fields[t]; ok {
		return f
	}
	out := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for sub, index := range d.structFields(f.Type) {
				if _, shadowed := out[sub]; !shadowed {
					out[sub] = append([]int{i}, index...)
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	d.fields[t] = out
	return out
}

// unknownField explains an unknown key and how to fix it: the closest known
// name when there is one, otherwise the names that are allowed.
func unknownField(key string, fields map[string][]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	if s := suggest(key, names); s != "" {
		return fmt.Sprintf("unknown field; did you mean %q?", s)
	}
	return "unknown field; expected one of " + strings.Join(names, ", ")
}

// suggest returns the candidate closest to s, or "" when none is a likely
// typo (textmatch.Closest).
func suggest(s string, candidates []string) string { return textmatch.Closest(s, candidates) }

// Ignored accepts any YAML value and keeps nothing. It stands for read-only
// fields that cove reads past (Kubernetes bookkeeping such as managedFields).
type Ignored struct{}

func (*Ignored) unmarshalNode(*decoder, *yaml.Node, string) {}

// MarshalJSON renders an ignored value as null.
func (Ignored) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
