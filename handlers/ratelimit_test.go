package handlers

import "testing"

func TestLimiterPerAddress(t *testing.T) {
	l := newLimiter(0.0001, 3) // practically no refill during the test
	for i := range 3 {
		if !l.allow("10.0.0.1") {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	if l.allow("10.0.0.1") {
		t.Error("a request past the burst was allowed")
	}
	if !l.allow("10.0.0.2") {
		t.Error("another address was limited by the first one's requests")
	}
}
