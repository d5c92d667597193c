package handlers

import (
	"net/netip"
	"testing"
)

func TestClientOfGroupsIPv6By64(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"203.0.113.9", "203.0.113.9"},
		{"::ffff:203.0.113.9", "203.0.113.9"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::2", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
	}
	for _, tt := range tests {
		if got := clientName(clientOf(netip.MustParseAddr(tt.addr))); got != tt.want {
			t.Errorf("client of %s = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
