package control

import (
	"runtime/debug"
	"strings"
)

// Version is cove's version: what `cove version` prints and every sidecar
// reports as its runtimeVersion. Builds set it with
// -ldflags "-X github.com/cove-env/cove/internal/control.Version=1.2.3"
// (make build does); otherwise it comes from the build information.
var Version string

// DaprAPIVersion is the Dapr runtime API the sidecars are compatible with.
const DaprAPIVersion = "1.17"

func init() {
	if Version == "" {
		bi, _ := debug.ReadBuildInfo()
		Version = buildVersion(bi)
	}
}

// buildVersion is the version of a binary built without -ldflags: its
// module version when it has one (go install of a tagged release),
// else "dev" with the commit it was built from when Go recorded one
// ("dev+0123456789ab", ".dirty" for uncommitted changes).
func buildVersion(bi *debug.BuildInfo) string {
	if bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return strings.TrimPrefix(v, "v")
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ".dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev+" + rev[:min(len(rev), 12)] + dirty
}
