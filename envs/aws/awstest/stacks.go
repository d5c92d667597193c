package awstest

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Stack is one fake CloudFormation stack.
type Stack struct {
	ID, Name     string
	Account      string
	Region       string
	Status       string
	Reason       string
	Created      time.Time
	Tags         map[string]string
	Params       map[string]string
	Capabilities []string
	Outputs      map[string]string
	Token        string

	resources []resource
	events    []xEvent
	pending   []step // transitions still to come, in order
}

type resource struct {
	ID, Type string
	// props is the resource's Properties in the template; expected and
	// actual what drift detection compares (see drift.go).
	props            *yaml.Node
	expected, actual map[string]any
	deleted          bool
}

type step struct {
	at time.Time
	do func()
}

// advance applies the transitions whose time has come. Callers hold s.mu.
func (st *Stack) advance(now time.Time) {
	for len(st.pending) > 0 && !st.pending[0].at.After(now) {
		next := st.pending[0]
		st.pending = st.pending[1:]
		next.do()
	}
}

// Stacks returns copies of every stack, deleted ones included.
func (s *Server) Stacks() []Stack {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	out := make([]Stack, 0, len(s.stacks))
	for _, st := range s.stacks {
		st.advance(now)
		out = append(out, *st)
	}
	return out
}

// AddForeignStack adds a CREATE_COMPLETE stack created outside Mayfly (or
// by another Mayfly instance), with the given tags, in the default account
// and region.
func (s *Server) AddForeignStack(name string, tags map[string]string) string {
	return s.AddForeignStackIn(s.Account, s.Region, name, tags)
}

// AddForeignStackIn is AddForeignStack in another account or region.
func (s *Server) AddForeignStackIn(account, region, name string, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.newStack(scope{account, region}, name, time.Now(), tags)
	st.Status = "CREATE_COMPLETE"
	st.resources = []resource{{ID: "Thing", Type: "AWS::SNS::Topic"}}
	return st.ID
}

// SetStatus moves a stack to a status as something outside Mayfly would
// (an update made in the console that failed to roll back, a delete by
// hand), with the stack event CloudFormation records.
func (s *Server) SetStatus(id, status, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, st := range s.stacks {
		st.advance(now)
		if st.ID == id {
			st.pending = nil
			s.stackEvent(st, now, status, reason)
		}
	}
}

func (s *Server) newStack(sc scope, name string, now time.Time, tags map[string]string) *Stack {
	st := &Stack{ID: fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", sc.region, sc.account, name, s.nextID()),
		Name: name, Account: sc.account, Region: sc.region, Created: now, Tags: tags, Params: map[string]string{}, Outputs: map[string]string{}}
	s.stacks = append(s.stacks, st)
	return st
}

// event records a stack or resource event.
func (s *Server) event(st *Stack, at time.Time, logical, typ, status, reason string) {
	st.events = append(st.events, xEvent{StackID: st.ID, EventID: s.nextID(), StackName: st.Name, LogicalResourceID: logical,
		ResourceType: typ, Timestamp: ts(at), ResourceStatus: status, ResourceStatusReason: reason, ClientRequestToken: st.Token})
}

func (s *Server) stackEvent(st *Stack, at time.Time, status, reason string) {
	st.Status, st.Reason = status, reason
	s.event(st, at, st.Name, "AWS::CloudFormation::Stack", status, reason)
}

func (s *Server) createStack(w http.ResponseWriter, r *http.Request) {
	name, token, body := r.Form.Get("StackName"), r.Form.Get("ClientRequestToken"), r.Form.Get("TemplateBody")
	sc := s.scopeOf(r)
	// Tokens, like stacks, are per account and region.
	tokenKey := sc.account + "/" + sc.region + "/" + token
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.tokens[tokenKey]; ok && token != "" && st.Name == name {
		// The same request again (a retry): the same stack, not a new one.
		writeResult(w, "CreateStack", cfnNS, struct {
			XMLName xml.Name `xml:"CreateStackResult"`
			StackID string   `xml:"StackId"`
		}{StackID: st.ID})
		return
	}
	now := time.Now()
	for _, st := range s.stacks {
		st.advance(now)
		if st.in(sc) && st.Name == name && st.Status != "DELETE_COMPLETE" {
			writeError(w, http.StatusBadRequest, "Sender", "AlreadyExistsException", fmt.Sprintf("Stack [%s] already exists", name))
			return
		}
	}
	resources, err := parseResources(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError", "Template format error: "+err.Error())
		return
	}
	keys, vals := members(r, "Tags", "Key"), members(r, "Tags", "Value")
	tags := map[string]string{}
	for i := range keys {
		tags[keys[i]] = vals[i]
	}
	st := s.newStack(sc, name, now, tags)
	st.Token = token
	st.resources = resources
	st.Capabilities = members(r, "Capabilities", "")
	pk, pv := members(r, "Parameters", "ParameterKey"), members(r, "Parameters", "ParameterValue")
	for i := range pk {
		st.Params[pk[i]] = pv[i]
	}
	st.declare()
	if token != "" {
		s.tokens[tokenKey] = st
	}
	s.stackEvent(st, now, "CREATE_IN_PROGRESS", "User Initiated")
	s.planCreate(st, now)
	writeResult(w, "CreateStack", cfnNS, struct {
		XMLName xml.Name `xml:"CreateStackResult"`
		StackID string   `xml:"StackId"`
	}{StackID: st.ID})
}

