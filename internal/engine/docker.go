package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// dockerPods make a pod of docker containers, as docker has no pods: an
// infra container running cove's pause program holds the network
// namespace, hostname and /etc/hosts, the others join it with `--network
// container:`; every one carries LabelPod. Docker publishes ports through
// its bridge, which a daemon may not have (--bridge=none), so RunPod relays
// them into the namespace instead, as it relays the sidecar's ports.
type dockerPods struct{}

func (d dockerPods) create(ctx context.Context, e *Engine, spec PodSpec) error {
	image, err := d.pauseImage(ctx, e)
	if err != nil {
		return err
	}
	args := []string{"run", "-d", "--name", InfraName(spec.Name), "--hostname", spec.Name, "--label", LabelPod + "=" + spec.Name}
	args = append(args, labelArgs(spec.Labels)...)
	for _, h := range spec.Hosts {
		args = append(args, "--add-host", h.Name+":"+h.Addr)
	}
	_, err = e.Output(ctx, append(args, image, "/"+pauseFile)...)
	return err
}

func (dockerPods) publishes() bool { return false }

func (dockerPods) runArgs(spec PodSpec) []string {
	var args []string
	if spec.AuthFile != "" {
		// Docker reads credentials from the config.json of its
		// configuration directory only.
		args = append(args, "--config", filepath.Dir(spec.AuthFile))
	}
	return append(args, "run", "--network", "container:"+InfraName(spec.Name), "--label", LabelPod+"="+spec.Name)
}

// entrypoint: docker's is one executable; the rest of the command goes
// before the args.
func (dockerPods) entrypoint(args, command []string) (opts, rest []string) {
	return append(args, "--entrypoint", command[0]), command[1:]
}

func (d dockerPods) remove(ctx context.Context, e *Engine, spec PodSpec) error {
	var apps []string
	all, err := d.podContainers(ctx, e, spec.Name)
	if err != nil {
		return err
	}
	for id, name := range all {
		if name != InfraName(spec.Name) {
			apps = append(apps, id)
		}
	}
	// The infra's pause program, the namespace's first process, ignores
	// SIGTERM: only the app's containers are given the grace.
	if len(apps) > 0 {
		_, err = e.Output(ctx, append([]string{"stop", "-t", graceSeconds(spec)}, apps...)...)
	}
	if err := errors.Join(gone(err), dockerRemove(ctx, e, slices.Collect(maps.Keys(all)))); err != nil {
		return err
	}
	// Containers run with --rm may still be on their way out: the pod is
	// gone once they are.
	for {
		left, err := d.podContainers(ctx, e, spec.Name)
		if err != nil || len(left) == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the pod's containers are still there: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// podContainers are the ids and names of pod's containers.
func (dockerPods) podContainers(ctx context.Context, e *Engine, pod string) (map[string]string, error) {
	out, err := e.Output(ctx, "ps", "-a", "--no-trunc", "--filter", "label="+LabelPod+"="+pod, "--format", "{{.ID}} {{.Names}}")
	if err != nil {
		return nil, err
	}
	cs := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if id, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			cs[id] = name
		}
	}
	return cs, nil
}

// dockerRemove removes the containers ids at once, whatever their state.
func dockerRemove(ctx context.Context, e *Engine, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := e.Output(ctx, append([]string{"rm", "-f"}, ids...)...)
	return gone(err)
}

// gone is err unless it says only that containers are not there or on
// their way out (one run with --rm goes by itself once stopped).
func gone(err error) error {
	if err == nil {
		return nil
	}
	for line := range strings.Lines(err.Error()) {
		if !strings.Contains(line, "No such container") && !strings.Contains(line, "already in progress") {
			return err
		}
	}
	return nil
}

// dockerContainer is a line of `docker ps --format '{{json .}}'`.
type dockerContainer struct {
	ID     string `json:"ID"`
	Names  string `json:"Names"`
	Image  string `json:"Image"`
	State  string `json:"State"`
	Labels string `json:"Labels"`
}

func (dockerPods) containers(ctx context.Context, e *Engine, key, value string) ([]Container, error) {
	out, err := e.Output(ctx, "ps", "-a", "--no-trunc", "--filter", "label="+key+"="+value, "--format", "{{json .}}")
	if err != nil {
		return nil, err
	}
	var cs []Container
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var c dockerContainer
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("%s ps: %w", e.Name, err)
		}
		// Labels come as k=v,k=v: cove's own have no commas.
		labels := map[string]string{}
		for kv := range strings.SplitSeq(c.Labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = v
			}
		}
		cs = append(cs, Container{ID: c.ID, Names: strings.Split(c.Names, ","), Image: c.Image, State: c.State, Labels: labels})
	}
	return cs, sc.Err()
}

func (d dockerPods) removeEnv(ctx context.Context, e *Engine, env string) (pods, containers int, err error) {
	cs, err := d.containers(ctx, e, LabelEnv, env)
	if err != nil {
		return 0, 0, err
	}
	ids := make([]string, len(cs))
	seen := map[string]bool{}
	for i, c := range cs {
		ids[i] = c.ID
		if p, ok := c.Labels[LabelPod]; ok && !seen[p] {
			seen[p] = true
			pods++
		}
	}
	return pods, len(cs), dockerRemove(ctx, e, ids)
}

// pauseFile is the pause program's name in its image's root.
const pauseFile = "pause"

// pauseImage returns docker's image of cove's pause program, importing it
// the first time: nothing is pulled, and its tag changes with the program.
func (dockerPods) pauseImage(ctx context.Context, e *Engine) (string, error) {
	prog, err := pauseProgram(runtime.GOARCH)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(prog)
	image := "localhost/cove-pause:" + hex.EncodeToString(sum[:6])
	have := func() bool {
		_, err := e.Output(ctx, "image", "inspect", "--format", "{{.Id}}", image)
		return err == nil
	}
	if have() {
		return image, nil
	}
	// The replicas of a first `cove up` start at once: one imports, the
	// others find its image, and no untagged copy is left.
	unlock := lockFile(filepath.Join(os.TempDir(), "cove-pause-image.lock"))
	defer unlock()
	if have() {
		return image, nil
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: pauseFile, Mode: 0o755, Size: int64(len(prog)), Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	if _, err := tw.Write(prog); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	cmd := e.Command(ctx, "import", "-", image)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s import of cove's pause image %s: %w: %s", e.Name, image, err, bytes.TrimSpace(out))
	}
	return image, nil
}
