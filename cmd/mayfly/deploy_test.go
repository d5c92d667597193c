package main

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The deployment files (docker-compose.yml, deploy/kubernetes/) are checked
// against the real binary: there is no container engine or cluster here, so
// the tests parse them and drive the real configuration parser, routes and
// probe subcommand with what they say.

const repoRoot = "../.."

// knownEnv is every environment variable `mayfly serve` reads, found by
// running the real parser with a getenv that records what it is asked.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	if _, err := ParseConfig(nil, func(k string) string { seen[k] = true; return "" }, io.Discard); err != nil {
		t.Fatalf("ParseConfig with no settings: %v", err)
	}
	return seen
}

// parseWith runs the real configuration parser on a deployment's arguments
// and environment (nothing else from the test's own environment).
func parseWith(args []string, env map[string]string) (Config, error) {
	var errOut bytes.Buffer
	c, err := ParseConfig(args, func(k string) string { return env[k] }, &errOut)
	if err != nil && errOut.Len() > 0 {
		first, _, _ := strings.Cut(errOut.String(), "\n") // the flag package's message; usage follows
		err = errors.New(first)
	}
	return c, err
}

// serveArgs is what follows the subcommand: the image's entrypoint is the
// binary, so a deployment's command or args start with "serve".
func serveArgs(t *testing.T, where string, args []string) []string {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("%s: args %q, want them to start with serve", where, args)
	}
	return args[1:]
}

func checkEnvNames(t *testing.T, where string, env map[string]string) {
	t.Helper()
	known := knownEnv(t)
	for k := range env {
		if strings.HasPrefix(k, "MAYFLY_") && !known[k] {
			t.Errorf("%s sets %s, which mayfly does not read", where, k)
		}
	}
}

// dockerfile is what the deployments rely on in the Dockerfile: the path of
// the binary in the image and the port it exposes.
type dockerfile struct {
	binary string
	port   string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	build := regexp.MustCompile(`go build [^\n]*-o (\S+) \./cmd/mayfly`).FindStringSubmatch(src)
	if build == nil {
		t.Fatal("Dockerfile: no `go build ... -o <path> ./cmd/mayfly`")
	}
	cp := regexp.MustCompile(`COPY --from=build ` + regexp.QuoteMeta(build[1]) + ` (\S+)`).FindStringSubmatch(src)
	if cp == nil {
		t.Fatalf("Dockerfile: the binary built at %s is not copied into the image", build[1])
	}
	entry := regexp.MustCompile(`ENTRYPOINT \["([^"]+)"\]`).FindStringSubmatch(src)
	if entry == nil || entry[1] != cp[1] {
		t.Fatalf("Dockerfile: ENTRYPOINT %v, want the binary at %s", entry, cp[1])
	}
	expose := regexp.MustCompile(`EXPOSE (\d+)`).FindStringSubmatch(src)
	if expose == nil {
		t.Fatal("Dockerfile: no EXPOSE")
	}
	return dockerfile{binary: cp[1], port: expose[1]}
}

func portOf(t *testing.T, where, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: address %q: %v", where, addr, err)
	}
	return port
}

// --- docker-compose.yml ---

type composeService struct {
	Build       any               `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Ports           []string `yaml:"ports"`
	Networks        map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	} `yaml:"networks"`
}

// interpolate does what Compose does with ${NAME}, ${NAME:-default} and
// ${NAME:?error}, taking the values from vars; missing lists the required
// names vars lacks.
func interpolate(s string, vars map[string]string) (out string, missing []string) {
	re := regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}`)
	out = re.ReplaceAllStringFunc(s, func(m string) string {
		g := re.FindStringSubmatch(m)
		if v := vars[g[1]]; v != "" {
			return v
		}
		switch g[2] {
		case "-":
			return g[3]
		case "?":
			if !slices.Contains(missing, g[1]) {
				missing = append(missing, g[1])
			}
		}
		return ""
	})
	return out, missing
}

func readCompose(t *testing.T, vars map[string]string) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	src, missing := interpolate(string(b), vars)
	if len(missing) > 0 {
		t.Fatalf("docker-compose.yml needs %v", missing)
	}
	var doc struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return doc.Services
}

