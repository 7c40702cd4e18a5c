package spec

import "encoding/json"

// The types in this file model an ACA container app as `az containerapp
// create --yaml` accepts it and `az containerapp show -o yaml` prints it
// (Microsoft.App/containerApps, API version 2024-03-01 and the stable
// versions after it). JSON tags are the ACA property names; the decoder
// matches YAML keys against them exactly.

// ContainerApp is one ACA container app. ARM bookkeeping fields (id, type,
// systemData, ...) are accepted so that `az containerapp show` output loads
// unchanged; cove does not act on them.
type ContainerApp struct {
	Name             string            `json:"name"`
	Type             string            `json:"type,omitempty"`
	Location         string            `json:"location,omitempty"`
	Kind             string            `json:"kind,omitempty"`
	ID               string            `json:"id,omitempty"`
	ResourceGroup    string            `json:"resourceGroup,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	Identity         *ManagedIdentity  `json:"identity,omitempty"`
	SystemData       *SystemData       `json:"systemData,omitempty"`
	ManagedBy        string            `json:"managedBy,omitempty"`
	ExtendedLocation *ExtendedLocation `json:"extendedLocation,omitempty"`
	// ManagedEnvironmentID and EnvironmentID are accepted at the top level
	// as well as under properties, as the CLI's YAML allows.
	ManagedEnvironmentID string     `json:"managedEnvironmentId,omitempty"`
	EnvironmentID        string     `json:"environmentId,omitempty"`
	Properties           Properties `json:"properties"`
}

// Properties are the container app's resource properties. Configuration and
// Template are never nil after a successful parse.
type Properties struct {
	ManagedEnvironmentID string         `json:"managedEnvironmentId,omitempty"`
	EnvironmentID        string         `json:"environmentId,omitempty"`
	WorkloadProfileName  string         `json:"workloadProfileName,omitempty"`
	Configuration        *Configuration `json:"configuration"`
	Template             *Template      `json:"template"`

	// Read-only fields reported by ACA.
	ProvisioningState          string   `json:"provisioningState,omitempty"`
	RunningStatus              string   `json:"runningStatus,omitempty"`
	LatestRevisionName         string   `json:"latestRevisionName,omitempty"`
	LatestReadyRevisionName    string   `json:"latestReadyRevisionName,omitempty"`
	LatestRevisionFqdn         string   `json:"latestRevisionFqdn,omitempty"`
	CustomDomainVerificationID string   `json:"customDomainVerificationId,omitempty"`
	OutboundIPAddresses        []string `json:"outboundIpAddresses,omitempty"`
	EventStreamEndpoint        string   `json:"eventStreamEndpoint,omitempty"`
}

// ManagedIdentity is the ARM managed service identity of an app.
type ManagedIdentity struct {
	// Type is None, SystemAssigned, UserAssigned or "SystemAssigned,UserAssigned".
	Type                   string                           `json:"type,omitempty"`
	PrincipalID            string                           `json:"principalId,omitempty"`
	TenantID               string                           `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]*UserAssignedIdentity `json:"userAssignedIdentities,omitempty"`
}