// planCreate schedules each resource's creation, one step apart; a resource
// told to fail ends the create in a rollback.
func (s *Server) planCreate(st *Stack, now time.Time) {
	at := now
	for _, res := range st.resources {
		at = at.Add(s.Step)
		t := at
		st.pending = append(st.pending, step{t, func() { s.event(st, t, res.ID, res.Type, "CREATE_IN_PROGRESS", "") }})
		if reason, fail := s.failRes[res.ID]; fail {
			at = at.Add(s.Step)
			t2 := at
			st.pending = append(st.pending, step{t2, func() {
				s.event(st, t2, res.ID, res.Type, "CREATE_FAILED", reason)
				s.stackEvent(st, t2, "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: ["+res.ID+"]. Rollback requested by user.")
			}})
			at = at.Add(s.Step)
			t3 := at
			st.pending = append(st.pending, step{t3, func() { s.stackEvent(st, t3, "ROLLBACK_COMPLETE", "") }})
			return
		}
		at = at.Add(s.Step)
		t2 := at
		st.pending = append(st.pending, step{t2, func() { s.event(st, t2, res.ID, res.Type, "CREATE_COMPLETE", "") }})
	}
	at = at.Add(s.Step)
	t := at
	outputs := maps.Clone(s.Outputs)
	st.pending = append(st.pending, step{t, func() {
		st.Outputs = outputs
		s.stackEvent(st, t, "CREATE_COMPLETE", "")
	}})
}

func (s *Server) deleteStack(w http.ResponseWriter, r *http.Request) {
	ref, retain := r.Form.Get("StackName"), members(r, "RetainResources", "")
	sc := s.scopeOf(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(sc, ref, time.Now())
	ok := func() {
		writeResult(w, "DeleteStack", cfnNS, struct {
			XMLName xml.Name `xml:"DeleteStackResult"`
		}{})
	}
	if st == nil || st.Status == "DELETE_COMPLETE" || st.Status == "DELETE_IN_PROGRESS" {
		ok() // deleting what is gone or going is a no-op, as in AWS
		return
	}
	if len(retain) > 0 && st.Status != "DELETE_FAILED" {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError",
			"Invalid operation on stack "+st.ID+": RetainResources can only be specified when the stack is in the DELETE_FAILED state")
		return
	}
	now := time.Now()
	st.pending = nil // a delete cancels what a create still had to do
	s.stackEvent(st, now, "DELETE_IN_PROGRESS", "User Initiated")
	at := now
	var failed []string
	for _, res := range slices.Backward(st.resources) {
		at = at.Add(s.Step)
		t := at
		switch reason, fail := s.delFail[res.ID]; {
		case slices.Contains(retain, res.ID):
			st.pending = append(st.pending, step{t, func() { s.event(st, t, res.ID, res.Type, "DELETE_SKIPPED", "") }})
		case fail:
			failed = append(failed, res.ID)
			st.pending = append(st.pending, step{t, func() { s.event(st, t, res.ID, res.Type, "DELETE_FAILED", reason) }})
		default:
			st.pending = append(st.pending, step{t, func() { s.event(st, t, res.ID, res.Type, "DELETE_COMPLETE", "") }})
		}
	}
	at = at.Add(s.Step)
	t := at
	if len(failed) > 0 {
		reason := "The following resource(s) failed to delete: [" + strings.Join(failed, ", ") + "]. "
		st.pending = append(st.pending, step{t, func() { s.stackEvent(st, t, "DELETE_FAILED", reason) }})
	} else {
		st.pending = append(st.pending, step{t, func() { s.stackEvent(st, t, "DELETE_COMPLETE", "") }})
	}
	ok()
}

// in reports whether the stack lives in the account and region of a call.
func (st *Stack) in(sc scope) bool { return st.Account == sc.account && st.Region == sc.region }

// find looks a stack up as CloudFormation does, in the call's account and
// region: by id, any stack (deleted ones too); by name, only a stack that is
// not deleted. Callers hold s.mu.
func (s *Server) find(sc scope, ref string, now time.Time) *Stack {
	for _, st := range s.stacks {
		st.advance(now)
	}
	for _, st := range s.stacks {
		if st.in(sc) && (st.ID == ref || (st.Name == ref && st.Status != "DELETE_COMPLETE")) {
			return st
		}
	}
	return nil
}

