// Package named is what building blocks share of their components: a set
// of them by component name, safe for concurrent use.
//
// It imports nothing of cove's.
package named

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Set holds values by name. The zero value is empty and ready to use.
type Set[T any] struct {
	mu sync.RWMutex
	m  map[string]T
}

// Add adds v under name; a name already there is an error.
func (s *Set[T]) Add(name string, v T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[name]; dup {
		return fmt.Errorf("%s is already added", name)
	}
	if s.m == nil {
		s.m = map[string]T{}
	}
	s.m[name] = v
	return nil
}

// Get returns the value under name.
func (s *Set[T]) Get(name string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[name]
	return v, ok
}

// Len is the number of values.
func (s *Set[T]) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Each returns f of every value, in name order.
func Each[T, R any](s *Set[T], f func(T) R) []R {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]R, 0, len(s.m))
	for _, name := range slices.Sorted(maps.Keys(s.m)) {
		out = append(out, f(s.m[name]))
	}
	return out
}
