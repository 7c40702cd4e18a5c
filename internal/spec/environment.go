package spec

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults of the environment file.
const (
	DefaultDomain      = "localhost"
	DefaultEdgeAddress = "127.0.0.1"
	DefaultEdgeHTTP    = 8080

	maxFileSize = 8 << 20 // bytes; far above any real app or component file
)

// Environment is a loaded cove environment: the environment file and every
// file it references, validated together.
type Environment struct {
	File string `json:"file"` // absolute path of the environment file
	// Given is the path as given to Load. Loading it again from the same
	// directory names every file as before, so problems and the files'
	// names in components and resources compare equal when nothing changed.
	Given      string            `json:"-"`
	Dir        string            `json:"dir"` // its directory; relative paths resolve against it
	Name       string            `json:"name"`
	Domain     string            `json:"domain"`
	Edge       Edge              `json:"edge"`
	Apps       []*AppEntry       `json:"apps"` // in file order
	Components []*ComponentEntry `json:"components"`
	// Resiliency are the Dapr Resiliency resources sidecars apply (each to
	// the apps in its scopes); DaprConfig is the Dapr Configuration of apps
	// that name none of their own. See daprresources.go.
	Resiliency []*Resiliency      `json:"resiliency,omitempty"`
	DaprConfig *DaprConfiguration `json:"configuration,omitempty"`
	// Subscriptions are the declarative pub/sub subscriptions, each for the
	// apps in its scopes.
	Subscriptions []*Subscription `json:"subscriptions,omitempty"`
	// Certificates serve custom domains (see certificates.go).
	Certificates []*CertificateEntry `json:"certificates,omitempty"`
	// Storages are the environment's storages (`az containerapp env
	// storage set`) as local directories, by name, absolute: what
	// container-mode apps mount for AzureFile volumes.
	Storages map[string]string `json:"storages,omitempty"`
	Warnings Problems          `json:"warnings,omitempty"`
}

// Edge is where the environment's ingress edge listens.
type Edge struct {
	Address  string `json:"address"`
	HTTPPort int    `json:"httpPort"`
	// HTTPSPort is the HTTPS port when set; zero means the default (8443,
	// or a free port when it is taken).
	HTTPSPort int `json:"httpsPort,omitempty"`
	// RequestTimeout is how long an app may take to send its response
	// headers through the edge, as a Go duration ("240s", "10m"); empty
	// means ACA's 240 seconds.
	RequestTimeout string `json:"requestTimeout,omitempty"`
	// AppNames, true unless set false, has replicas resolve the apps'
	// names (`<app>`, `<app>.internal.<domain>`) to addresses where the
	// edge serves each app's TCP ports, through a hosts file of the
	// environment's own (Linux).
	AppNames *bool `json:"appNames,omitempty"`
}

// Names reports whether replicas resolve app names (AppNames).
func (e Edge) Names() bool { return e.AppNames == nil || *e.AppNames }

// Timeout returns RequestTimeout as a duration; zero when unset.
func (e Edge) Timeout() time.Duration {
	d, _ := time.ParseDuration(e.RequestTimeout)
	return d
}

// AppEntry is one app of the environment: its ACA YAML and how to run it as a
// local process.
type AppEntry struct {
	File  string `json:"file"` // as written in the environment file
	Path  string `json:"path"` // absolute
	Build string `json:"build,omitempty"`
	// Runtime is RuntimeProcess (Command runs the app) or
	// RuntimeContainer (the engine runs the template's images).
	Runtime string `json:"runtime"`
	// Network is NetworkHost or empty (a process replica shares the machine's
	// network and gets a free PORT) or NetworkNamespace (each process
	// replica has a network namespace of its own and listens on the app's
	// own port); container replicas always have their own.
	Network string `json:"network,omitempty"`
	// HostPorts are ports of the machine's loopback a replica in a
	// network namespace reaches at the same ports of its own.
	HostPorts []int `json:"hostPorts,omitempty"`
	// Command runs the app in process mode. With Shell it holds one
	// element, a script for /bin/sh -c; otherwise it is an argv to exec.
	Command []string          `json:"command"`
	Shell   bool              `json:"shell,omitempty"`
	Dir     string            `json:"dir"` // absolute working directory
	Env     map[string]string `json:"env,omitempty"`
	// Secrets are local values for the app's ACA secrets; they are kept out
	// of JSON so the management API does not serve them.
	Secrets map[string]string `json:"-"`
	// ContainerCommands run the template's containers and init containers
	// in process mode, by container name; containers[0] runs Command.
	ContainerCommands map[string]*ContainerCommand `json:"containerCommands,omitempty"`
	App               *ContainerApp                `json:"app"`
	// DaprConfig is the Dapr Configuration the app's sidecar uses: its own
	// or the environment's; nil when neither is given.
	DaprConfig *DaprConfiguration `json:"configuration,omitempty"`
}

