package tofu_test

import (
	"strings"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/envs/tofu"
)

func TestParseStack(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string // "" for a valid stack
		msg   string
	}{
		{name: "one file", body: `{"files":{"main.tf":"locals {}"}}`},
		{name: "a sub-module", body: `{"files":{"main.tf":"module \"m\" { source = \"./m\" }","m/main.tf":"locals {}"}}`},
		{name: "json configuration", body: `{"files":{"main.tf.json":"{}"}}`},
		{name: "not a mapping", body: `[1]`, field: "stack", msg: "must be a mapping"},
		{name: "unknown field", body: `{"files":{"main.tf":""},"modules":"x"}`, field: "stack", msg: "unknown field"},
		{name: "a module not resolved at publish", body: `{"module":"x"}`, field: "stack.module", msg: "resolved at publish"},
		{name: "no files", body: `{}`, field: "stack.files", msg: "is required"},
		{name: "no top-level .tf", body: `{"files":{"m/main.tf":"locals {}"}}`, field: "stack.files", msg: "no .tf or .tf.json file"},
		{name: "parent dir", body: `{"files":{"../main.tf":""}}`, field: "stack.files[../main.tf]", msg: "relative file name"},
		{name: "absolute", body: `{"files":{"/etc/main.tf":""}}`, field: "stack.files[/etc/main.tf]", msg: "relative file name"},
		{name: "Mayfly's backend file", body: `{"files":{"mayfly_backend.tf":""}}`, field: "stack.files[mayfly_backend.tf]", msg: "keeps for itself"},
		{name: "a state file", body: `{"files":{"main.tf":"","terraform.tfstate":"{}"}}`, field: "stack.files[terraform.tfstate]", msg: "kept by Mayfly"},
		{name: "own backend", body: `{"files":{"main.tf":"terraform {\n  backend \"local\" {}\n}"}}`, field: "stack.files[main.tf]", msg: "line 2: declares its own state storage"},
		{name: "cloud block", body: `{"files":{"main.tf":"terraform {\n\n  cloud {\n  }\n}"}}`, field: "stack.files[main.tf]", msg: "line 3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tofu.ParseStack([]byte(tt.body))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ParseStack: %v", err)
				}
				return
			}
			for _, f := range envs.ErrorFields(err) {
				if f.Field == tt.field && strings.Contains(f.Message, tt.msg) {
					return
				}
			}
			t.Errorf("ParseStack = %v, want %s: %q", err, tt.field, tt.msg)
		})
	}
}
