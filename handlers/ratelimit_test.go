package handlers

import (
	"testing"
	"time"
)

func TestLimiterPerAddress(t *testing.T) {
	l := newLimiter(0.0001, 3) // practically no refill during the test
	for i := range 3 {
		if ok, _ := l.allow("10.0.0.1"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("10.0.0.1")
	if ok {
		t.Error("a request past the burst was allowed")
	}
	if wait < time.Hour {
		t.Errorf("wait after the burst = %s, want the time one token takes to refill (hours at this rate)", wait)
	}
	if ok, _ := l.allow("10.0.0.2"); !ok {
		t.Error("another address was limited by the first one's requests")
	}
}
