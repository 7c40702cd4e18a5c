package sidecar

// Metadata is the metadata API's answer, in daprd's JSON shape (field names
// and omission rules are the wire contract the SDKs decode).
type Metadata struct {
	ID                      string                  `json:"id,omitempty"`
	RuntimeVersion          string                  `json:"runtimeVersion,omitempty"`
	EnabledFeatures         []string                `json:"enabledFeatures,omitempty"`
	ActiveActorsCount       []ActiveActorsCount     `json:"actors,omitempty"`
	RegisteredComponents    []RegisteredComponent   `json:"components,omitempty"`
	Extended                map[string]string       `json:"extended,omitempty"`
	Subscriptions           []Subscription          `json:"subscriptions,omitempty"`
	HTTPEndpoints           []HTTPEndpoint          `json:"httpEndpoints,omitempty"`
	AppConnectionProperties AppConnectionProperties `json:"appConnectionProperties,omitzero"`
	ActorRuntime            ActorRuntime            `json:"actorRuntime,omitzero"`
}

// ActiveActorsCount is the number of active actors of one type.
type ActiveActorsCount struct {
	Type  string `json:"type,omitempty"`
	Count int32  `json:"count,omitempty"`
}

// RegisteredComponent is one loaded component.
type RegisteredComponent struct {
	Name         string   `json:"name,omitempty"`
	Type         string   `json:"type,omitempty"`
	Version      string   `json:"version,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

// Subscription is one pub/sub subscription of the app.
type Subscription struct {
	PubsubName      string             `json:"pubsubname"`
	Topic           string             `json:"topic"`
	Metadata        map[string]string  `json:"metadata,omitempty"`
	Rules           []SubscriptionRule `json:"rules,omitempty"`
	DeadLetterTopic string             `json:"deadLetterTopic"`
	Type            string             `json:"type"`
}

// SubscriptionRule routes matching events to a path.
type SubscriptionRule struct {
	Match string `json:"match,omitempty"`
	Path  string `json:"path,omitempty"`
}

// HTTPEndpoint is one HTTPEndpoint resource in scope.
type HTTPEndpoint struct {
	Name string `json:"name,omitempty"`
}

// AppConnectionProperties says how the sidecar reaches its app.
type AppConnectionProperties struct {
	Port           int32             `json:"port,omitempty"`
	Protocol       string            `json:"protocol,omitempty"`
	ChannelAddress string            `json:"channelAddress,omitempty"`
	MaxConcurrency int32             `json:"maxConcurrency,omitempty"`
	Health         *AppHealthProbing `json:"health,omitempty"`
}

// AppHealthProbing is the app health check configuration, when one is set.
type AppHealthProbing struct {
	HealthCheckPath     string `json:"healthCheckPath,omitempty"`
	HealthProbeInterval string `json:"healthProbeInterval,omitempty"`
	HealthProbeTimeout  string `json:"healthProbeTimeout,omitempty"`
	HealthThreshold     int32  `json:"healthThreshold,omitempty"`
}

// ActorRuntime is the actor subsystem's status.
type ActorRuntime struct {
	Status       string              `json:"runtimeStatus"`
	ActiveActors []ActiveActorsCount `json:"activeActors,omitempty"`
	HostReady    bool                `json:"hostReady"`
	Placement    string              `json:"placement,omitempty"`
}

// runtimeVersionKey is the extended attribute daprd still fills with its
// version for older clients.
const runtimeVersionKey = "daprRuntimeVersion"

// Metadata returns what GET /v1.0/metadata reports.
func (s *Sidecar) Metadata() Metadata {
	ext := s.extendedMetadata()
	ext[runtimeVersionKey] = s.cfg.RuntimeVersion
	md := Metadata{
		ID:             s.cfg.AppID,
		RuntimeVersion: s.cfg.RuntimeVersion,
		Extended:       ext,
		AppConnectionProperties: AppConnectionProperties{
			Protocol: s.cfg.AppProtocol,
		},
		// Without a placement (cove sidecar), as daprd reports it without
		// a placement service.
		ActorRuntime: ActorRuntime{Status: "DISABLED", Placement: "placement: disconnected"},
	}
	if s.cfg.Actors != nil {
		md.ActorRuntime = ActorRuntime{Status: "RUNNING", HostReady: true, Placement: "placement: connected"}
		if !s.cfg.Actors.PlacementConnected() {
			md.ActorRuntime.Placement = "placement: disconnected"
		}
		if h := s.actorHost(); h != nil {
			for _, a := range h.Active() {
				md.ActorRuntime.ActiveActors = append(md.ActorRuntime.ActiveActors, ActiveActorsCount{Type: a.Type, Count: int32(a.Count)})
			}
			md.ActiveActorsCount = md.ActorRuntime.ActiveActors
		}
	}
	if s.cfg.AppAddr != "" {
		host, port := appPort(s.cfg.AppAddr)
		md.AppConnectionProperties.ChannelAddress = host
		md.AppConnectionProperties.Port = int32(port)
	}
	if s.cfg.State != nil {
		for _, st := range s.cfg.State.Stores() {
			md.RegisteredComponents = append(md.RegisteredComponents, RegisteredComponent{
				Name: st.Name, Type: st.Type, Version: st.Version, Capabilities: st.Capabilities,
			})
		}
	}
	if s.cfg.Secrets != nil {
		for _, st := range s.cfg.Secrets.Stores() {
			md.RegisteredComponents = append(md.RegisteredComponents, RegisteredComponent{Name: st.Name, Type: st.Type, Version: st.Version})
		}
	}
	if s.cfg.Configuration != nil {
		for _, st := range s.cfg.Configuration.Stores() {
			md.RegisteredComponents = append(md.RegisteredComponents, RegisteredComponent{Name: st.Name, Type: st.Type, Version: st.Version})
		}
	}
	if s.cfg.Bindings != nil {
		for _, b := range s.cfg.Bindings.Bindings() {
			md.RegisteredComponents = append(md.RegisteredComponents, RegisteredComponent{Name: b.Name, Type: b.Type, Version: b.Version, Capabilities: b.Capabilities})
		}
	}
	if s.cfg.Lock != nil {
		for _, st := range s.cfg.Lock.Stores() {
			md.RegisteredComponents = append(md.RegisteredComponents, RegisteredComponent{Name: st.Name, Type: st.Type, Version: st.Version})
		}
	}
	if s.cfg.Pubsub != nil {
		for _, c := range s.cfg.Pubsub.Components() {
			md.RegisteredComponents = append(md.RegisteredComponents, RegisteredComponent{
				Name: c.Name, Type: c.Type, Version: c.Version, Capabilities: c.Capabilities,
			})
		}
	}
	for _, sc := range s.subscriptions() {
		out := Subscription{PubsubName: sc.Pubsub, Topic: sc.Topic, Metadata: sc.Metadata, DeadLetterTopic: sc.DeadLetterTopic, Type: sc.Type}
		for _, r := range sc.Rules {
			out.Rules = append(out.Rules, SubscriptionRule{Match: r.Match, Path: r.Path})
		}
		md.Subscriptions = append(md.Subscriptions, out)
	}
	return md
}
