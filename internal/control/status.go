package control

import "time"

// Status types are the management API's JSON shapes, shared by the server
// and the CLI.

// Status is the whole environment.
type Status struct {
	Name       string            `json:"name"`
	File       string            `json:"file"`
	PID        int               `json:"pid"`
	Edge       EdgeStatus        `json:"edge"`
	API        *APIStatus        `json:"api,omitempty"`
	Apps       []AppStatus       `json:"apps"`
	Components []ComponentStatus `json:"components"`
}

// EdgeStatus tells where the edge listens.
type EdgeStatus struct {
	HTTP     string `json:"http"`
	HTTPS    string `json:"https"`
	Internal string `json:"internal"`
	// HTTPSTaken is the default HTTPS port when another process held it
	// and HTTPS serves on a free port instead; zero otherwise.
	HTTPSTaken int `json:"httpsTaken,omitempty"`
}

// AppStatus is one app with its revisions and their replicas.
type AppStatus struct {
	Name string `json:"name"`
	// Revision is the latest active revision.
	Revision string `json:"revision"`
	Ingress  string `json:"ingress"` // external, internal or none
	// URL is where the app answers; URLs are all of them (an external
	// app that allows insecure traffic answers on HTTPS and HTTP).
	URL  string   `json:"url,omitempty"`
	URLs []string `json:"urls,omitempty"`
	// Problem says why the app's active revisions are not all ready when
	// one of their replicas failed: it exited before it was ready, or
	// could not be started.
	Problem   string `json:"problem,omitempty"`
	DaprAppID string `json:"daprAppId,omitempty"`
	// Revisions are the app's revisions, newest first: active ones, one a
	// reload is starting, ones being stopped.
	Revisions []RevisionStatus `json:"revisions"`
	Replicas  []ReplicaStatus  `json:"replicas"`
	// Subscriptions are the app's pub/sub subscriptions, as its sidecars
	// made them (the app's own and the declarative ones).
	Subscriptions []SubscriptionStatus `json:"subscriptions,omitempty"`
}

// SubscriptionStatus is one topic an app subscribes to.
type SubscriptionStatus struct {
	Pubsub string `json:"pubsubname"`
	Topic  string `json:"topic"`
	// Routes are the app's routes for the topic's events, in rule order;
	// Rules are their CEL matches ("" for the default route).
	Routes          []string `json:"routes"`
	Rules           []string `json:"rules,omitempty"`
	DeadLetterTopic string   `json:"deadLetterTopic,omitempty"`
	// Type is PROGRAMMATIC, DECLARATIVE or SubscriptionStreaming, as the
	// sidecar's metadata API names them.
	Type string `json:"type"`
}

// SubscriptionStreaming is the Type of a streaming subscription a client of
// the sidecar holds open.
const SubscriptionStreaming = "STREAMING"

// RevisionStatus is one revision of an app.
type RevisionStatus struct {
	Name string `json:"name"`
	// State is starting (a reload waits for its replicas), active or
	// stopping.
	State  string `json:"state"`
	Latest bool   `json:"latest,omitempty"`
	// Weight is the revision's share of the app's ingress traffic in
	// percent, as the traffic gives it; a revision without a ready replica
	// passes it to the others.
	Weight   int      `json:"weight"`
	Labels   []string `json:"labels,omitempty"`
	Replicas int      `json:"replicas"`
	Ready    int      `json:"ready"`
	// Created is when the revision was first created, in this run or an
	// earlier one.
	Created time.Time `json:"createdTime,omitzero"`
}

// ReplicaStatus is one replica.
type ReplicaStatus struct {
	Name         string `json:"name"`
	Revision     string `json:"revision"`
	PID          int    `json:"pid"`
	State        string `json:"state"`
	Ready        bool   `json:"ready"`
	Restarts     int    `json:"restarts"`
	LastExit     string `json:"lastExit,omitempty"`
	Port         int    `json:"port"`
	DaprHTTPPort int    `json:"daprHttpPort,omitempty"`
	DaprGRPCPort int    `json:"daprGrpcPort,omitempty"`
	// ListenPorts are the ports the replica listens on instead of Port
	// (an app that does not read PORT); empty when it listens on Port.
	ListenPorts []int `json:"listenPorts,omitempty"`
	// Containers are a container-mode replica's containers, as the
	// engine lists them (init containers while they run).
	Containers []ContainerStatus `json:"containers,omitempty"`
}

// ContainerStatus is one container of a replica's pod.
type ContainerStatus struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	ID    string `json:"id"`
	State string `json:"state"`
}

// ComponentStatus is one Dapr component.
type ComponentStatus struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Version string   `json:"version"`
	Scopes  []string `json:"scopes,omitempty"`
	Status  string   `json:"status"` // loaded or failed
	Error   string   `json:"error,omitempty"`
}

// ReplicaEnv is what `cove exec` needs to run a command as a replica.
type ReplicaEnv struct {
	Replica string   `json:"replica"`
	Dir     string   `json:"dir"`
	Env     []string `json:"env"`
	// Hosts is the hosts file the replica sees as /etc/hosts; empty when
	// it sees the machine's.
	Hosts string `json:"hosts,omitempty"`
	// Container is the template's first container, which Env and Dir are
	// for in process mode; Processes are, when a process-mode replica
	// runs several containers, each of them (Container first) with its
	// own environment.
	Container string       `json:"container,omitempty"`
	Processes []ProcessEnv `json:"processes,omitempty"`
	// Network is the replica's network namespace (/proc/<pid>/ns/net)
	// when it has one of its own as a process.
	Network string `json:"network,omitempty"`
	// Engine is the container engine's executable when the replica is a
	// pod, whose containers (template names first) run as Containers.
	Engine     string   `json:"engine,omitempty"`
	Containers []string `json:"containers,omitempty"`
	// ContainerNames are the engine's names of Containers.
	ContainerNames []string `json:"containerNames,omitempty"`
}

// ProcessEnv is one container of a process-mode replica as `cove exec
// --container` runs a command beside it.
type ProcessEnv struct {
	Name string   `json:"name"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
}

// LogEntry is one line an app's replica wrote.
type LogEntry struct {
	Time    time.Time `json:"time"`
	Replica string    `json:"replica"`
	// Container is the template's container that wrote the line (daprd
	// for the sidecar's lines); empty when the app has no template.
	Container string `json:"container,omitempty"`
	Stream    string `json:"stream"` // stdout, stderr, or dapr for the sidecar's
	Text      string `json:"text"`
}
