package aws_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mayflyhq/mayfly/envs"
	mfaws "github.com/mayflyhq/mayfly/envs/aws"
	"github.com/mayflyhq/mayfly/envs/aws/awstest"
)

func TestStackHealth(t *testing.T) {
	const gone = "arn:aws:cloudformation:eu-west-1:123456789012:stack/gone/1"
	role := "arn:aws:iam::210987654321:role/mayfly-drills"
	// ready launches a stack and waits until it is ready.
	ready := func(t *testing.T, p *mfaws.Provider, id string, s mfaws.Stack) string {
		t.Helper()
		req := request(t, stackBody(t, s))
		req.EnvironmentID, req.Name = id, "n"+strings.TrimPrefix(id, "env-")
		h, err := p.Provision(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := waitState(t, p, h); st.State != envs.StackReady {
			t.Fatalf("%s: %s", id, st.State)
		}
		return h
	}
	site := mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "x"}}
	drifted := func(status, reason string) func(*testing.T, *mfaws.Provider, *awstest.Server) []string {
		return func(t *testing.T, p *mfaws.Provider, srv *awstest.Server) []string {
			h := ready(t, p, "env-a", site)
			srv.SetStatus(h, status, reason)
			return []string{h}
		}
	}
	tests := []struct {
		name    string
		setup   func(*testing.T, *mfaws.Provider, *awstest.Server) []string
		want    []string // per handle: a part of the verdict, "" healthy, "-" not judged
		wantErr string
	}{
		{"a complete stack is healthy", func(t *testing.T, p *mfaws.Provider, srv *awstest.Server) []string {
			return []string{ready(t, p, "env-a", site)}
		}, []string{""}, ""},
		{"deleted outside Mayfly", drifted("DELETE_COMPLETE", ""), []string{"deleted outside Mayfly (DELETE_COMPLETE)"}, ""},
		{"being deleted outside Mayfly", drifted("DELETE_IN_PROGRESS", "User Initiated"), []string{"being deleted outside Mayfly"}, ""},
		{"an update that failed to roll back", drifted("UPDATE_ROLLBACK_FAILED", "Bucket could not be restored"),
			[]string{"UPDATE_ROLLBACK_FAILED: Bucket could not be restored"}, ""},
		{"an update rolled back cleanly is healthy", drifted("UPDATE_ROLLBACK_COMPLETE", ""), []string{""}, ""},
		{"an update in progress is judged once it settles", drifted("UPDATE_IN_PROGRESS", ""), []string{""}, ""},
		{"a stack CloudFormation no longer knows", func(*testing.T, *mfaws.Provider, *awstest.Server) []string {
			return []string{gone}
		}, []string{"no longer exists"}, ""},
		{"throttled beyond the retryer: nothing is judged", func(t *testing.T, p *mfaws.Provider, srv *awstest.Server) []string {
			h := ready(t, p, "env-a", site)
			srv.SetStatus(h, "DELETE_COMPLETE", "")
			srv.Throttle("DescribeStacks", 50)
			return []string{h}
		}, []string{"-"}, "Throttling"},
		{"other regions and roles; a denied region judges none of its stacks", func(t *testing.T, p *mfaws.Provider, srv *awstest.Server) []string {
			elsewhere := site
			elsewhere.Region, elsewhere.RoleARN = "us-east-2", role
			hs := []string{ready(t, p, "env-a", site), ready(t, p, "env-b", elsewhere), "arn:aws:cloudformation:sa-east-1:123456789012:stack/x/1"}
			srv.SetStatus(strings.Split(hs[1], "|")[0], "UPDATE_ROLLBACK_FAILED", "")
			srv.Deny("sa-east-1")
			return hs
		}, []string{"", "UPDATE_ROLLBACK_FAILED", "-"}, "sa-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := awstest.New(t)
			p := providerFor(t, srv, instance, awssdk.RetryModeStandard)
			handles := tt.setup(t, p, srv)
			got, err := p.StackHealth(context.Background(), handles)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want one naming %q", err, tt.wantErr)
			}
			for i, h := range handles {
				verdict, judged := got[h]
				switch want := tt.want[i]; {
				case want == "-" && judged:
					t.Errorf("%s judged %q, want not judged", h, verdict)
				case want == "-":
				case !judged:
					t.Errorf("%s not judged, want %q", h, want)
				case want == "" && verdict != "", want != "" && !strings.Contains(verdict, want):
					t.Errorf("%s: got %q, want %q", h, verdict, want)
				}
			}
		})
	}
}