// ContainerCommand is how one container of a process-mode app runs.
type ContainerCommand struct {
	// Command and Shell mean what AppEntry's do.
	Command []string `json:"command"`
	Shell   bool     `json:"shell,omitempty"`
	// Dir is absolute; it defaults to the app's.
	Dir string `json:"dir"`
	// Env adds to the app's env, for this container only.
	Env map[string]string `json:"env,omitempty"`
}

// Containers reports whether the engine runs the app's images.
func (a *AppEntry) Containers() bool { return a.Runtime == RuntimeContainer }

// Namespaced reports whether each of the app's process replicas runs in a
// network namespace of its own.
func (a *AppEntry) Namespaced() bool {
	return a.Runtime == RuntimeProcess && a.Network == NetworkNamespace
}

// ComponentEntry is one Dapr component of the environment.
type ComponentEntry struct {
	Name      string     `json:"name"`
	File      string     `json:"file"` // as written in the environment file
	Path      string     `json:"path"` // absolute
	Component *Component `json:"component"`
}

// envFile is the YAML shape of cove.yaml.
type envFile struct {
	Name       string           `json:"name"`
	Domain     string           `json:"domain"`
	Edge       *Edge            `json:"edge"`
	Apps       []appEntryFile   `json:"apps"`
	Components []componentEntry `json:"components"`
	Resiliency []fileRef        `json:"resiliency"`
	DaprConfig *fileRef         `json:"configuration"`
	// Subscriptions are declarative Dapr Subscription files.
	Subscriptions []fileRef `json:"subscriptions"`
	// Certificates are custom domains' certificates (certificates.go).
	Certificates []certificateFile `json:"certificates"`
	// Storages map storage names to local directories.
	Storages map[string]string `json:"storages"`
}

type appEntryFile struct {
	Name       string            `json:"name"`
	File       string            `json:"file"`
	Build      string            `json:"build"`
	Runtime    string            `json:"runtime"`
	Network    networkFile       `json:"network"`
	Command    commandLine       `json:"command"`
	Dir        string            `json:"dir"`
	Env        map[string]string `json:"env"`
	Secrets    map[string]string `json:"secrets"`
	DaprConfig *fileRef          `json:"configuration"`
	// Containers run the template's other containers and init containers
	// in process mode, by name.
	Containers map[string]containerFile `json:"containers"`
}

// networkFile is an app's network: a mode alone (network: namespace), or
// a block with the machine's ports relayed in.
type networkFile struct {
	Mode      string `json:"mode"`
	HostPorts []int  `json:"hostPorts"`
}

func (n *networkFile) unmarshalNode(d *decoder, node *yaml.Node, path string) {
	if node.Kind == yaml.ScalarNode {
		n.Mode = node.Value
		return
	}
	type plain networkFile // without this method
	d.decode(node, path, reflectValue((*plain)(n)))
}

type containerFile struct {
	Command commandLine       `json:"command"`
	Dir     string            `json:"dir"`
	Env     map[string]string `json:"env"`
}

type componentEntry struct {
	Name string `json:"name"`
	File string `json:"file"`
}

// commandLine is a command written as a string (run by the shell) or a list
// (exec'd as is).
type commandLine struct {
	args  []string
	shell bool
}

