package envs

import (
	"fmt"
	"strings"
	"testing"
)

// What a check records is masked and bounded whatever the provider says.
func TestBoundDrift(t *testing.T) {
	m := newMasker(map[string]string{"password": "hunter2-secret"})
	items := []DriftItem{{Resource: "Db", Type: "AWS::RDS::DBInstance", Status: DriftModified, Detail: "password hunter2-secret\nchanged",
		Differences: []DriftDifference{{Path: "/MasterUserPassword", Expected: "hunter2-secret", Actual: strings.Repeat("x", 2000), Kind: "NOT_EQUAL"}}}}
	got := boundDrift(items, m)
	if d := got[0].Detail; d != "password *** changed" {
		t.Errorf("detail %q, want the secret masked, on one line", d)
	}
	if d := got[0].Differences[0]; d.Expected != "***" || len(d.Actual) > maxDriftValue+len("...") {
		t.Errorf("difference %+v, want the secret masked and the long value cut", d)
	}

	var many []DriftItem
	for i := range 250 {
		many = append(many, DriftItem{Resource: fmt.Sprintf("r%d", i), Status: DriftDeleted})
	}
	got = boundDrift(many, nil)
	if len(got) != maxDriftItems || got[maxDriftItems-2].Resource != "r98" || got[maxDriftItems-1].Resource != "151 more" {
		t.Errorf("%d items, the last two %+v, want %d with the rest counted", len(got), got[len(got)-2:], maxDriftItems)
	}
}