func TestStackHealthAtMostEveryInterval(t *testing.T) {
	srv := awstest.New(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := providerFor(t, srv, instance, awssdk.RetryModeStandard, func(c *mfaws.Config) {
		c.HealthInterval = time.Minute
		c.Clock = func() time.Time { return now }
	})
	h := "arn:aws:cloudformation:eu-west-1:123456789012:stack/gone/1"
	for _, step := range []struct {
		after  time.Duration
		judged bool
	}{{0, true}, {59 * time.Second, false}, {time.Second, true}} {
		now = now.Add(step.after)
		got, err := p.StackHealth(context.Background(), []string{h})
		if _, judged := got[h]; judged != step.judged || err != nil {
			t.Errorf("after %s more: judged %v (%v), want %v", step.after, judged, err, step.judged)
		}
	}
}

// A ready stack's health output is asked at each check, as before it was
// ready: a URL that fails, and fails again when asked a second time, flags
// the stack; one lost request does not.
func TestStackHealthAsksTheHealthOutput(t *testing.T) {
	var status, failNext atomic.Int32 // failNext: requests to answer 503 before status
	status.Store(http.StatusOK)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failNext.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer app.Close()
	srv := awstest.New(t)
	srv.Outputs = map[string]string{"URL": app.URL}
	now := time.Now()
	p := providerFor(t, srv, instance, awssdk.RetryModeStandard, allowLoopback, func(c *mfaws.Config) {
		c.HealthInterval, c.OutputRetry = time.Minute, 10*time.Millisecond
		c.Clock = func() time.Time { return now }
	})
	req := request(t, stackBody(t, mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "x"}, HealthOutput: "URL"}))
	h, err := p.Provision(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := waitState(t, p, h); st.State != envs.StackReady {
		t.Fatalf("state %s", st.State)
	}
	for _, step := range []struct {
		name     string
		failNext int32
		status   int
		want     string // "" healthy, else a part of the verdict
	}{
		{"answers", 0, http.StatusOK, ""},
		{"one lost request", 1, http.StatusOK, ""},
		{"down", 0, http.StatusServiceUnavailable, "its health output URL does not answer: HTTP 503"},
		{"down, failing otherwise", 0, http.StatusBadGateway, "HTTP 502"},
		{"back", 0, http.StatusOK, ""},
	} {
		failNext.Store(step.failNext)
		status.Store(int32(step.status))
		now = now.Add(time.Minute)
		got, err := p.StackHealth(context.Background(), []string{h})
		if err != nil {
			t.Fatal(err)
		}
		verdict, judged := got[h]
		if !judged || step.want == "" && verdict != "" || !strings.Contains(verdict, step.want) {
			t.Errorf("%s: %q (judged %v), want %q", step.name, verdict, judged, step.want)
		}
	}
}