func (c *commandLine) unmarshalNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		c.args, c.shell = []string{n.Value}, true
		// A plain command line needs no shell: exec'd directly, the app is
		// the replica's process itself, so signals and the parent-death
		// signal reach it rather than a shell that would leave it orphaned.
		if fields := strings.Fields(n.Value); len(fields) > 0 && !strings.ContainsAny(n.Value, shellSyntax) {
			c.args, c.shell = fields, false
		}
	case yaml.SequenceNode:
		d.decode(n, path, reflectValue(&c.args))
	default:
		d.typeErrorf(n, path, "expected a command string or a list of arguments, got %s", describe(n))
	}
}

// shellSyntax lists the characters that make a command string need a shell.
const shellSyntax = "$`\"'\\|&;<>(){}[]*?~#=\n!"

const commandExample = `a process-mode app needs a command saying how to run it, ` +
	`e.g. command: go run ./backend, or command: [.cove/bin/backend, --port, "8000"]; ` +
	`or leave it out and set runtime: container to run the app's images`

// The networks a process replica runs in (AppEntry.Network).
const (
	NetworkHost      = "host"
	NetworkNamespace = "namespace"
)

// The ports a replica's Dapr sidecar has inside its network namespace, as
// in ACA.
const (
	NamespaceDaprHTTPPort = 3500
	NamespaceDaprGRPCPort = 50001
)

// The runtimes an app runs in (AppEntry.Runtime).
const (
	RuntimeProcess   = "process"
	RuntimeContainer = "container"
)

// Load reads the environment file and every file it references, validates
// everything, and returns the environment, or an error of type Problems
// listing every problem (errors only; warnings are on the Environment).
func Load(path string) (*Environment, error) { return LoadWith(path, Options{}) }

// Options add checks only the caller can make to a parse, so that their
// problems come in the same pass as every other.
type Options struct {
	// CheckComponent, when set, says why a component's type cannot run
	// (not registered, a kind not run yet), nil when it can. Its error is
	// reported at the component's type: as an error, or as a warning when
	// the component says ignoreErrors (it is then skipped at start, as
	// daprd skips a component that fails).
	CheckComponent func(*Component) error
}

// LoadWith is Load with the caller's checks.
func LoadWith(path string, opts Options) (*Environment, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Problems{{File: path, Message: fmt.Sprintf("cannot resolve the path: %v", err)}}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, Problems{{File: path, Message: "cannot read the environment file: " + readError(err)}}
	}
	l := &loader{path: path, base: filepath.Dir(path), env: &Environment{File: abs, Given: path, Dir: filepath.Dir(abs)}, opts: opts}
	l.load(data)
	var all Problems
	for _, d := range l.decoders {
		all = append(all, d.probs...)
	}
	all = all.sorted()
	if errs := all.Errors(); len(errs) > 0 {
		return nil, errs
	}
	for _, a := range l.apps {
		a.parse.applyDefaults()
	}
	l.env.Warnings = all.Warnings()
	return l.env, nil
}

// loader holds the state of one Load.
type loader struct {
	path, base string // the environment file and its directory, as given
	opts       Options
	env        *Environment
	d          *decoder   // the environment file's
	decoders   []*decoder // every file's, in report order
	apps       []*loadedApp
	comps      []*loadedComponent
	resiliency []*resiliencyParse
}

type loadedApp struct {
	entry *AppEntry
	path  string // of the entry in the environment file
	parse *appParse
}

type loadedComponent struct {
	entry *ComponentEntry
	path  string
	parse *componentParse
}

// display names a referenced file in problems: relative to where the user
// pointed Load, like the environment file itself.
func (l *loader) display(file string) string {
	if filepath.IsAbs(file) {
		return filepath.Clean(file)
	}
	return filepath.Join(l.base, file)
}

func (l *loader) resolve(file string) string {
	if filepath.IsAbs(file) {
		return filepath.Clean(file)
	}
	return filepath.Join(l.env.Dir, file)
}

func (l *loader) load(data []byte) {
	l.d = newDecoder(l.path)
	l.decoders = append(l.decoders, l.d)
	var f envFile
	if root := l.d.parse(data); root != nil {
		l.d.decodeDocument(root, &f)
	}
	l.settings(&f)
	l.storages(f.Storages)
	l.certificates(f.Certificates)
	if len(f.Apps) == 0 && l.d.probs.Err() == nil {
		l.d.errorf("apps", "required: at least one app (file: its ACA YAML, command: how to run it)")
	}
	for i := range f.Apps {
		l.app(indexPath("apps", i), &f.Apps[i])
	}
	for i := range f.Components {
		l.component(indexPath("components", i), &f.Components[i])
	}
	l.daprResources(&f)
	l.crossChecks()
	l.resiliencyChecks()
	l.volumeChecks()
}