// composeVars are the settings the compose file asks its user for.
var composeVars = map[string]string{
	"MAYFLY_OIDC_ISSUER":        "https://login.example.com",
	"MAYFLY_OIDC_CLIENT_ID":     "mayfly",
	"MAYFLY_OIDC_CLIENT_SECRET": "s3cret",
	"MAYFLY_SECRET_KEY":         strings.Repeat("ab", 32),
}

func TestComposeFileMatchesTheBinary(t *testing.T) {
	image := readDockerfile(t)
	services := readCompose(t, composeVars)
	var replicas []string
	for name, s := range services {
		if s.Build != nil {
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	if len(replicas) < 2 {
		t.Fatalf("replicas built from the Dockerfile: %v, want at least two", replicas)
	}
	db, ok := services["postgres"]
	if !ok || !strings.HasPrefix(db.Image, "postgres:") {
		t.Fatalf("no postgres service")
	}
	for _, name := range replicas {
		s := services[name]
		where := "docker-compose.yml: " + name
		checkEnvNames(t, where, s.Environment)
		c, err := parseWith(serveArgs(t, where, s.Command), s.Environment)
		if err != nil {
			t.Fatalf("%s: mayfly refuses its configuration: %v", where, err)
		}
		port := portOf(t, where, c.Addr)
		if port != image.port {
			t.Errorf("%s listens on %s, the image exposes %s", where, port, image.port)
		}
		if !strings.HasPrefix(c.DatabaseURL, "postgres://") || !strings.Contains(c.DatabaseURL, "@postgres:5432/") {
			t.Errorf("%s: database URL %q, want the postgres service", where, c.DatabaseURL)
		}
		if u := "postgres://" + db.Environment["POSTGRES_USER"] + ":" + db.Environment["POSTGRES_PASSWORD"] + "@postgres:5432/" + db.Environment["POSTGRES_DB"]; !strings.HasPrefix(c.DatabaseURL, u) {
			t.Errorf("%s: database URL %q does not match the postgres service's user, password and database (%s)", where, c.DatabaseURL, u)
		}
		if s.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for a healthy postgres", where)
		}
		want := []string{"CMD", image.binary, "probe", "http://127.0.0.1:" + port + "/readyz"}
		if !slices.Equal(s.Healthcheck.Test, want) {
			t.Errorf("%s: healthcheck %q, want %q", where, s.Healthcheck.Test, want)
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil || grace < shutdownTimeout+c.StopGrace {
			t.Errorf("%s: stop_grace_period %q, want at least %s (shutdown) + %s (--stop-grace)", where, s.StopGracePeriod, shutdownTimeout, c.StopGrace)
		}
		if s.Environment["MAYFLY_SECRET_KEY"] == "" {
			t.Errorf("%s: no MAYFLY_SECRET_KEY: each replica would generate its own", where)
		}
	}
	if services[replicas[0]].Environment["MAYFLY_SECRET_KEY"] != services[replicas[1]].Environment["MAYFLY_SECRET_KEY"] {
		t.Error("the replicas have different secret keys")
	}

	// The load balancer sends to every replica, on the port it listens on.
	proxy, ok := services["proxy"]
	if !ok {
		t.Fatal("no proxy service")
	}
	var targets []string
	for i, a := range proxy.Command {
		if a == "--to" && i+1 < len(proxy.Command) {
			targets = append(targets, proxy.Command[i+1])
		}
	}
	var want []string
	for _, r := range replicas {
		want = append(want, r+":"+image.port)
	}
	if slices.Sort(targets); !slices.Equal(targets, want) {
		t.Errorf("proxy sends to %v, want %v", targets, want)
	}
	// The replicas believe X-Forwarded-For from the proxy's address only.
	proxyAddr, err := netip.ParseAddr(proxy.Networks["default"].IPv4Address)
	if err != nil {
		t.Fatalf("the proxy has no fixed address on the default network: %v", err)
	}
	for _, name := range replicas {
		c, _ := parseWith(serveArgs(t, name, services[name].Command), services[name].Environment)
		trusted, _ := c.trustedProxies()
		if len(trusted) != 1 || trusted[0] != netip.PrefixFrom(proxyAddr, 32) {
			t.Errorf("%s trusts the proxies %v, want the proxy's address %s alone", name, trusted, proxyAddr)
		}
	}

	// Compose refuses to start without sign-in and a shared secret key.
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	_, missing := interpolate(string(b), nil)
	slices.Sort(missing)
	wantMissing := slices.Sorted(maps.Keys(composeVars))
	if !slices.Equal(missing, wantMissing) {
		t.Errorf("docker-compose.yml requires %v, want %v", missing, wantMissing)
	}
}

// --- Kubernetes ---

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       yaml.Node         `yaml:"spec"`
}

type probeSpec struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type deploymentSpec struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
			Containers                    []struct {
				Command []string `yaml:"command"`
				Args    []string `yaml:"args"`
				EnvFrom []struct {
					ConfigMapRef *struct {
						Name string `yaml:"name"`
					} `yaml:"configMapRef"`
					SecretRef *struct {
						Name string `yaml:"name"`
					} `yaml:"secretRef"`
				} `yaml:"envFrom"`
				Env []struct {
					Name  string `yaml:"name"`
					Value string `yaml:"value"`
				} `yaml:"env"`
				Ports []struct {
					Name          string `yaml:"name"`
					ContainerPort int    `yaml:"containerPort"`
				} `yaml:"ports"`
				ReadinessProbe *probeSpec `yaml:"readinessProbe"`
				LivenessProbe  *probeSpec `yaml:"livenessProbe"`
				StartupProbe   *probeSpec `yaml:"startupProbe"`
			} `yaml:"containers"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		TargetPort string `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable int `yaml:"minAvailable"`
	Selector     struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

// readKubernetes parses every object of the files kustomization.yaml lists.
func readKubernetes(t *testing.T) map[string]k8sObject {
	t.Helper()
	dir := filepath.Join(repoRoot, "deploy", "kubernetes")
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	objects := map[string]k8sObject{}
	for _, file := range k.Resources {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			objects[o.Kind+"/"+o.Metadata.Name] = o
		}
		f.Close()
	}
	return objects
}

