package envs

import (
	"testing"
	"time"
)

type plainProvider struct{ Provider }

type slowProvider struct{ Provider }

func (slowProvider) ProvisionTimeout() time.Duration { return 2 * time.Hour }
func (slowProvider) DestroyTimeout() time.Duration   { return 3 * time.Hour }

func TestProvisionTimeout(t *testing.T) {
	tests := []struct {
		name string
		p    Provider
		def  time.Duration
		want time.Duration
	}{
		{"a provider without its own uses the default", plainProvider{}, 15 * time.Minute, 15 * time.Minute},
		{"a slow provider extends it", slowProvider{}, 15 * time.Minute, 2 * time.Hour},
		{"a longer default is kept", slowProvider{}, 3 * time.Hour, 3 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := provisionTimeout(tt.p, tt.def); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDestroyTimeout(t *testing.T) {
	tests := []struct {
		name string
		p    Provider
		def  time.Duration
		want time.Duration
	}{
		{"a provider without its own uses the default", plainProvider{}, time.Hour, time.Hour},
		{"a slow provider extends it", slowProvider{}, time.Hour, 3 * time.Hour},
		{"a longer default is kept", slowProvider{}, 5 * time.Hour, 5 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := destroyTimeout(tt.p, tt.def); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
