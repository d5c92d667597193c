package envs_test

import (
	"reflect"
	"testing"

	"github.com/mayflyhq/mayfly/envs"
)

func ptr(n int64) *int64 { return &n }

func TestValidateParams(t *testing.T) {
	schema := []envs.Param{
		{Name: "customer", Type: envs.ParamString, Required: true, Pattern: "[A-Za-z ]+", Max: ptr(20)},
		{Name: "products", Type: envs.ParamInt, Default: "12", HasDefault: true, Min: ptr(1), Max: ptr(200)},
		{Name: "orders", Type: envs.ParamBool},
		{Name: "theme", Type: envs.ParamEnum, Options: []string{"light", "dark"}, Default: "light", HasDefault: true},
		{Name: "api_key", Type: envs.ParamString, Secret: true},
	}
	tests := []struct {
		name       string
		schema     []envs.Param // nil: the schema above
		in         map[string]any
		want       map[string]string
		wantFields map[string]string // field -> message
	}{
		{
			name: "defaults filled",
			in:   map[string]any{"customer": "Acme"},
			want: map[string]string{"customer": "Acme", "products": "12", "orders": "false", "theme": "light"},
		},
		{
			name: "json types normalised",
			in:   map[string]any{"customer": "Acme", "products": float64(40), "orders": true, "theme": "dark", "api_key": "s3cret"},
			want: map[string]string{"customer": "Acme", "products": "40", "orders": "true", "theme": "dark", "api_key": "s3cret"},
		},
		{
			name: "form strings",
			in:   map[string]any{"customer": "Acme", "products": " 7 ", "orders": "true"},
			want: map[string]string{"customer": "Acme", "products": "7", "orders": "true", "theme": "light"},
		},
		{
			name:       "every problem at once",
			in:         map[string]any{"customer": "Acme!", "products": "0", "orders": "maybe", "theme": "blue", "colour": "red"},
			wantFields: map[string]string{"params.customer": "does not match the pattern [A-Za-z ]+", "params.products": "must be at least 1", "params.orders": `"maybe" is not true or false`, "params.theme": `"blue" is not one of light, dark`, "params.colour": "is not a parameter of this template"},
		},
		{
			name:       "required missing",
			in:         map[string]any{},
			wantFields: map[string]string{"params.customer": "is required"},
		},
		{
			name:       "required empty",
			in:         map[string]any{"customer": ""},
			wantFields: map[string]string{"params.customer": "is required"},
		},
		{
			name:       "pattern is anchored",
			in:         map[string]any{"customer": "Acme; DROP"},
			wantFields: map[string]string{"params.customer": "does not match the pattern [A-Za-z ]+"},
		},
		{
			name:       "pattern hint is the message",
			schema:     []envs.Param{{Name: "customer", Type: envs.ParamString, Pattern: "[A-Za-z ]+", PatternHint: "letters and spaces only"}},
			in:         map[string]any{"customer": "Acme!"},
			wantFields: map[string]string{"params.customer": "letters and spaces only"},
		},
		{
			name:       "int not a number",
			in:         map[string]any{"customer": "Acme", "products": 1.5},
			wantFields: map[string]string{"params.products": `"1.5" is not a whole number`},
		},
		{
			name:       "string too long",
			in:         map[string]any{"customer": "Abcdefghijklmnopqrstuvwxyz"},
			wantFields: map[string]string{"params.customer": "must be at most 20 characters"},
		},
		{
			name: "NUL bytes in any type",
			in:   map[string]any{"customer": "Ac\x00me", "products": "1\x00", "theme": "dark\x00", "api_key": "\x00"},
			wantFields: map[string]string{
				"params.customer": "must not contain a NUL byte (\\0, at byte 2): a command line or environment variable cannot carry one",
				"params.products": "must not contain a NUL byte (\\0, at byte 1): a command line or environment variable cannot carry one",
				"params.theme":    "must not contain a NUL byte (\\0, at byte 4): a command line or environment variable cannot carry one",
				"params.api_key":  "must not contain a NUL byte (\\0, at byte 0): a command line or environment variable cannot carry one",
			},
		},
		{
			name:       "not UTF-8",
			in:         map[string]any{"customer": "Acme", "theme": "d\xffrk"},
			wantFields: map[string]string{"params.theme": "is not valid UTF-8"},
		},
		{
			name: "newlines and tabs are fine",
			in:   map[string]any{"customer": "Acme", "api_key": "line one\n\tline two"},
			want: map[string]string{"customer": "Acme", "products": "12", "orders": "false", "theme": "light", "api_key": "line one\n\tline two"},
		},
		{
			name:       "object value",
			in:         map[string]any{"customer": map[string]any{"a": 1}},
			wantFields: map[string]string{"params.customer": "must be a string, number or boolean"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := schema
			if tt.schema != nil {
				sc = tt.schema
			}
			got, errs := envs.ValidateParams(sc, tt.in)
			gotFields := map[string]string{}
			for _, e := range errs {
				gotFields[e.Field] = e.Message
			}
			if tt.wantFields == nil {
				tt.wantFields = map[string]string{}
			}
			if !reflect.DeepEqual(gotFields, tt.wantFields) {
				t.Errorf("errors = %v, want %v", gotFields, tt.wantFields)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("values = %v, want %v", got, tt.want)
			}
		})
	}
}
