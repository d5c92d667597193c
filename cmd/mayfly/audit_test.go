package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

func TestAuditExport(t *testing.T) {
	o := startOP(t)
	s := startSignIn(t, o)
	ctx := context.Background()
	_, adminCookie, _ := mintSession(t, s, "ada", "mayfly-admins")
	evil, _, _ := mintSession(t, s, "=evil", "everyone")
	if _, err := s.Service.Launch(ctx, evil, envs.LaunchRequest{Template: "demo-shop"}); envs.ErrorCode(err) != envs.EForbidden {
		t.Fatalf("a viewer's launch: %v, want forbidden", err)
	}
	get := func(path string) (int, string, string) {
		req, _ := http.NewRequest("GET", s.url+path, nil)
		req.AddCookie(&http.Cookie{Name: "mayfly_session", Value: adminCookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}

	status, ctype, body := get("/admin/audit/export?format=jsonl&action=auth.")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "application/jsonl") {
		t.Fatalf("jsonl export: %d %s", status, ctype)
	}
	var lines int
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var e struct{ Actor, Action, Result, Address string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if !strings.HasPrefix(e.Action, "auth.") || e.Result != "ok" || e.Address == "" {
			t.Errorf("exported %+v, want only auth.* with a result and an address", e)
		}
		lines++
	}
	if lines != 2 {
		t.Errorf("%d sign-ins exported, want 2", lines)
	}

	status, ctype, body = get("/admin/audit/export?format=csv&result=forbidden")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/csv") {
		t.Fatalf("csv export: %d %s", status, ctype)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][2] != "actor" || rows[1][3] != "environment.launch" {
		t.Fatalf("csv = %v, want a header and the refused launch", rows)
	}
	if rows[1][2] != "'=evil@example.com" {
		t.Errorf("actor cell = %q: a leading = must be defused for spreadsheets", rows[1][2])
	}

	// =evil signed in and tried to launch: two rows, none of ada's.
	if status, _, body := get("/admin/audit?actor=%3Devil%40example.com"); status != http.StatusOK ||
		strings.Count(body, `data-testid="audit-row"`) != 2 || !strings.Contains(body, "environment.launch") {
		t.Errorf("filtered audit page: %d with %d rows, want =evil's sign-in and launch", status, strings.Count(body, `data-testid="audit-row"`))
	}
	if status, _, _ := get("/admin/audit/export?format=xml"); status != http.StatusUnprocessableEntity {
		t.Errorf("unknown format: %d, want 422", status)
	}
}