// storages resolves the environment's storages to directories that exist.
func (l *loader) storages(m map[string]string) {
	for name, dir := range m {
		field := fieldPath("storages", name)
		path := l.resolve(dir)
		st, err := os.Stat(path)
		switch {
		case err != nil:
			l.d.errorf(field, "%s: %s; create the directory or point the storage at one", dir, readError(err))
			continue
		case !st.IsDir():
			l.d.errorf(field, "%s is not a directory", dir)
			continue
		}
		if l.env.Storages == nil {
			l.env.Storages = map[string]string{}
		}
		l.env.Storages[name] = path
	}
}

// volumeChecks reports the AzureFile volumes of container-mode apps whose
// storage has no local directory.
func (l *loader) volumeChecks() {
	for _, la := range l.apps {
		if !la.entry.Containers() || la.entry.App == nil {
			continue
		}
		for i, v := range la.entry.App.Properties.Template.Volumes {
			if v.StorageType != "AzureFile" {
				continue
			}
			if _, ok := l.env.Storages[v.StorageName]; !ok {
				la.parse.d.errorf(fmt.Sprintf("properties.template.volumes[%d].storageName", i),
					"storage %q has no local directory; map it in %s, e.g. storages: {%s: ./data}", v.StorageName, filepath.Base(l.path), cmp.Or(v.StorageName, "files"))
			}
		}
	}
}

var badNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

func (l *loader) settings(f *envFile) {
	d, env := l.d, l.env
	env.Name = f.Name
	if env.Name == "" {
		env.Name = strings.Trim(badNameChars.ReplaceAllString(strings.ToLower(filepath.Base(env.Dir)), "-"), "-")
		if env.Name == "" {
			env.Name = "cove"
		}
	} else if len(env.Name) > 63 || !envNameRE.MatchString(env.Name) {
		d.errorf("name", "%q is not a valid environment name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", env.Name)
	}
	env.Domain = f.Domain
	if env.Domain == "" {
		env.Domain = DefaultDomain
	} else if len(env.Domain) > 253 || !dnsSuffixRE.MatchString(env.Domain) {
		d.errorf("domain", "%q is not a lowercase DNS name such as localhost or apps.test", env.Domain)
	}
	env.Edge = Edge{Address: DefaultEdgeAddress, HTTPPort: DefaultEdgeHTTP}
	if e := f.Edge; e != nil {
		if e.Address != "" {
			env.Edge.Address = e.Address
			if _, err := netip.ParseAddr(e.Address); err != nil && e.Address != "localhost" {
				d.errorf("edge.address", "%q is not an IP address to listen on, such as 127.0.0.1 or 0.0.0.0", e.Address)
			}
		}
		if d.has("edge.httpPort") {
			env.Edge.HTTPPort = e.HTTPPort
			d.port("edge.httpPort", e.HTTPPort)
		}
		env.Edge.AppNames = e.AppNames
		if d.has("edge.requestTimeout") {
			env.Edge.RequestTimeout = e.RequestTimeout
			if t, err := time.ParseDuration(e.RequestTimeout); err != nil || t <= 0 {
				d.errorf("edge.requestTimeout", "%q is not a positive duration such as 240s or 10m", e.RequestTimeout)
			}
		}
		if d.has("edge.httpsPort") {
			env.Edge.HTTPSPort = e.HTTPSPort
			d.port("edge.httpsPort", e.HTTPSPort)
			if e.HTTPSPort == env.Edge.HTTPPort {
				d.errorf("edge.httpsPort", "%d is also edge.httpPort; give HTTP and HTTPS different ports", e.HTTPSPort)
			}
		}
	}
}