func (s *Server) describeStacks(w http.ResponseWriter, r *http.Request) {
	ref := r.Form.Get("StackName")
	sc := s.scopeOf(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var list []*Stack
	if ref != "" {
		st := s.find(sc, ref, now)
		if st == nil {
			writeError(w, http.StatusBadRequest, "Sender", "ValidationError", "Stack with id "+ref+" does not exist")
			return
		}
		list = []*Stack{st}
	} else {
		for _, st := range s.stacks {
			st.advance(now)
			if st.in(sc) && st.Status != "DELETE_COMPLETE" {
				list = append(list, st)
			}
		}
	}
	page, next := paginate(list, r.Form.Get("NextToken"), s.PageSize)
	res := struct {
		XMLName   xml.Name `xml:"DescribeStacksResult"`
		Stacks    []xStack `xml:"Stacks>member"`
		NextToken string   `xml:"NextToken,omitempty"`
	}{NextToken: next}
	for _, st := range page {
		x := xStack{StackID: st.ID, StackName: st.Name, CreationTime: ts(st.Created), StackStatus: st.Status,
			StackStatusReason: st.Reason, Capabilities: st.Capabilities}
		for _, k := range slices.Sorted(maps.Keys(st.Tags)) {
			x.Tags = append(x.Tags, xTag{k, st.Tags[k]})
		}
		for _, k := range slices.Sorted(maps.Keys(st.Params)) {
			x.Parameters = append(x.Parameters, xParameter{k, st.Params[k]})
		}
		for _, k := range slices.Sorted(maps.Keys(st.Outputs)) {
			x.Outputs = append(x.Outputs, xOutput{k, st.Outputs[k]})
		}
		res.Stacks = append(res.Stacks, x)
	}
	writeResult(w, "DescribeStacks", cfnNS, res)
}

func (s *Server) describeStackEvents(w http.ResponseWriter, r *http.Request) {
	ref := r.Form.Get("StackName")
	sc := s.scopeOf(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(sc, ref, time.Now())
	if st == nil {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError", "Stack ["+ref+"] does not exist")
		return
	}
	newestFirst := slices.Clone(st.events)
	slices.Reverse(newestFirst)
	page, next := paginate(newestFirst, r.Form.Get("NextToken"), s.PageSize)
	writeResult(w, "DescribeStackEvents", cfnNS, struct {
		XMLName     xml.Name `xml:"DescribeStackEventsResult"`
		StackEvents []xEvent `xml:"StackEvents>member"`
		NextToken   string   `xml:"NextToken,omitempty"`
	}{StackEvents: page, NextToken: next})
}

func (s *Server) validateTemplate(w http.ResponseWriter, r *http.Request) {
	if _, err := parseResources(r.Form.Get("TemplateBody")); err != nil {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError", "Template format error: "+err.Error())
		return
	}
	writeResult(w, "ValidateTemplate", cfnNS, struct {
		XMLName xml.Name `xml:"ValidateTemplateResult"`
	}{})
}

// parseResources reads the logical ids and types of a template's resources.
func parseResources(body string) ([]resource, error) {
	var doc struct {
		Resources yaml.Node `yaml:"Resources"`
	}
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		return nil, fmt.Errorf("YAML not well-formed")
	}
	n := doc.Resources
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		//lint:ignore ST1005 CloudFormation's own wording, as the SDK client sees it
		return nil, fmt.Errorf("At least one Resources member must be defined.")
	}
	var out []resource
	for i := 0; i+1 < len(n.Content); i += 2 {
		var r struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		}
		if err := n.Content[i+1].Decode(&r); err != nil || r.Type == "" {
			//lint:ignore ST1005 CloudFormation's own wording, as the SDK client sees it
			return nil, fmt.Errorf("[/Resources/%s] Every Resources object must contain a Type member.", n.Content[i].Value)
		}
		if !strings.HasPrefix(r.Type, "AWS::") && !strings.HasPrefix(r.Type, "Custom::") {
			//lint:ignore ST1005 CloudFormation's own wording, as the SDK client sees it
			return nil, fmt.Errorf("Unrecognized resource types: [%s]", r.Type)
		}
		out = append(out, resource{ID: n.Content[i].Value, Type: r.Type, props: &r.Properties})
	}
	return out, nil
}

// paginate cuts a list into pages; the token is the next index.
func paginate[T any](list []T, token string, size int) ([]T, string) {
	start, _ := strconv.Atoi(token)
	start = min(max(start, 0), len(list))
	end := min(start+max(size, 1), len(list))
	next := ""
	if end < len(list) {
		next = strconv.Itoa(end)
	}
	return list[start:end], next
}