// UserAssignedIdentity is the read-only detail of a user-assigned identity.
type UserAssignedIdentity struct {
	PrincipalID string `json:"principalId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
}

// SystemData is ARM's read-only creation and modification record.
type SystemData struct {
	CreatedBy          string `json:"createdBy,omitempty"`
	CreatedByType      string `json:"createdByType,omitempty"`
	CreatedAt          string `json:"createdAt,omitempty"`
	LastModifiedBy     string `json:"lastModifiedBy,omitempty"`
	LastModifiedByType string `json:"lastModifiedByType,omitempty"`
	LastModifiedAt     string `json:"lastModifiedAt,omitempty"`
}

// ExtendedLocation places an app on an Arc-connected environment.
type ExtendedLocation struct {
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
}

// Configuration holds the settings that do not create a new revision.
type Configuration struct {
	// ActiveRevisionsMode is Single (the default), Multiple or Labels.
	ActiveRevisionsMode string                `json:"activeRevisionsMode,omitempty"`
	Secrets             []Secret              `json:"secrets,omitempty"`
	Registries          []RegistryCredentials `json:"registries,omitempty"`
	Dapr                *Dapr                 `json:"dapr,omitempty"`
	Ingress             *Ingress              `json:"ingress,omitempty"`
	// MaxInactiveRevisions is nil when unset (ACA keeps 100).
	MaxInactiveRevisions *int               `json:"maxInactiveRevisions,omitempty"`
	Service              *Service           `json:"service,omitempty"`
	IdentitySettings     []IdentitySettings `json:"identitySettings,omitempty"`
	Runtime              *Runtime           `json:"runtime,omitempty"`
	// TargetLabel names the label that receives new revisions in Labels mode.
	TargetLabel string `json:"targetLabel,omitempty"`
}

// Secret is an app (or ACA component) secret: a literal value or a Key Vault
// reference.
type Secret struct {
	Name        string `json:"name"`
	Value       string `json:"value,omitempty"`
	KeyVaultURL string `json:"keyVaultUrl,omitempty"`
	Identity    string `json:"identity,omitempty"`
}

// RegistryCredentials are the credentials for a private container registry.
type RegistryCredentials struct {
	Server            string `json:"server"`
	Username          string `json:"username,omitempty"`
	PasswordSecretRef string `json:"passwordSecretRef,omitempty"`
	Identity          string `json:"identity,omitempty"`
}

// Dapr configures the app's Dapr sidecar.
type Dapr struct {
	Enabled bool   `json:"enabled"`
	AppID   string `json:"appId,omitempty"`
	// AppPort is the port the app listens on for the sidecar; 0 when unset.
	AppPort int `json:"appPort,omitempty"`
	// AppProtocol is http (the default) or grpc.
	AppProtocol        string `json:"appProtocol,omitempty"`
	EnableAPILogging   bool   `json:"enableApiLogging,omitempty"`
	HTTPMaxRequestSize int    `json:"httpMaxRequestSize,omitempty"` // MB
	HTTPReadBufferSize int    `json:"httpReadBufferSize,omitempty"` // KB
	// LogLevel is info, debug, warn or error.
	LogLevel string `json:"logLevel,omitempty"`
}

// Ingress exposes the app over HTTP or TCP.
type Ingress struct {
	External    bool `json:"external"`
	TargetPort  int  `json:"targetPort,omitempty"`
	ExposedPort int  `json:"exposedPort,omitempty"`
	// Transport is auto (the default), http, http2 or tcp.
	Transport     string `json:"transport,omitempty"`
	AllowInsecure bool   `json:"allowInsecure,omitempty"`
	// TargetPortHTTPScheme is http (the default) or https: whether an HTTP
	// app serves HTTPS on its target port.
	TargetPortHTTPScheme   string                  `json:"targetPortHttpScheme,omitempty"`
	FQDN                   string                  `json:"fqdn,omitempty"` // read-only
	Traffic                []TrafficWeight         `json:"traffic,omitempty"`
	CustomDomains          []CustomDomain          `json:"customDomains,omitempty"`
	IPSecurityRestrictions []IPSecurityRestriction `json:"ipSecurityRestrictions,omitempty"`
	StickySessions         *StickySessions         `json:"stickySessions,omitempty"`
	// ClientCertificateMode is ignore, accept or require.
	ClientCertificateMode  string               `json:"clientCertificateMode,omitempty"`
	CORSPolicy             *CORSPolicy          `json:"corsPolicy,omitempty"`
	AdditionalPortMappings []IngressPortMapping `json:"additionalPortMappings,omitempty"`
}

// TrafficWeight sends a share of the app's traffic to a revision.
type TrafficWeight struct {
	RevisionName   string `json:"revisionName,omitempty"`
	LatestRevision bool   `json:"latestRevision,omitempty"`
	Weight         int    `json:"weight"`
	Label          string `json:"label,omitempty"`
}

// CustomDomain binds a host name to the app.
type CustomDomain struct {
	Name string `json:"name"`
	// BindingType is Disabled or SniEnabled.
	BindingType   string `json:"bindingType,omitempty"`
	CertificateID string `json:"certificateId,omitempty"`
}

// IPSecurityRestriction allows or denies a source address range.
type IPSecurityRestriction struct {
	Name           string `json:"name"`
	Description    string `json:"description,omitempty"`
	IPAddressRange string `json:"ipAddressRange"`
	// Action is Allow or Deny; all rules of an app share one action.
	Action string `json:"action"`
}

// StickySessions configures session affinity.
type StickySessions struct {
	// Affinity is sticky or none.
	Affinity string `json:"affinity,omitempty"`
}

// CORSPolicy is the ingress's cross-origin policy.
type CORSPolicy struct {
	AllowedOrigins   []string `json:"allowedOrigins"`
	AllowedMethods   []string `json:"allowedMethods,omitempty"`
	AllowedHeaders   []string `json:"allowedHeaders,omitempty"`
	ExposeHeaders    []string `json:"exposeHeaders,omitempty"`
	MaxAge           int      `json:"maxAge,omitempty"`
	AllowCredentials bool     `json:"allowCredentials,omitempty"`
}

// IngressPortMapping exposes an additional port of the app.
type IngressPortMapping struct {
	External   bool `json:"external"`
	TargetPort int  `json:"targetPort"`
	// ExposedPort defaults to TargetPort when 0.
	ExposedPort int `json:"exposedPort,omitempty"`
}

// Service makes the app a dev service (a managed add-on such as Redis).
type Service struct {
	Type string `json:"type"`
}

// IdentitySettings limit when a managed identity is available.
type IdentitySettings struct {
	Identity string `json:"identity"`
	// Lifecycle is Init, Main, None or All (the default).
	Lifecycle string `json:"lifecycle,omitempty"`
}

// Runtime holds language runtime settings.
type Runtime struct {
	Java *JavaRuntime `json:"java,omitempty"`
}

// JavaRuntime holds Java runtime settings.
type JavaRuntime struct {
	EnableMetrics bool `json:"enableMetrics,omitempty"`
}

// Template is the versioned part of the app: changing it creates a revision.
type Template struct {
	RevisionSuffix string `json:"revisionSuffix,omitempty"`
	// TerminationGracePeriodSeconds is nil when unset (ACA waits 30 seconds).
	TerminationGracePeriodSeconds *int64           `json:"terminationGracePeriodSeconds,omitempty"`
	InitContainers                []*InitContainer `json:"initContainers,omitempty"`
	Containers                    []*Container     `json:"containers"`
	// Scale is never nil after a successful parse.
	Scale        *Scale        `json:"scale,omitempty"`
	Volumes      []Volume      `json:"volumes,omitempty"`
	ServiceBinds []ServiceBind `json:"serviceBinds,omitempty"`
}

// BaseContainer holds what app containers and init containers share.
type BaseContainer struct {
	Name         string              `json:"name"`
	Image        string              `json:"image"`
	Command      []string            `json:"command,omitempty"`
	Args         []string            `json:"args,omitempty"`
	Env          []EnvVar            `json:"env,omitempty"`
	Resources    *ContainerResources `json:"resources,omitempty"`
	VolumeMounts []VolumeMount       `json:"volumeMounts,omitempty"`
}

// Container is an app container.
type Container struct {
	BaseContainer
	Probes []*Probe `json:"probes,omitempty"`
}

// InitContainer runs to completion before the app containers start.
type InitContainer struct {
	BaseContainer
}

// EnvVar is a container environment variable: a literal or a secret.
type EnvVar struct {
	Name      string `json:"name"`
	Value     string `json:"value,omitempty"`
	SecretRef string `json:"secretRef,omitempty"`
}

// MarshalJSON writes value unless the variable is a secretRef, so that an
// empty value stays a value.
func (e EnvVar) MarshalJSON() ([]byte, error) {
	if e.SecretRef != "" {
		return json.Marshal(struct {
			Name      string `json:"name"`
			SecretRef string `json:"secretRef"`
		}{e.Name, e.SecretRef})
	}
	return json.Marshal(struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}{e.Name, e.Value})
}

// ContainerResources are a container's CPU and memory.
type ContainerResources struct {
	CPU              float64 `json:"cpu,omitempty"`              // cores, e.g. 0.5
	Memory           string  `json:"memory,omitempty"`           // e.g. "1Gi"
	EphemeralStorage string  `json:"ephemeralStorage,omitempty"` // read-only, e.g. "2Gi"
}

// Probe is a health check.
type Probe struct {
	// Type is Liveness, Readiness or Startup.
	Type      string           `json:"type"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	// The timing settings are nil when unset; ACA's defaults are 0, 10, 1, 1
	// and 3.
	InitialDelaySeconds           *int   `json:"initialDelaySeconds,omitempty"`
	PeriodSeconds                 *int   `json:"periodSeconds,omitempty"`
	TimeoutSeconds                *int   `json:"timeoutSeconds,omitempty"`
	SuccessThreshold              *int   `json:"successThreshold,omitempty"`
	FailureThreshold              *int   `json:"failureThreshold,omitempty"`
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// HTTPGetAction is an HTTP probe request.
type HTTPGetAction struct {
	Path        string       `json:"path,omitempty"`
	Port        int          `json:"port"`
	Host        string       `json:"host,omitempty"`
	Scheme      string       `json:"scheme,omitempty"` // HTTP or HTTPS
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is a header sent with an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction is a TCP connect probe.
type TCPSocketAction struct {
	Host string `json:"host,omitempty"`
	Port int    `json:"port"`
}

// VolumeMount mounts a volume into a container.
type VolumeMount struct {
	VolumeName string `json:"volumeName"`
	MountPath  string `json:"mountPath"`
	SubPath    string `json:"subPath,omitempty"`
}

// Scale bounds the replica count and says what drives it.
type Scale struct {
	MinReplicas int `json:"minReplicas"`
	// MaxReplicas is 10 after parse when the file leaves it unset.
	MaxReplicas int `json:"maxReplicas,omitempty"`
	// CooldownPeriod and PollingInterval are nil when unset (300 and 30 seconds).
	CooldownPeriod  *int        `json:"cooldownPeriod,omitempty"`
	PollingInterval *int        `json:"pollingInterval,omitempty"`
	Rules           []ScaleRule `json:"rules,omitempty"`
}

// ScaleRule is one scaler; exactly one of its kinds is set.
type ScaleRule struct {
	Name       string          `json:"name"`
	HTTP       *HTTPScaleRule  `json:"http,omitempty"`
	TCP        *TCPScaleRule   `json:"tcp,omitempty"`
	Custom     *CustomScale    `json:"custom,omitempty"`
	AzureQueue *AzureQueueRule `json:"azureQueue,omitempty"`
}

// HTTPScaleRule scales on concurrent HTTP requests.
type HTTPScaleRule struct {
	Metadata map[string]string `json:"metadata,omitempty"`
	Auth     []ScaleRuleAuth   `json:"auth,omitempty"`
	Identity string            `json:"identity,omitempty"`
}

// TCPScaleRule scales on concurrent TCP connections.
type TCPScaleRule = HTTPScaleRule

// CustomScale is a KEDA scaler named by type.
type CustomScale struct {
	Type     string            `json:"type"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Auth     []ScaleRuleAuth   `json:"auth,omitempty"`
	Identity string            `json:"identity,omitempty"`
}

// AzureQueueRule scales on an Azure Storage queue's length.
type AzureQueueRule struct {
	QueueName   string          `json:"queueName"`
	QueueLength int             `json:"queueLength"`
	AccountName string          `json:"accountName,omitempty"`
	Auth        []ScaleRuleAuth `json:"auth,omitempty"`
	Identity    string          `json:"identity,omitempty"`
}

// ScaleRuleAuth passes a secret to a scaler parameter.
type ScaleRuleAuth struct {
	SecretRef        string `json:"secretRef"`
	TriggerParameter string `json:"triggerParameter"`
}

// Volume is storage the app's containers can mount.
type Volume struct {
	Name string `json:"name"`
	// StorageType is AzureFile, EmptyDir (the default), Secret or NfsAzureFile.
	StorageType  string             `json:"storageType,omitempty"`
	StorageName  string             `json:"storageName,omitempty"`
	Secrets      []SecretVolumeItem `json:"secrets,omitempty"`
	MountOptions string             `json:"mountOptions,omitempty"`
}

// SecretVolumeItem projects one secret into a Secret volume.
type SecretVolumeItem struct {
	SecretRef string `json:"secretRef"`
	Path      string `json:"path,omitempty"`
}

// ServiceBind binds the app to a dev service.
type ServiceBind struct {
	ServiceID string `json:"serviceId"`
	Name      string `json:"name,omitempty"`
}

// DefaultMaxReplicas is ACA's replica ceiling when scale.maxReplicas is unset.
const DefaultMaxReplicas = 10

// DaprEnabled reports whether the app runs with a Dapr sidecar.
func (a *ContainerApp) DaprEnabled() bool {
	c := a.Properties.Configuration
	return c != nil && c.Dapr != nil && c.Dapr.Enabled
}

// DaprAppID returns the app's Dapr app id: dapr.appId, or the app name when
// that is unset (what ACA does). It is "" when Dapr is not enabled.
func (a *ContainerApp) DaprAppID() string {
	if !a.DaprEnabled() {
		return ""
	}
	if id := a.Properties.Configuration.Dapr.AppID; id != "" {
		return id
	}
	return a.Name
}

// DaprAppPort returns the port the sidecar calls the app on, or 0 when the
// app has none (it only calls out) or Dapr is not enabled.
func (a *ContainerApp) DaprAppPort() int {
	if !a.DaprEnabled() {
		return 0
	}
	return a.Properties.Configuration.Dapr.AppPort
}

// IngressEnabled reports whether the app accepts inbound traffic.
func (a *ContainerApp) IngressEnabled() bool {
	c := a.Properties.Configuration
	return c != nil && c.Ingress != nil
}

// TargetPort returns the port ingress sends traffic to, or 0 without ingress.
func (a *ContainerApp) TargetPort() int {
	if !a.IngressEnabled() {
		return 0
	}
	return a.Properties.Configuration.Ingress.TargetPort
}

// MinReplicas returns scale.minReplicas as written (ACA's default is 0). It
// is the raw value: until cove scales to zero, callers run at least one
// replica when it is 0.
func (a *ContainerApp) MinReplicas() int {
	if t := a.Properties.Template; t != nil && t.Scale != nil {
		return t.Scale.MinReplicas
	}
	return 0
}

// MaxReplicas returns scale.maxReplicas, or ACA's default of 10 when unset.
func (a *ContainerApp) MaxReplicas() int {
	if t := a.Properties.Template; t != nil && t.Scale != nil && t.Scale.MaxReplicas > 0 {
		return t.Scale.MaxReplicas
	}
	return DefaultMaxReplicas
}

// SecretValue resolves an app secret for a local run: a local value (from
// the environment file) wins, then the secret's literal value. It returns
// false when the secret is not declared, or has no value cove can read: a
// Key Vault reference (cove cannot reach Key Vault) or an empty value (as
// `az containerapp show` prints secrets) without a local value.
func (a *ContainerApp) SecretValue(name string, local map[string]string) (string, bool) {
	c := a.Properties.Configuration
	if c == nil {
		return "", false
	}
	for _, s := range c.Secrets {
		if s.Name != name {
			continue
		}
		if v, ok := local[name]; ok {
			return v, true
		}
		if s.KeyVaultURL != "" || s.Value == "" {
			return "", false
		}
		return s.Value, true
	}
	return "", false
}
