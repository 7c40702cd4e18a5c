package resiliency

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// DefaultTrip is Dapr's trip condition when a breaker sets none.
const DefaultTrip = "consecutiveFailures > 5"

// tripVariables are the counts a trip expression may read, Dapr's names.
var tripVariables = []string{"requests", "totalSuccesses", "totalFailures", "consecutiveSuccesses", "consecutiveFailures"}

// Trip is a compiled trip condition: a CEL expression over a breaker's
// Counts that must yield a bool, as daprd evaluates it.
type Trip struct {
	src string
	prg cel.Program
}

// CompileTrip compiles a trip expression such as "consecutiveFailures > 5".
func CompileTrip(expr string) (*Trip, error) {
	opts := make([]cel.EnvOption, 0, len(tripVariables))
	for _, v := range tripVariables {
		opts = append(opts, cel.Variable(v, cel.IntType))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("trip expression environment: %w", err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("trip expression %q: %w", expr, iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("trip expression %q yields %s, not a bool", expr, ast.OutputType())
	}
	prg, err := env.Program(ast)
	if err != nil {
		return nil, fmt.Errorf("trip expression %q: %w", expr, err)
	}
	return &Trip{src: expr, prg: prg}, nil
}

// String returns the expression as written.
func (t *Trip) String() string { return t.src }

// Eval reports whether c trips the breaker. An expression that fails at
// run time (a division by zero) does not trip it: opening a circuit on an
// error would be a guess, and daprd does not.
func (t *Trip) Eval(c Counts) bool {
	out, _, err := t.prg.Eval(map[string]any{
		"requests":             int64(c.Requests),
		"totalSuccesses":       int64(c.TotalSuccesses),
		"totalFailures":        int64(c.TotalFailures),
		"consecutiveSuccesses": int64(c.ConsecutiveSuccesses),
		"consecutiveFailures":  int64(c.ConsecutiveFailures),
	})
	if err != nil || types.IsError(out) {
		return false
	}
	b, ok := out.Value().(bool)
	return ok && b
}