// allowLoopback lets health outputs reach the tests' httptest servers,
// which listen on loopback (refused by default).
func allowLoopback(c *mfaws.Config) {
	c.HealthAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// A health output is chosen by the template's author and its verdict is
// shown to everyone: it may not reach the portal's host, the metadata
// service or, by a redirect, another host, and says no more than the
// status code or that nothing answered.
func TestHealthOutputStaysOffThePortalsNetwork(t *testing.T) {
	var asked atomic.Int32 // requests that reached an app
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.URL.Path == "/here" {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer app.Close()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(100)
	}))
	defer elsewhere.Close()
	away := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/", http.StatusFound)
	}))
	defer away.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // its port no longer answers

	srv := awstest.New(t)
	strict := providerFor(t, srv, instance, awssdk.RetryModeStandard)
	loose := providerFor(t, srv, instance, awssdk.RetryModeStandard, allowLoopback)
	tests := []struct {
		name   string
		p      *mfaws.Provider
		url    string
		want   string // the reason shown, "" for ready
		reach  int32  // requests that reach the apps
		hidden string // not shown to viewers
	}{
		{"loopback", strict, app.URL, "not asked: it points at a loopback address", 0, ""},
		{"a name for loopback (DNS is not trusted)", strict, strings.Replace(app.URL, "127.0.0.1", "localhost", 1), "not asked: it points at a loopback address", 0, ""},
		{"loopback when allowed", loose, app.URL, "", 1, ""},
		{"metadata service", strict, "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "not asked: it points at a link-local address", 0, ""},
		{"metadata service even with loopback allowed", loose, "http://169.254.169.254/latest/meta-data/", "not asked: it points at a link-local address", 0, ""},
		{"IPv6 metadata service", strict, "http://[fd00:ec2::254]/latest/meta-data/", "not asked: it points at a cloud metadata address", 0, ""},
		{"IPv6 link-local", strict, "http://[fe80::1]/", "not asked: it points at a link-local address", 0, ""},
		{"unspecified address", strict, fmt.Sprintf("http://0.0.0.0:%d/", app.Listener.Addr().(*net.TCPAddr).Port), "not asked: it points at an unspecified address", 0, ""},
		{"Alibaba metadata", strict, "http://100.100.100.200/latest/meta-data/", "not asked: it points at a cloud metadata address", 0, ""},
		{"not http", strict, "file:///etc/passwd", "the output is not an http(s) URL", 0, ""},
		{"gopher", strict, "gopher://127.0.0.1:6379/_FLUSHALL", "the output is not an http(s) URL", 0, ""},
		{"redirect on the same host", loose, app.URL + "/here", "", 2, ""},
		{"redirect to another host", loose, away.URL + "/", "it redirects to another host", 1, elsewhere.Listener.Addr().String()},
		{"nothing listening", loose, closed.URL + "/", "no reply", 0, "refused"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked.Store(0)
			srv.Outputs = map[string]string{"URL": tt.url}
			req := request(t, stackBody(t, mfaws.Stack{Template: siteTemplate, Parameters: map[string]string{"SiteName": "x"}, HealthOutput: "URL"}))
			req.EnvironmentID, req.Name = fmt.Sprintf("env-ssrf%02d", i), fmt.Sprintf("ssrf%02d", i)
			h, err := tt.p.Provision(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			deadline := time.Now().Add(5 * time.Second)
			for {
				st, err := tt.p.Status(context.Background(), h)
				if err != nil {
					t.Fatal(err)
				}
				if st.State == envs.StackReady {
					got = ""
					break
				}
				if n := len(st.Events); n > 0 && strings.HasPrefix(st.Events[n-1].Message, "Waiting for URL to answer: ") {
					got = strings.TrimPrefix(st.Events[n-1].Message, "Waiting for URL to answer: ")
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("state %s: never ready nor waiting for the URL", st.State)
				}
				time.Sleep(srv.Step)
			}
			if tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) {
				t.Errorf("reason %q, want %q", got, tt.want)
			}
			if tt.hidden != "" && strings.Contains(got, tt.hidden) {
				t.Errorf("reason %q shows %q", got, tt.hidden)
			}
			if n := asked.Load(); n != tt.reach {
				t.Errorf("%d requests reached the apps (100 a request elsewhere), want %d", n, tt.reach)
			}
		})
	}
}