// readFile reads a referenced file, reporting a failure at the field that
// names it (with the path as written).
// Only regular files of reasonable size are read, so that a path such as
// /dev/zero or a FIFO cannot hang or exhaust a load.
func (l *loader) readFile(field, file string) ([]byte, bool) {
	path := l.resolve(file)
	st, err := os.Stat(path)
	switch {
	case err != nil:
		l.d.errorf(field, "%s: %s", file, readError(err))
		return nil, false
	case !st.Mode().IsRegular():
		l.d.errorf(field, "%s is not a regular file", file)
		return nil, false
	case st.Size() > maxFileSize:
		l.d.errorf(field, "%s is larger than %d MiB; it cannot be a container app or component", file, maxFileSize>>20)
		return nil, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.d.errorf(field, "%s: %s", file, readError(err))
		return nil, false
	}
	return data, true
}

func readError(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return err.Error()
}

func (l *loader) app(ap string, f *appEntryFile) {
	d, env := l.d, l.env
	entry := &AppEntry{File: f.File, Build: f.Build, Runtime: f.Runtime, Command: f.Command.args, Shell: f.Command.shell, Env: f.Env, Secrets: f.Secrets}
	switch f.Runtime {
	case "":
		// Without a command the app is its images, as in ACA.
		entry.Runtime = RuntimeProcess
		if !d.has(ap+".command") && !d.has(ap+".containers") {
			entry.Runtime = RuntimeContainer
		}
	case RuntimeProcess, RuntimeContainer:
	default:
		d.errorf(ap+".runtime", "%q is not a runtime; use process (cove.yaml's command runs the app) or container (the engine runs the app's images)", f.Runtime)
	}
	switch {
	case entry.Runtime != RuntimeProcess && entry.Runtime != RuntimeContainer:
		// Reported above; which fields apply is unknown.
	case entry.Runtime == RuntimeContainer:
		if d.has(ap + ".command") {
			d.errorf(ap+".command", "a container-mode app runs its images; remove the command, or set runtime: process to run the command")
		}
		if f.Build != "" {
			d.errorf(ap+".build", "a container-mode app runs its images as they are; build the image beforehand, or set runtime: process")
		}
		if d.has(ap + ".containers") {
			d.errorf(ap+".containers", "a container-mode app runs its images; remove containers, or set runtime: process to run their commands")
		}
	case !d.has(ap+".command") && !d.has(ap+".containers"):
		d.errorf(ap+".command", "required: %s", commandExample)
	case d.has(ap + ".command"):
		checkCommand(d, ap+".command", f.Command)
	}
	l.network(ap, entry, f.Network)
	entry.Dir = env.Dir
	if f.Dir != "" {
		entry.Dir = l.dir(ap+".dir", f.Dir)
	}
	for k := range f.Env {
		if !envVarNameRE.MatchString(k) {
			d.errorf(fieldPath(ap+".env", k), "%q is not an environment variable name", k)
		}
	}
	if f.Name != "" {
		if msg := appNameProblem(f.Name); msg != "" {
			d.errorf(ap+".name", "%s", msg)
		}
	}
	if !d.requiredString(ap+".file", f.File, "the app's ACA container app YAML, e.g. backend/containerapp.yaml") {
		return
	}
	entry.Path = l.resolve(f.File)
	data, ok := l.readFile(ap+".file", f.File)
	if !ok {
		return
	}
	p := parseApp(l.display(f.File), data, false)
	l.decoders = append(l.decoders, p.d)
	if p.app == nil {
		return
	}
	entry.App = p.app
	if entry.Runtime == RuntimeProcess {
		l.containerCommands(ap, entry, f)
	}
	if entry.Namespaced() {
		l.ownPorts(ap, entry)
	}
	switch {
	case p.app.Name == "" && f.Name == "":
		p.d.errorf("name", "required: the container app's name; write it here or as name: in %s (%s)", l.path, ap)
	case p.app.Name == "":
		p.app.Name = f.Name
	case f.Name != "" && f.Name != p.app.Name:
		d.errorf(ap+".name", "%q does not match the name %q in %s; make them the same", f.Name, p.app.Name, f.File)
	}
	for name := range f.Secrets {
		if _, ok := p.secrets[name]; !ok {
			msg := fmt.Sprintf("%s declares no secret %q", f.File, name)
			if s := suggest(name, slices.Collect(maps.Keys(p.secrets))); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(fieldPath(ap+".secrets", name), "%s", msg)
		}
	}
	l.secretValues(ap, p, f.Secrets)
	env.Apps = append(env.Apps, entry)
	l.apps = append(l.apps, &loadedApp{entry: entry, path: ap, parse: p})
}

