package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// stateCall is one request to the tofu state backend.
func (s *testServer) stateCall(method, stack, user, password, query string, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+"/api/v1/tofu/states/"+stack+query, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if password != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTofuStateBackend drives the http backend as OpenTofu does: a lock is
// exclusive (423 with the holder's lock info), a locked state takes writes
// from its holder only, and every stack has its own credential.
func TestTofuStateBackend(t *testing.T) {
	s := startMain(t, testCatalog(t))
	cred := s.Service.TofuStates().Credential
	const stack = "stk-backend"
	pw := cred(stack)
	lockA := `{"ID":"lock-a","Operation":"OperationTypeApply","Who":"alice@host"}`
	lockB := `{"ID":"lock-b","Operation":"OperationTypePlan","Who":"bob@host"}`
	steps := []struct {
		name           string
		method, query  string
		user, password string
		body           string
		wantStatus     int
		wantBody       string
	}{
		{"no credential", "GET", "", "", "", "", http.StatusUnauthorized, ""},
		{"another stack's credential", "GET", "", "x", cred("stk-other"), "", http.StatusUnauthorized, ""},
		{"no state yet", "GET", "", "x", pw, "", http.StatusNoContent, ""},
		{"lock", "LOCK", "", "alice", pw, lockA, http.StatusOK, ""},
		{"lock again by its holder", "LOCK", "", "alice", pw, lockA, http.StatusOK, ""},
		{"a second lock is refused with the holder's info", "LOCK", "", "bob", pw, lockB, http.StatusLocked, `"ID":"lock-a"`},
		{"write without the lock", "POST", "", "bob", pw, `{"version":4,"serial":1}`, http.StatusConflict, ""},
		{"write with another lock id", "POST", "?ID=lock-b", "bob", pw, `{"version":4,"serial":1}`, http.StatusConflict, ""},
		{"write by the holder", "POST", "?ID=lock-a", "alice", pw, `{"version":4,"serial":1,"lineage":"l1"}`, http.StatusOK, ""},
		{"not JSON", "POST", "?ID=lock-a", "alice", pw, `not json`, http.StatusUnprocessableEntity, "body"},
		{"read it back", "GET", "", "bob", pw, "", http.StatusOK, `"lineage":"l1"`},
		{"unlock by another lock id", "UNLOCK", "", "bob", pw, lockB, http.StatusLocked, `"ID":"lock-a"`},
		{"unlock by the holder", "UNLOCK", "", "alice", pw, lockA, http.StatusOK, ""},
		{"unlock when unlocked", "UNLOCK", "", "alice", pw, lockA, http.StatusOK, ""},
		{"write when unlocked", "POST", "", "bob", pw, `{"version":4,"serial":2,"lineage":"l1"}`, http.StatusOK, ""},
		{"delete", "DELETE", "", "bob", pw, "", http.StatusOK, ""},
		{"gone", "GET", "", "bob", pw, "", http.StatusNoContent, ""},
		{"lock info without an ID", "LOCK", "", "bob", pw, `{"Who":"x"}`, http.StatusUnprocessableEntity, "body"},
	}
	for _, st := range steps {
		code, body := s.stateCall(st.method, stack, st.user, st.password, st.query, st.body)
		if code != st.wantStatus || !strings.Contains(body, st.wantBody) {
			t.Errorf("%s: %s = %d %s, want %d with %q", st.name, st.method, code, body, st.wantStatus, st.wantBody)
		}
	}
	// Sealed at rest: the row does not hold the document in the clear.
	code, _ := s.stateCall("POST", stack, "x", pw, "", `{"version":4,"lineage":"visible-lineage"}`)
	row, err := s.DB.TofuState(t.Context(), stack)
	if code != http.StatusOK || err != nil || bytes.Contains(row.State, []byte("visible-lineage")) {
		t.Errorf("state row: %d %v, sealed: %v", code, err, row != nil && !bytes.Contains(row.State, []byte("visible-lineage")))
	}
	// Every call is audited, refusals included.
	var audit struct {
		Items []struct {
			Action string `json:"action"`
			Result string `json:"result"`
		} `json:"items"`
	}
	s.api("GET", "/api/v1/audit?target="+stack, nil).decode(t, &audit)
	got := map[string]bool{}
	for _, it := range audit.Items {
		got[it.Action+" "+it.Result] = true
	}
	for _, want := range []string{"tofu.state.lock ok", "tofu.state.lock conflict", "tofu.state.write ok", "tofu.state.delete ok", "tofu.state.refused unauthorized"} {
		if !got[want] {
			t.Errorf("audit log has no %q: %v", want, got)
		}
	}
}
