package envs

import (
	"reflect"
	"testing"
)

func TestTypeValues(t *testing.T) {
	types := map[string]ParamType{"replicas": ParamInt, "seed": ParamBool, "customer": ParamString, "size": ParamEnum}
	tests := []struct {
		name   string
		values map[string]string
		want   map[string]any
	}{
		{"int is a number", map[string]string{"replicas": "3"}, map[string]any{"replicas": int64(3)}},
		{"bool is a boolean", map[string]string{"seed": "false"}, map[string]any{"seed": false}},
		{"string stays a string even if it looks like a number", map[string]string{"customer": "42"}, map[string]any{"customer": "42"}},
		{"enum stays a string", map[string]string{"size": "true"}, map[string]any{"size": "true"}},
		{"a value its type cannot read stays text", map[string]string{"replicas": "many"}, map[string]any{"replicas": "many"}},
		{"an undeclared parameter stays text", map[string]string{"old": "1"}, map[string]any{"old": "1"}},
		{"none", map[string]string{}, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := typeValues(tt.values, types); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}
