// Package awstest is an in-process fake of the parts of CloudFormation, RDS
// and STS that Mayfly uses. It speaks the services' real wire protocol (AWS
// query protocol: form-encoded POSTs with Action=..., XML answers), so the
// real aws-sdk-go-v2 clients talk to it unchanged through an endpoint
// override. It keeps stack state with time-driven transitions and can be
// told to fail the ways AWS does.
package awstest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the fake. Set its exported fields before the calls they affect.
//
// Like AWS, it keeps stacks apart by account and region: a call acts in the
// region of its SigV4 credential scope and in the account of its access key
// (the default Account for any key it did not hand out itself, the role's
// account for credentials from AssumeRole). So one fake serves several
// regions and roles through a single endpoint.
type Server struct {
	*httptest.Server

	// Account is the default account; Region is the region tests are
	// expected to configure as the default (stacks added with
	// AddForeignStack go there).
	Account string
	Region  string
	// Step is the time between two stack transitions (default 20ms).
	Step time.Duration
	// PageSize bounds DescribeStacks and DescribeStackEvents pages (default 100).
	PageSize int
	// Outputs are the outputs every completed stack reports.
	Outputs map[string]string

	mu        sync.Mutex
	stacks    []*Stack
	tokens    map[string]*Stack
	faults    map[string][]fault
	calls     map[string]int
	failRes   map[string]string // logical id -> create failure reason
	delFail   map[string]string // logical id -> delete failure reason
	snapshots []Snapshot
	roles     []string
	keys      map[string]string // access key id handed out by AssumeRole -> account
	denied    map[string]bool   // regions and role ARNs whose calls are refused
	drifts    map[string]*detection
	holds     map[string]*hold // action -> its calls wait (see Hold)
	overlaps  int              // drift detections started while another of the stack ran
	// mostDetections is the most drift detections in progress at once.
	mostDetections int
	seq            int
}

// scope is where a call acts: an account and a region.
type scope struct{ account, region string }

type fault struct {
	kind faultKind
	code string // faultError: the error code answered
}

type faultKind int

const (
	faultThrottle faultKind = iota
	faultDrop
	faultDropAfter
	faultError
)

// Snapshot is an RDS DB snapshot (or cluster snapshot when Cluster is set).
type Snapshot struct {
	ID       string
	Instance string
	Cluster  string
	Status   string // default "available"
	TakenAt  time.Time
}

// New starts a fake; it is closed when the test ends.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{Account: "123456789012", Region: "eu-west-1", Step: 20 * time.Millisecond, PageSize: 100,
		tokens: map[string]*Stack{}, faults: map[string][]fault{}, calls: map[string]int{},
		failRes: map[string]string{}, delFail: map[string]string{}, keys: map[string]string{}, denied: map[string]bool{}, drifts: map[string]*detection{}, holds: map[string]*hold{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.releaseAll()
		s.Close()
	})
	return s
}

// Throttle makes the next n calls of action answer with a Throttling error.
func (s *Server) Throttle(action string, n int) { s.addFault(action, fault{kind: faultThrottle}, n) }

// Drop makes the next n calls of action drop the connection without an answer.
func (s *Server) Drop(action string, n int) { s.addFault(action, fault{kind: faultDrop}, n) }

// DropAfter makes the next n calls of action take effect but lose their
// answer: the connection drops after the work is done (the case idempotency
// tokens exist for).
func (s *Server) DropAfter(action string, n int) { s.addFault(action, fault{kind: faultDropAfter}, n) }

// Fail makes the next n calls of action answer with an error of this code
// (400; the SDK retries throttling codes such as LimitExceededException,
// not others such as AccessDenied or ValidationError).
func (s *Server) Fail(action, code string, n int) {
	s.addFault(action, fault{kind: faultError, code: code}, n)
}

func (s *Server) addFault(action string, f fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[action] = append(s.faults[action], f)
	}
}

// hold keeps the calls of one action waiting until it is released.
type hold struct {
	released chan struct{}
	waiting  int
	release  func()
}

// releaseAll releases every hold: a test's end never waits on a held call.
func (s *Server) releaseAll() {
	s.mu.Lock()
	var all []func()
	for _, h := range s.holds {
		all = append(all, h.release)
	}
	s.mu.Unlock()
	for _, release := range all {
		release()
	}
}

// Hold makes the calls of action wait before they take effect, until the
// returned release is called (the test's end releases them too). A call
// whose client goes away while it waits (a portal killed mid-call) never
// takes effect, as a request lost before it reached AWS. Held reports how
// many wait.
func (s *Server) Hold(action string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &hold{released: make(chan struct{})}
	s.holds[action] = h
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds[action] == h {
				delete(s.holds, action)
			}
			s.mu.Unlock()
			close(h.released)
		})
	}
	h.release = release
	return release
}

// Held reports how many calls of action wait on a Hold.
func (s *Server) Held(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.holds[action]; h != nil {
		return h.waiting
	}
	return 0
}

