package awstest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Drift detection as CloudFormation does it: DetectStackDrift starts a
// detection that completes one Step later, DescribeStackDriftDetectionStatus
// reports on it, and DescribeStackResourceDrifts lists each resource's
// drift as that detection found it. A resource's expected properties are
// the template's, with !Ref and !Sub of parameters resolved; its actual
// ones start equal and change only through DriftResource and
// DeleteResource, as changes made by hand in the console would.

// detection is one drift detection.
type detection struct {
	id, stackID string
	done        time.Time
	drifts      []xResourceDrift
}

// DriftResource sets a property of a resource as it is now in the account
// (a top-level property of its Properties), or removes it when value is
// nil, without CloudFormation knowing.
func (s *Server) DriftResource(stackID, logicalID, property string, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.resourceOf(stackID, logicalID); r != nil {
		if value == nil {
			delete(r.actual, property)
		} else {
			r.actual[property] = value
		}
	}
}

// DeleteResource deletes a resource of a stack outside CloudFormation.
func (s *Server) DeleteResource(stackID, logicalID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.resourceOf(stackID, logicalID); r != nil {
		r.deleted = true
	}
}

// RestoreResource puts a resource back as its stack declares it.
func (s *Server) RestoreResource(stackID, logicalID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.resourceOf(stackID, logicalID); r != nil {
		r.deleted, r.actual = false, deepCopy(r.expected).(map[string]any)
	}
}

// OverlappingDetections counts the drift detections started while another
// of the same stack was still in progress.
func (s *Server) OverlappingDetections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overlaps
}

// MostDetections is the most drift detections that were in progress at
// once, across every stack.
func (s *Server) MostDetections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mostDetections
}

// resourceOf finds a stack's resource. Callers hold s.mu.
func (s *Server) resourceOf(stackID, logicalID string) *resource {
	for _, st := range s.stacks {
		if st.ID != stackID {
			continue
		}
		for i := range st.resources {
			if st.resources[i].ID == logicalID {
				return &st.resources[i]
			}
		}
	}
	return nil
}

// declare works out each resource's expected properties from the
// template and the stack's parameters. Callers hold s.mu.
func (st *Stack) declare() {
	for i := range st.resources {
		r := &st.resources[i]
		r.expected = map[string]any{}
		if r.props != nil {
			if m, ok := st.resolve(r.props).(map[string]any); ok {
				r.expected = m
			}
		}
		r.actual = deepCopy(r.expected).(map[string]any)
	}
}

// resolve turns a template node into a value: !Ref and Ref of a parameter
// become its value, of a resource its physical id; !Sub and Fn::Sub
// substitute ${Name}; other intrinsic functions stay as written.
func (st *Stack) resolve(n *yaml.Node) any {
	switch n.Kind {
	case yaml.AliasNode:
		return st.resolve(n.Alias)
	case yaml.ScalarNode:
		switch n.Tag {
		case "!Ref":
			return st.ref(n.Value)
		case "!Sub":
			return st.sub(n.Value)
		}
		return n.Value
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			out = append(out, st.resolve(c))
		}
		return out
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[1].Kind == yaml.ScalarNode {
			switch n.Content[0].Value {
			case "Ref":
				return st.ref(n.Content[1].Value)
			case "Fn::Sub":
				return st.sub(n.Content[1].Value)
			}
		}
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = st.resolve(n.Content[i+1])
		}
		return out
	}
	return nil
}

func (st *Stack) ref(name string) string {
	if v, ok := st.Params[name]; ok {
		return v
	}
	for _, r := range st.resources {
		if r.ID == name {
			return st.physicalID(name)
		}
	}
	return name
}

func (st *Stack) sub(text string) string {
	for name, v := range st.Params {
		text = strings.ReplaceAll(text, "${"+name+"}", v)
	}
	return text
}

func (st *Stack) physicalID(logicalID string) string {
	return st.Name + "-" + logicalID + "-1A2B3C"
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}