// network checks the app's network and fills in entry's.
func (l *loader) network(ap string, entry *AppEntry, f networkFile) {
	d, np := l.d, ap+".network"
	entry.Network, entry.HostPorts = f.Mode, f.HostPorts
	if d.has(np) && f.Mode == "" {
		d.errorf(np+".mode", "required: %s (each replica in a network namespace of its own) or %s", NetworkNamespace, NetworkHost)
		return
	}
	switch entry.Network {
	case "", NetworkHost, NetworkNamespace:
	default:
		d.errorf(cmp.Or(pathIf(d, np+".mode"), np), "%q is not a network; use %s (each replica in a network namespace of its own, listening on the app's port) or %s (the machine's network, a free port in $PORT)", entry.Network, NetworkNamespace, NetworkHost)
		return
	}
	if entry.Network == NetworkNamespace && entry.Runtime == RuntimeContainer {
		d.errorf(np, "a container-mode app's replicas have a network namespace each already; remove network, or set runtime: process")
		return
	}
	if len(f.HostPorts) > 0 && entry.Network != NetworkNamespace {
		d.errorf(np+".hostPorts", "hostPorts relay the machine's ports into a replica's network namespace; set mode: %s, or remove hostPorts (without a namespace the app reaches them directly)", NetworkNamespace)
		return
	}
	seen := map[int]bool{}
	for i, p := range f.HostPorts {
		pp := indexPath(np+".hostPorts", i)
		switch {
		case p < 1 || p > 65535:
			d.errorf(pp, "port %d is out of range 1-65535", p)
		case p == NamespaceDaprHTTPPort || p == NamespaceDaprGRPCPort:
			d.errorf(pp, "port %d is the Dapr sidecar's inside the namespace; relay the service from another port", p)
		case seen[p]:
			d.errorf(pp, "port %d is listed twice", p)
		}
		seen[p] = true
	}
}

// pathIf returns path when the file has it, else "".
func pathIf(d *decoder, path string) string {
	if d.has(path) {
		return path
	}
	return ""
}

// ownPorts checks that a namespaced app's hostPorts leave its own ports
// (ingress targetPort, additional ports, Dapr appPort) free for it.
func (l *loader) ownPorts(ap string, entry *AppEntry) {
	own := map[int]bool{entry.App.DaprAppPort(): true}
	if in := entry.App.Properties.Configuration.Ingress; in != nil {
		own[in.TargetPort] = true
		for _, m := range in.AdditionalPortMappings {
			own[m.TargetPort] = true
		}
	}
	for i, p := range entry.HostPorts {
		if p != 0 && own[p] {
			l.d.errorf(indexPath(ap+".network.hostPorts", i), "port %d is the app's own (%s); the app listens on it inside its namespace", p, entry.File)
		}
	}
}

