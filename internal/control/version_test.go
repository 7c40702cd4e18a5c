package control

import (
	"runtime/debug"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{name: "no build information", bi: nil, want: "dev"},
		{name: "a tagged module", bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, want: "1.4.0"},
		{name: "a pseudo-version", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207165234-8c80832abcde"}},
			want: "0.0.0-20261207165234-8c80832abcde"},
		{name: "a checkout", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("8c80832abcdef0123456789", "false")}, want: "dev+8c80832abcde"},
		{name: "a checkout with changes", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("8c80832abcdef0123456789", "true")}, want: "dev+8c80832abcde.dirty"},
		{name: "no version control information", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, want: "dev"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildVersion(tc.bi); got != tc.want {
				t.Errorf("buildVersion = %q, want %q", got, tc.want)
			}
		})
	}
}