// stableForDrift are the statuses in which CloudFormation detects drift.
var stableForDrift = []string{"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}

func (s *Server) detectStackDrift(w http.ResponseWriter, r *http.Request) {
	ref := r.Form.Get("StackName")
	sc := s.scopeOf(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	st := s.find(sc, ref, now)
	if st == nil || st.Status == "DELETE_COMPLETE" {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError", "Stack with id "+ref+" does not exist")
		return
	}
	if !slices.Contains(stableForDrift, st.Status) {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError",
			fmt.Sprintf("Stack [%s] is in %s state and can not be checked for drift", st.Name, st.Status))
		return
	}
	running := 1
	for _, d := range s.drifts {
		if now.Before(d.done) {
			running++
			if d.stackID == st.ID {
				s.overlaps++
			}
		}
	}
	s.mostDetections = max(s.mostDetections, running)
	d := &detection{id: s.nextID(), stackID: st.ID, done: now.Add(s.Step)}
	for _, res := range st.resources {
		d.drifts = append(d.drifts, st.resourceDrift(res, now))
	}
	s.drifts[d.id] = d
	writeResult(w, "DetectStackDrift", cfnNS, struct {
		XMLName xml.Name `xml:"DetectStackDriftResult"`
		ID      string   `xml:"StackDriftDetectionId"`
	}{ID: d.id})
}

// resourceDrift compares a resource with what its stack declares.
func (st *Stack) resourceDrift(res resource, now time.Time) xResourceDrift {
	expected, _ := json.Marshal(res.expected)
	x := xResourceDrift{StackID: st.ID, LogicalResourceID: res.ID, PhysicalResourceID: st.physicalID(res.ID),
		ResourceType: res.Type, ExpectedProperties: string(expected), Timestamp: ts(now), StackResourceDriftStatus: "IN_SYNC"}
	if res.deleted {
		x.StackResourceDriftStatus = "DELETED"
		return x
	}
	actual, _ := json.Marshal(res.actual)
	x.ActualProperties = string(actual)
	differences(res.expected, res.actual, "", &x.PropertyDifferences)
	if len(x.PropertyDifferences) > 0 {
		x.StackResourceDriftStatus = "MODIFIED"
	}
	return x
}

// differences lists where actual differs from expected, by JSON pointer.
func differences(expected, actual any, path string, out *[]xPropertyDifference) {
	add := func(kind string, e, a any) {
		*out = append(*out, xPropertyDifference{PropertyPath: path, ExpectedValue: text(e), ActualValue: text(a), DifferenceType: kind})
	}
	em, eok := expected.(map[string]any)
	am, aok := actual.(map[string]any)
	if eok && aok {
		keys := slices.Sorted(maps.Keys(em))
		for k := range am {
			if _, ok := em[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			e, inE := em[k]
			a, inA := am[k]
			p := path + "/" + k
			switch {
			case !inA:
				*out = append(*out, xPropertyDifference{PropertyPath: p, ExpectedValue: text(e), DifferenceType: "REMOVE"})
			case !inE:
				*out = append(*out, xPropertyDifference{PropertyPath: p, ActualValue: text(a), DifferenceType: "ADD"})
			default:
				differences(e, a, p, out)
			}
		}
		return
	}
	el, eok := expected.([]any)
	al, aok := actual.([]any)
	if eok && aok {
		for i := range max(len(el), len(al)) {
			p := path + "/" + strconv.Itoa(i)
			switch {
			case i >= len(al):
				*out = append(*out, xPropertyDifference{PropertyPath: p, ExpectedValue: text(el[i]), DifferenceType: "REMOVE"})
			case i >= len(el):
				*out = append(*out, xPropertyDifference{PropertyPath: p, ActualValue: text(al[i]), DifferenceType: "ADD"})
			default:
				differences(el[i], al[i], p, out)
			}
		}
		return
	}
	if !reflect.DeepEqual(expected, actual) {
		add("NOT_EQUAL", expected, actual)
	}
}

// text is a property value as CloudFormation writes it in a difference:
// strings as they are, the rest as JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *Server) describeStackDriftDetectionStatus(w http.ResponseWriter, r *http.Request) {
	id := r.Form.Get("StackDriftDetectionId")
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drifts[id]
	if d == nil {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError", "Drift detection "+id+" does not exist")
		return
	}
	res := xDetectionStatus{ID: d.id, StackID: d.stackID, Timestamp: ts(d.done), DetectionStatus: "DETECTION_IN_PROGRESS"}
	if !time.Now().Before(d.done) {
		res.DetectionStatus, res.StackDriftStatus = "DETECTION_COMPLETE", "IN_SYNC"
		n := 0
		for _, x := range d.drifts {
			if x.StackResourceDriftStatus != "IN_SYNC" {
				n++
			}
		}
		res.DriftedCount = &n
		if n > 0 {
			res.StackDriftStatus = "DRIFTED"
		}
	}
	writeResult(w, "DescribeStackDriftDetectionStatus", cfnNS, res)
}

func (s *Server) describeStackResourceDrifts(w http.ResponseWriter, r *http.Request) {
	ref := r.Form.Get("StackName")
	filters := members(r, "StackResourceDriftStatusFilters", "")
	sc := s.scopeOf(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	st := s.find(sc, ref, now)
	if st == nil {
		writeError(w, http.StatusBadRequest, "Sender", "ValidationError", "Stack with id "+ref+" does not exist")
		return
	}
	// The results of the stack's latest completed detection.
	var latest *detection
	for _, d := range s.drifts {
		if d.stackID == st.ID && !now.Before(d.done) && (latest == nil || d.done.After(latest.done)) {
			latest = d
		}
	}
	var list []xResourceDrift
	if latest != nil {
		for _, x := range latest.drifts {
			if len(filters) == 0 || slices.Contains(filters, x.StackResourceDriftStatus) {
				list = append(list, x)
			}
		}
	}
	size := s.PageSize
	if n, err := strconv.Atoi(r.Form.Get("MaxResults")); err == nil && n > 0 {
		size = min(size, n)
	}
	page, next := paginate(list, r.Form.Get("NextToken"), size)
	writeResult(w, "DescribeStackResourceDrifts", cfnNS, struct {
		XMLName   xml.Name         `xml:"DescribeStackResourceDriftsResult"`
		Drifts    []xResourceDrift `xml:"StackResourceDrifts>member"`
		NextToken string           `xml:"NextToken,omitempty"`
	}{Drifts: page, NextToken: next})
}

type xDetectionStatus struct {
	XMLName          xml.Name `xml:"DescribeStackDriftDetectionStatusResult"`
	ID               string   `xml:"StackDriftDetectionId"`
	StackID          string   `xml:"StackId"`
	StackDriftStatus string   `xml:"StackDriftStatus,omitempty"`
	DetectionStatus  string   `xml:"DetectionStatus"`
	DriftedCount     *int     `xml:"DriftedStackResourceCount,omitempty"`
	Timestamp        string   `xml:"Timestamp"`
}

type xResourceDrift struct {
	StackID                  string                `xml:"StackId"`
	LogicalResourceID        string                `xml:"LogicalResourceId"`
	PhysicalResourceID       string                `xml:"PhysicalResourceId"`
	ResourceType             string                `xml:"ResourceType"`
	ExpectedProperties       string                `xml:"ExpectedProperties,omitempty"`
	ActualProperties         string                `xml:"ActualProperties,omitempty"`
	PropertyDifferences      []xPropertyDifference `xml:"PropertyDifferences>member"`
	StackResourceDriftStatus string                `xml:"StackResourceDriftStatus"`
	Timestamp                string                `xml:"Timestamp"`
}

type xPropertyDifference struct {
	PropertyPath   string `xml:"PropertyPath"`
	ExpectedValue  string `xml:"ExpectedValue"`
	ActualValue    string `xml:"ActualValue"`
	DifferenceType string `xml:"DifferenceType"`
}