// containerCommands checks the app's containers: against its template, and
// fills in entry.ContainerCommands.
func (l *loader) containerCommands(ap string, entry *AppEntry, f *appEntryFile) {
	d, tmpl := l.d, entry.App.Properties.Template
	if len(tmpl.Containers) == 0 {
		return // the app file's own error
	}
	var names []string
	for _, c := range tmpl.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range tmpl.Containers {
		names = append(names, c.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(f.Containers)) {
		cf, cp := f.Containers[name], fieldPath(ap+".containers", name)
		if !slices.Contains(names, name) {
			msg := fmt.Sprintf("%s has no container or init container %q", f.File, name)
			if s := suggest(name, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(cp, "%s", msg)
			continue
		}
		if !d.has(cp + ".command") {
			d.errorf(cp+".command", "required: how to run container %s, e.g. command: ./%s", name, name)
			continue
		}
		if !checkCommand(d, cp+".command", cf.Command) {
			continue
		}
		for k := range cf.Env {
			if !envVarNameRE.MatchString(k) {
				d.errorf(fieldPath(cp+".env", k), "%q is not an environment variable name", k)
			}
		}
		cc := &ContainerCommand{Command: cf.Command.args, Shell: cf.Command.shell, Dir: entry.Dir, Env: cf.Env}
		if cf.Dir != "" {
			cc.Dir = l.dir(cp+".dir", cf.Dir)
		}
		if entry.ContainerCommands == nil {
			entry.ContainerCommands = map[string]*ContainerCommand{}
		}
		entry.ContainerCommands[name] = cc
	}
	main := tmpl.Containers[0].Name
	if cc, ok := entry.ContainerCommands[main]; ok {
		if d.has(ap + ".command") {
			d.errorf(fieldPath(ap+".containers", main)+".command", "container %s is the app's first, which %s.command runs already; keep one of the two", main, ap)
		}
		entry.Command, entry.Shell = cc.Command, cc.Shell
	} else if !d.has(ap+".command") && d.has(ap+".containers") {
		d.errorf(ap+".command", "required: how to run container %s, the app's first; write command: here or under containers.%s", main, main)
	}
	for _, name := range names {
		if _, ok := entry.ContainerCommands[name]; !ok && name != main {
			d.warnf(fieldPath(ap+".containers", name), "container %s of %s does not run in process mode: it has no command here; give it one, e.g. containers: {%s: {command: ./%s}}", name, f.File, name, name)
		}
	}
}

// checkCommand reports what makes c no command to run, if anything.
func checkCommand(d *decoder, path string, c commandLine) bool {
	switch {
	case len(c.args) == 0 || (c.shell && strings.TrimSpace(c.args[0]) == ""):
		d.errorf(path, "required: %s", commandExample)
	case slices.Contains(c.args, "") && !c.shell:
		d.errorf(path, "an argument is empty; the first one is the program to run")
	default:
		return true
	}
	return false
}

// dir resolves a directory of the environment file that must exist.
func (l *loader) dir(path, dir string) string {
	abs := l.resolve(dir)
	if st, err := os.Stat(abs); err != nil {
		l.d.errorf(path, "%s: %s", dir, readError(err))
	} else if !st.IsDir() {
		l.d.errorf(path, "%s is not a directory", dir)
	}
	return abs
}

// secretValues checks that every secret the app reads has a value cove can
// use (what SecretValue returns): a non-empty literal value in the app file
// or a local one in the environment file. Key Vault secrets and secrets
// printed by `az containerapp show` (which leaves values out) need a local
// one.
func (l *loader) secretValues(ap string, p *appParse, local map[string]string) {
	for name, s := range p.secrets {
		if _, ok := local[name]; ok || (s.Value != "" && s.KeyVaultURL == "") {
			continue
		}
		why := "it has no value"
		if s.KeyVaultURL != "" {
			why = "cove cannot read Azure Key Vault"
		}
		fix := fmt.Sprintf("give it a local value under %s.secrets in %s", ap, l.path)
		if uses := p.secretUses[name]; len(uses) > 0 {
			p.d.errorf(uses[0], "secret %q cannot be read locally (%s); %s", name, why, fix)
		} else {
			p.d.warnf(p.secretPath(name), "secret %q cannot be read locally (%s); nothing uses it, but %s if something will", name, why, fix)
		}
	}
}

func (l *loader) component(cp string, f *componentEntry) {
	d := l.d
	if f.Name != "" && !componentRE.MatchString(f.Name) {
		d.errorf(cp+".name", "%q is not a valid component name: use letters, digits, '-', '_' and '.', starting and ending with a letter or digit", f.Name)
	}
	if !d.requiredString(cp+".file", f.File, "the component's YAML (ACA or Dapr format), e.g. components/statestore.yaml") {
		return
	}
	entry := &ComponentEntry{Name: f.Name, File: f.File, Path: l.resolve(f.File)}
	data, ok := l.readFile(cp+".file", f.File)
	if !ok {
		return
	}
	p := parseComponent(l.display(f.File), data, f.Name)
	l.decoders = append(l.decoders, p.d)
	if p.comp == nil {
		return
	}
	p.check(l.opts.CheckComponent)
	if p.comp.Format == FormatACA && f.Name == "" {
		d.errorf(cp+".name", "required: the component's name (an ACA component file has none; ACA takes it from --dapr-component-name)")
	}
	entry.Name, entry.Component = p.comp.Name, p.comp
	l.env.Components = append(l.env.Components, entry)
	l.comps = append(l.comps, &loadedComponent{entry: entry, path: cp, parse: p})
}

// crossChecks validates what involves more than one file.
func (l *loader) crossChecks() {
	d := l.d
	appNames := map[string]string{}
	appIDs := map[string]*loadedApp{}
	for _, a := range l.apps {
		app := a.entry.App
		if first, dup := appNames[app.Name]; dup && app.Name != "" {
			d.errorf(a.path+".file", "app %q is already defined by %s; app names must be unique in an environment", app.Name, first)
			continue // its Dapr app id repeats too; once is enough
		}
		appNames[app.Name] = a.entry.File
		if id := app.DaprAppID(); id != "" {
			if first, dup := appIDs[id]; dup {
				at := a.parse.cfg + ".dapr.appId"
				if !a.parse.d.has(at) {
					at = a.parse.cfg + ".dapr"
				}
				a.parse.d.errorf(at, "Dapr app id %q is already used by %s (%s); app ids must be unique in an environment", id, first.entry.App.Name, first.entry.File)
			} else {
				appIDs[id] = a
			}
		}
	}
	l.tcpPorts()

	compNames := map[string]*loadedComponent{}
	for _, c := range l.comps {
		if first, dup := compNames[c.entry.Name]; dup && c.entry.Name != "" {
			at := c.path + ".name"
			if !d.has(at) {
				at = c.path + ".file"
			}
			d.errorf(at, "component %q is already defined by %s; component names must be unique", c.entry.Name, first.entry.File)
		} else {
			compNames[c.entry.Name] = c
		}
	}
	for _, c := range l.comps {
		comp, pd := c.entry.Component, c.parse.d
		for i, scope := range comp.Scopes {
			if _, ok := appIDs[scope]; !ok && scope != "" {
				msg := fmt.Sprintf("no app in the environment has Dapr app id %q, so the scope matches nothing", scope)
				if s := suggest(scope, slices.Collect(maps.Keys(appIDs))); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				pd.warnf(indexPath(c.parse.scopesPath, i), "%s", msg)
			}
		}
		if store := comp.SecretStore; store != "" {
			switch s, ok := compNames[store]; {
			case !ok:
				pd.errorf(c.parse.secretStorePath, "no component named %q in the environment; name a secret store component", store)
			case s.entry.Component.Kind() != "secretstores":
				pd.errorf(c.parse.secretStorePath, "component %q is a %s, not a secret store", store, s.entry.Component.Type)
			}
		}
	}
}

// tcpPorts checks that externally exposed TCP ports are unique across the
// environment (internal ones may repeat) and do not take the edge's port.
func (l *loader) tcpPorts() {
	type use struct {
		app  *loadedApp
		path string
	}
	taken := map[int]use{}
	claim := func(a *loadedApp, path string, port int) {
		d := a.parse.d
		if port == 0 {
			return
		}
		if port == l.env.Edge.HTTPPort {
			d.errorf(path, "port %d is the edge's HTTP port (edge.httpPort in %s); expose another port", port, l.path)
			return
		}
		if first, dup := taken[port]; dup {
			d.errorf(path, "external port %d is already exposed by %s (%s); externally exposed TCP ports must be unique in an environment",
				port, first.app.entry.App.Name, first.app.entry.File)
			return
		}
		taken[port] = use{a, path}
	}
	for _, a := range l.apps {
		in := a.entry.App.Properties.Configuration.Ingress
		if in == nil {
			continue
		}
		ip := a.parse.cfg + ".ingress"
		if in.External && strings.EqualFold(in.Transport, "tcp") {
			port, path := in.ExposedPort, ip+".exposedPort"
			if port == 0 {
				port, path = in.TargetPort, ip+".targetPort"
			}
			claim(a, path, port)
		}
		for i, m := range in.AdditionalPortMappings {
			if !m.External {
				continue
			}
			mp := indexPath(ip+".additionalPortMappings", i)
			port, path := m.ExposedPort, mp+".exposedPort"
			if port == 0 {
				port, path = m.TargetPort, mp+".targetPort"
			}
			claim(a, path, port)
		}
	}
}