// wait blocks a call of action while it is held; false when its client
// went away meanwhile.
func (s *Server) wait(r *http.Request, action string) bool {
	s.mu.Lock()
	h := s.holds[action]
	if h != nil {
		h.waiting++
	}
	s.mu.Unlock()
	if h == nil {
		return true
	}
	defer func() {
		s.mu.Lock()
		h.waiting--
		s.mu.Unlock()
	}()
	select {
	case <-h.released:
		return true
	case <-r.Context().Done():
		return false
	}
}

// FailCreate makes the resource of this logical id fail to create in every
// stack created from now on, with reason; the stack then rolls back. An
// empty reason clears the failure.
func (s *Server) FailCreate(logicalID, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		delete(s.failRes, logicalID)
		return
	}
	s.failRes[logicalID] = reason
}

// FailDelete makes the resource fail to delete (the stack ends in
// DELETE_FAILED) until it is retained or the failure is cleared.
func (s *Server) FailDelete(logicalID, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		delete(s.delFail, logicalID)
		return
	}
	s.delFail[logicalID] = reason
}

// Deny refuses, with AccessDenied, every call in a region or AssumeRole of
// a role ARN (as a service control policy denying a region, or a role that
// does not trust Mayfly, does).
func (s *Server) Deny(regionOrRole string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[regionOrRole] = true
}

// AddSnapshot adds an RDS snapshot.
func (s *Server) AddSnapshot(sn Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sn.Status == "" {
		sn.Status = "available"
	}
	s.snapshots = append(s.snapshots, sn)
}

// RemoveSnapshot deletes an RDS snapshot (as its retention or a person
// would).
func (s *Server) RemoveSnapshot(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshots = slices.DeleteFunc(s.snapshots, func(sn Snapshot) bool { return sn.ID == id })
}

// Calls reports how often an action was called (faults included).
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// AssumedRoles lists the role ARNs AssumeRole was called with.
func (s *Server) AssumedRoles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.roles)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "not a query protocol request", http.StatusBadRequest)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, http.StatusForbidden, "Sender", "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	action := r.Form.Get("Action")
	s.mu.Lock()
	s.calls[action]++
	var f *fault
	if q := s.faults[action]; len(q) > 0 {
		f, s.faults[action] = &q[0], q[1:]
	}
	s.mu.Unlock()
	if f != nil && f.kind != faultDropAfter {
		switch f.kind {
		case faultError:
			writeError(w, http.StatusBadRequest, "Sender", f.code, "Injected "+f.code+" for "+action)
		case faultThrottle:
			writeError(w, http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded")
		case faultDrop:
			dropConnection(w)
		}
		return
	}
	if !s.wait(r, action) {
		return
	}
	sc := s.scopeOf(r)
	s.mu.Lock()
	denied := s.denied[sc.region]
	s.mu.Unlock()
	if denied {
		writeError(w, http.StatusForbidden, "Sender", "AccessDenied", "User is not authorized to perform: "+action+
			" with an explicit deny in a service control policy (region "+sc.region+")")
		return
	}
	h, ok := map[string]func(http.ResponseWriter, *http.Request){
		"CreateStack":                s.createStack,
		"DescribeStacks":             s.describeStacks,
		"DescribeStackEvents":        s.describeStackEvents,
		"DeleteStack":                s.deleteStack,
		"ValidateTemplate":           s.validateTemplate,
		"GetCallerIdentity":          s.getCallerIdentity,
		"AssumeRole":                 s.assumeRole,
		"DescribeDBSnapshots":        s.describeDBSnapshots,
		"DescribeDBClusterSnapshots": s.describeDBClusterSnapshots,

		"DetectStackDrift":                  s.detectStackDrift,
		"DescribeStackDriftDetectionStatus": s.describeStackDriftDetectionStatus,
		"DescribeStackResourceDrifts":       s.describeStackResourceDrifts,
	}[action]
	if !ok {
		writeError(w, http.StatusBadRequest, "Sender", "InvalidAction", "Could not find operation "+action)
		return
	}
	if f != nil { // faultDropAfter
		h(httptest.NewRecorder(), r)
		dropConnection(w)
		return
	}
	h(w, r)
}

// scopeOf reads where a call acts from its signature: the region of the
// credential scope (Credential=<key>/<date>/<region>/<service>/aws4_request)
// and the account of the access key.
func (s *Server) scopeOf(r *http.Request) scope {
	sc := scope{account: s.Account, region: s.Region}
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return sc
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) == 5 {
		sc.region = parts[2]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct, ok := s.keys[parts[0]]; ok {
		sc.account = acct
	}
	return sc
}

// dropConnection closes the TCP connection without an HTTP answer, as a
// network outage or a load balancer reset looks to the client.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("awstest: cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

// form lists of the query protocol: Name.member.1.Key, Name.member.2.Key...
func members(r *http.Request, name, field string) []string {
	var out []string
	for i := 1; ; i++ {
		key := name + ".member." + strconv.Itoa(i)
		if field != "" {
			key += "." + field
		}
		v, ok := r.Form[key]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprintf("%08d-0000-4000-8000-%012d", s.seq, s.seq)
}
