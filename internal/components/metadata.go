package components

import (
	"encoding"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decode fills the struct dst points to from the metadata items, by the
// `metadata` tag of its fields, and returns the keys no field names, sorted.
//
// The tag lists Dapr's key for the field, then the aliases Dapr also
// accepts: `metadata:"redisMaxRetries,maxRetries"`. The tag is cove's own
// rather than Dapr's `mapstructure` because the rules below are not
// mapstructure's. Keys match case-insensitively, as in Dapr; an item with
// an empty value counts as not set, so the field keeps what dst held (its
// default); the first of a field's names that is set wins. Fields without
// the tag are left alone; embedded structs without it are decoded as if
// their fields were dst's (Dapr's ",squash"). A field can be a string,
// bool, integer, float, time.Duration, []string, a pointer to one of them
// (nil when the key is not set), or implement encoding.TextUnmarshaler;
// setField lists the forms each accepts.
//
// err joins one error per bad value, each naming the key, the value and
// what is accepted, and fields with a bad value keep their default, so a
// caller can report every problem at once. Unknown keys are not an error:
// Dapr ignores them, so a component written for daprd keeps working;
// callers pass them to WarnUnknown. A dst that is not a pointer to a
// struct of supported fields is a programming error, returned as err.
func (m Metadata) Decode(dst any) (unknown []string, err error) {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("components: Decode needs a pointer to a struct, not %T", dst)
	}
	fields, err := metadataFields(v.Elem().Type(), nil)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range fields {
		for _, n := range f.names {
			if seen[strings.ToLower(n)] {
				return nil, fmt.Errorf("components: metadata key %q is named by two fields of %T", n, dst)
			}
			seen[strings.ToLower(n)] = true
		}
	}

	// Dapr refuses two items whose keys differ only in case; without that
	// rule, which one wins would depend on map order.
	byLower := make(map[string]string, len(m.Properties))
	known := make(map[string]bool, len(m.Properties))
	var errs []error
	for _, k := range sortedKeys(m.Properties) {
		lk := strings.ToLower(k)
		if other, dup := byLower[lk]; dup {
			errs = append(errs, fmt.Errorf("metadata keys %q and %q are the same key (keys are case-insensitive); keep one", other, k))
			known[k] = true // reported already
			continue
		}
		byLower[lk] = k
	}

	for _, f := range fields {
		used := ""
		for _, name := range f.names {
			k, ok := byLower[strings.ToLower(name)]
			if !ok {
				continue
			}
			known[k] = true
			if used == "" && m.Properties[k] != "" {
				used = k
			}
		}
		if used == "" {
			continue
		}
		if err := setField(v.Elem().FieldByIndex(f.index), m.Properties[used]); err != nil {
			errs = append(errs, fmt.Errorf("metadata %s %q: %w", used, m.Properties[used], err))
		}
	}
	for _, k := range sortedKeys(m.Properties) {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	return unknown, errors.Join(errs...)
}

// WarnUnknown logs the keys Decode did not know, naming the component, so
// a misspelt key does not go unnoticed although it does not fail.
func (m Metadata) WarnUnknown(unknown []string) {
	if len(unknown) == 0 {
		return
	}
	slog.Warn("component metadata has keys this component does not use; they are ignored, as in Dapr",
		slog.String("component", m.Name), slog.String("type", m.Type), slog.Any("keys", unknown))
}

// metadataField is one decodable field: its names (Dapr's key, then
// aliases) and where it sits in the struct.
type metadataField struct {
	names []string
	index []int
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// metadataFields lists the tagged fields of t, descending into untagged
// embedded structs.
func metadataFields(t reflect.Type, prefix []int) ([]metadataField, error) {
	var out []metadataField
	for i := range t.NumField() {
		sf := t.Field(i)
		index := append(slices.Clone(prefix), i)
		tag, tagged := sf.Tag.Lookup("metadata")
		if !tagged && sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			inner, err := metadataFields(sf.Type, index)
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		if !tagged || tag == "-" {
			continue
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("components: metadata field %s.%s is not exported", t.Name(), sf.Name)
		}
		if !decodable(sf.Type) {
			return nil, fmt.Errorf("components: metadata field %s.%s has type %s, which Decode cannot fill", t.Name(), sf.Name, sf.Type)
		}
		var names []string
		for n := range strings.SplitSeq(tag, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("components: metadata field %s.%s has an empty tag", t.Name(), sf.Name)
		}
		out = append(out, metadataField{names: names, index: index})
	}
	return out, nil
}

// decodable reports whether setField can fill a field of type t.
func decodable(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	case reflect.Pointer:
		return t.Elem().Kind() != reflect.Pointer && decodable(t.Elem())
	}
	return false
}

// setField parses s into v; its error says what is accepted, and v is
// left as it was.
//
//   - bool: Dapr's truthy forms y, yes, true, t, on, 1 are true and their
//     opposites n, no, false, f, off, 0 are false, any case, spaces
//     trimmed. Dapr reads every other value as false without a word; cove
//     refuses it, since it is a typo more often than a wish.
//   - time.Duration: a Go duration ("20s", "1m30s") or a whole number of
//     seconds ("20"), as Dapr's metadata decoder reads them. A component
//     whose Dapr counterpart counts in other units gives the field its own
//     type with UnmarshalText.
//   - integers and floats: base 10, in the type's range.
//   - []string: a comma-separated list, items trimmed, empty ones dropped.
//   - a pointer: allocated and filled.
func setField(v reflect.Value, s string) error {
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		nv := reflect.New(v.Type())
		if err := nv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return err
		}
		v.Set(nv.Elem())
		return nil
	}
	if v.Type() == durationType {
		d, err := parseSeconds(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if err := setField(nv.Elem(), s); err != nil {
			return err
		}
		v.Set(nv)
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := parseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			lo, hi := -1<<(v.Type().Bits()-1), 1<<(v.Type().Bits()-1)-1
			return numberError(err, "a whole number", fmt.Sprintf("%d to %d", lo, hi))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			hi := uint64(math.MaxUint64) >> (64 - v.Type().Bits())
			return numberError(err, "a whole number of 0 or more", fmt.Sprintf("0 to %d", hi))
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), v.Type().Bits())
		if err != nil {
			return numberError(err, "a number", "the range of a float")
		}
		v.SetFloat(f)
	case reflect.Slice:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items).Convert(v.Type()))
	}
	return nil
}

func numberError(err error, what, rng string) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("out of range; use %s", rng)
	}
	return fmt.Errorf("not %s", what)
}

// Truthy reports whether s is one of Dapr's true forms, for request
// metadata read outside Decode; anything else is false, as in Dapr.
func Truthy(s string) bool {
	b, err := parseBool(s)
	return err == nil && b
}

// parseBool reads Dapr's truthy forms and their opposites.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "true", "t", "on", "1":
		return true, nil
	case "n", "no", "false", "f", "off", "0":
		return false, nil
	}
	return false, errors.New("not a boolean; use true or false (y, yes, t, on, 1 and n, no, f, off, 0 also work)")
}

// parseSeconds reads a Go duration or a whole number of seconds.
func parseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, errors.New("out of range; use at most 292 years")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("neither a duration (20s, 1m30s) nor a whole number of seconds")
	}
	return d, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
