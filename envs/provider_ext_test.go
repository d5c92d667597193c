package envs

import (
	"testing"
	"time"
)

type plainProvider struct{ Provider }

type slowProvider struct{ Provider }

func (slowProvider) ProvisionTimeout() time.Duration { return 2 * time.Hour }
func (slowProvider) DestroyTimeout() time.Duration   { return 3 * time.Hour }

func TestProviderTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		timeout func(Provider, time.Duration) time.Duration
		p       Provider
		def     time.Duration
		want    time.Duration
	}{
		{"provision: a provider without its own uses the default", provisionTimeout, plainProvider{}, 15 * time.Minute, 15 * time.Minute},
		{"provision: a slow provider extends it", provisionTimeout, slowProvider{}, 15 * time.Minute, 2 * time.Hour},
		{"provision: a longer default is kept", provisionTimeout, slowProvider{}, 3 * time.Hour, 3 * time.Hour},
		{"destroy: a provider without its own uses the default", destroyTimeout, plainProvider{}, time.Hour, time.Hour},
		{"destroy: a slow provider extends it", destroyTimeout, slowProvider{}, time.Hour, 3 * time.Hour},
		{"destroy: a longer default is kept", destroyTimeout, slowProvider{}, 5 * time.Hour, 5 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.timeout(tt.p, tt.def); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
