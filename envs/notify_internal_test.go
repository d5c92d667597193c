package envs

import (
	"testing"
	"time"
)

func TestNotifyBackoff(t *testing.T) {
	cases := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{3, 8 * time.Second},
		{6, 64 * time.Second},
		{40, time.Hour},
	}
	for _, c := range cases {
		if got := notifyBackoff(2*time.Second, c.attempt); got != c.want {
			t.Errorf("attempt %d: %s, want %s", c.attempt, got, c.want)
		}
	}
}

func TestHears(t *testing.T) {
	cases := []struct {
		events string
		ev     NoticeEvent
		want   bool
	}{
		{"", NoticeDrift, true},
		{"environment.ready,environment.drift", NoticeDrift, true},
		{"environment.ready", NoticeDrift, false},
		{"environment.ready", NoticeReady, true},
	}
	for _, c := range cases {
		if got := hears(c.events, c.ev); got != c.want {
			t.Errorf("hears(%q, %s) = %v, want %v", c.events, c.ev, got, c.want)
		}
	}
}
