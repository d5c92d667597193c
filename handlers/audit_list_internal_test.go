package handlers

import "testing"

func TestAuditTargetURL(t *testing.T) {
	tests := []struct {
		name, action, target, want string
	}{
		{"an environment", "environment.extend", "env-abc123", "/environments/env-abc123"},
		{"a failed launch names its template", "environment.launch", "demo-shop", "/templates/demo-shop"},
		{"a published version", "template.publish", "demo-shop@1.2.0", "/templates/demo-shop#version-1.2.0"},
		{"a rollout's start", "rollout.start", "ro-1 demo-shop@1.3.0", "/templates/demo-shop#version-1.3.0"},
		{"a user", "user.revoke_access", "usr-9", "/admin/users#user-usr-9"},
		{"a token", "token.revoke", "tok-1", "/tokens"},
		{"a team's schedule", "team.schedule", "shop", "/teams/shop/schedule"},
		{"a sign-in names no page", "auth.signin", "ada", ""},
		{"no target", "auth.signin", "", ""},
		{"a tofu stack", "tofu.state.write", "stk-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auditTargetURL(tt.action, tt.target); got != tt.want {
				t.Errorf("auditTargetURL(%q, %q) = %q, want %q", tt.action, tt.target, got, tt.want)
			}
		})
	}
}