func decodeSpec[T any](t *testing.T, o k8sObject) T {
	t.Helper()
	var v T
	if err := o.Spec.Decode(&v); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
	return v
}

// placeholder matches the <...> values to replace before deploying.
var placeholder = regexp.MustCompile(`<[^>]+>`)

func TestKubernetesManifestsMatchTheBinary(t *testing.T) {
	image := readDockerfile(t)
	objects := readKubernetes(t)
	dep, ok := objects["Deployment/mayfly"]
	if !ok {
		t.Fatalf("no Deployment mayfly among %d objects", len(objects))
	}
	d := decodeSpec[deploymentSpec](t, dep)
	if d.Replicas < 2 {
		t.Errorf("replicas %d, want at least 2", d.Replicas)
	}
	if len(d.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(d.Template.Spec.Containers))
	}
	c := d.Template.Spec.Containers[0]
	if len(c.Command) > 0 && !slices.Equal(c.Command, []string{image.binary}) {
		t.Errorf("command %q, want the image's %s", c.Command, image.binary)
	}

	// The pod's environment: the ConfigMap and Secret it names, then env.
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		key := ""
		switch {
		case from.ConfigMapRef != nil:
			key = "ConfigMap/" + from.ConfigMapRef.Name
		case from.SecretRef != nil:
			key = "Secret/" + from.SecretRef.Name
		}
		o, ok := objects[key]
		if !ok {
			t.Fatalf("envFrom names %s, which the manifests do not define", key)
		}
		for k, v := range o.Data {
			env[k] = v
		}
		for k, v := range o.StringData {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	checkEnvNames(t, "deploy/kubernetes", env)
	args := serveArgs(t, "deploy/kubernetes", c.Args)

	if _, err := parseWith(args, env); err == nil || !strings.Contains(err.Error(), "MAYFLY_SECRET_KEY") {
		t.Errorf("with the placeholder secret key: %v, want mayfly to refuse it", err)
	}
	filled := map[string]string{}
	for k, v := range env {
		filled[k] = placeholder.ReplaceAllString(v, "x")
	}
	filled["MAYFLY_SECRET_KEY"] = strings.Repeat("cd", 32)
	cfg, err := parseWith(args, filled)
	if err != nil {
		t.Fatalf("mayfly refuses the manifests' configuration: %v", err)
	}
	if !cfg.SignIn() || !strings.HasPrefix(cfg.ExternalURL, "https://") || !strings.HasPrefix(cfg.DatabaseURL, "postgres://") {
		t.Errorf("sign-in %v, external URL %q, database %q: want OIDC, https and PostgreSQL", cfg.SignIn(), cfg.ExternalURL, cfg.DatabaseURL)
	}

	// Ports and probes.
	port := portOf(t, "deploy/kubernetes", cfg.Addr)
	if port != image.port {
		t.Errorf("mayfly listens on %s, the image exposes %s", port, image.port)
	}
	ports := map[string]string{}
	for _, p := range c.Ports {
		ports[p.Name] = strconv.Itoa(p.ContainerPort)
	}
	probes := map[string]*probeSpec{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	wantPath := map[string]string{"readiness": "/readyz", "liveness": "/healthz", "startup": "/healthz"}
	for name, p := range probes {
		if p == nil {
			if name != "startup" {
				t.Errorf("no %s probe", name)
			}
			continue
		}
		if p.HTTPGet.Path != wantPath[name] {
			t.Errorf("%s probe on %s, want %s", name, p.HTTPGet.Path, wantPath[name])
		}
		if ports[p.HTTPGet.Port] != port && p.HTTPGet.Port != port {
			t.Errorf("%s probe on port %q, mayfly listens on %s", name, p.HTTPGet.Port, port)
		}
	}
	grace := time.Duration(d.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace < shutdownTimeout+cfg.StopGrace {
		t.Errorf("terminationGracePeriodSeconds %s, want at least %s (shutdown) + %s (--stop-grace)", grace, shutdownTimeout, cfg.StopGrace)
	}

	// Service and PodDisruptionBudget select the pods.
	pods := d.Template.Metadata.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if pods[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !matches(d.Selector.MatchLabels) {
		t.Errorf("the Deployment's selector %v does not match its pods %v", d.Selector.MatchLabels, pods)
	}
	svc, ok := objects["Service/mayfly"]
	if !ok {
		t.Fatal("no Service mayfly")
	}
	s := decodeSpec[serviceSpec](t, svc)
	if !matches(s.Selector) {
		t.Errorf("the Service's selector %v does not match the pods %v", s.Selector, pods)
	}
	for _, p := range s.Ports {
		if ports[p.TargetPort] != port && p.TargetPort != port {
			t.Errorf("the Service targets port %q, mayfly listens on %s", p.TargetPort, port)
		}
	}
	pdbObj, ok := objects["PodDisruptionBudget/mayfly"]
	if !ok {
		t.Fatal("no PodDisruptionBudget mayfly")
	}
	pdb := decodeSpec[pdbSpec](t, pdbObj)
	if !matches(pdb.Selector.MatchLabels) || pdb.MinAvailable < 1 || pdb.MinAvailable >= d.Replicas {
		t.Errorf("PodDisruptionBudget: selector %v, minAvailable %d; want the pods and 1..%d", pdb.Selector.MatchLabels, pdb.MinAvailable, d.Replicas-1)
	}
}

// TestProbeRoutes runs the real portal and the probe subcommand the compose
// healthcheck uses against the routes the deployments probe.
func TestProbeRoutes(t *testing.T) {
	s := startMain(t, testCatalog(t))
	for _, path := range []string{"/readyz", "/healthz"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"probe", s.url + path}, os.Getenv, &out, &errOut); code != 0 {
			t.Errorf("mayfly probe %s: exit %d, %s", path, code, errOut.String())
		}
	}
	var errOut bytes.Buffer
	if code := run([]string{"probe", s.url + "/no-such-route"}, os.Getenv, io.Discard, &errOut); code != 1 {
		t.Errorf("mayfly probe of a missing route: exit %d, want 1", code)
	}
	if code := run([]string{"probe", "http://127.0.0.1:1/readyz"}, os.Getenv, io.Discard, io.Discard); code != 1 {
		t.Errorf("mayfly probe of a closed port: exit %d, want 1", code)
	}
}
