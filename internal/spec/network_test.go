package spec

import (
	"slices"
	"testing"
)

// webApp listens on 8000 with Dapr's appPort 8000.
const webApp = "name: web\nproperties:\n  configuration:\n    ingress: {targetPort: 8000}\n    dapr: {enabled: true, appPort: 8000}\n  template:\n    containers: [{name: web, image: w}]\n"

func TestNetwork(t *testing.T) {
	tests := []struct {
		name       string
		network    string // the entry's network: lines
		mode       string
		hostPorts  []int
		namespaced bool
	}{
		{name: "the default is the machine's network"},
		{name: "a mode alone", network: "    network: namespace\n", mode: NetworkNamespace, namespaced: true},
		{name: "a block with host ports", network: "    network: {mode: namespace, hostPorts: [6379, 5432]}\n", mode: NetworkNamespace, hostPorts: []int{6379, 5432}, namespaced: true},
		{name: "host written out", network: "    network: host\n", mode: NetworkHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, probs := loadIn(t, map[string]string{
				"cove.yaml": "apps:\n  - file: web.yaml\n    command: ./web\n" + tc.network,
				"web.yaml":  webApp,
			})
			if env == nil || len(probs) != 0 {
				t.Fatalf("problems: %v", briefs(probs))
			}
			a := env.Apps[0]
			if a.Network != tc.mode || !slices.Equal(a.HostPorts, tc.hostPorts) || a.Namespaced() != tc.namespaced {
				t.Errorf("network %q, host ports %v, namespaced %v; want %q, %v, %v", a.Network, a.HostPorts, a.Namespaced(), tc.mode, tc.hostPorts, tc.namespaced)
			}
		})
	}
}

func TestNetworkRules(t *testing.T) {
	tests := []struct {
		name   string
		cove   string
		errors []string
	}{
		{
			name:   "an unknown mode",
			cove:   "apps:\n  - file: web.yaml\n    command: ./web\n    network: bridge\n",
			errors: []string{`4:5 apps[0].network: "bridge" is not a network; use namespace`},
		},
		{
			name:   "a block without a mode",
			cove:   "apps:\n  - file: web.yaml\n    command: ./web\n    network: {hostPorts: [6379]}\n",
			errors: []string{"4:5 apps[0].network.mode: required: namespace"},
		},
		{
			name:   "host ports without a namespace",
			cove:   "apps:\n  - file: web.yaml\n    command: ./web\n    network: {mode: host, hostPorts: [6379]}\n",
			errors: []string{"4:27 apps[0].network.hostPorts: hostPorts relay the machine's ports into a replica's network namespace"},
		},
		{
			name: "ports the sidecar or the app has inside, out of range, twice",
			cove: "apps:\n  - file: web.yaml\n    command: ./web\n    network: {mode: namespace, hostPorts: [3500, 8000, 70000, 6379, 6379]}\n",
			errors: []string{
				"4:44 apps[0].network.hostPorts[0]: port 3500 is the Dapr sidecar's inside the namespace",
				"4:50 apps[0].network.hostPorts[1]: port 8000 is the app's own (web.yaml)",
				"4:56 apps[0].network.hostPorts[2]: port 70000 is out of range 1-65535",
				"4:69 apps[0].network.hostPorts[4]: port 6379 is listed twice",
			},
		},
		{
			name:   "container mode has namespaces already",
			cove:   "apps:\n  - file: web.yaml\n    network: namespace\n",
			errors: []string{"3:5 apps[0].network: a container-mode app's replicas have a network namespace each already"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, probs := loadIn(t, map[string]string{"cove.yaml": tc.cove, "web.yaml": webApp})
			checkProblems(t, "errors", probs, tc.errors)
		})
	}
}
