package aws

import (
	"fmt"
	"strings"
)

// A handle names a stack for later calls, which get nothing else: the stack
// id (an ARN, which holds the region) and, when the template assumes a role,
// that role after a "|". Stack ids stay valid after deletion, so Status and
// Destroy of a long-gone stack still answer.
type handle struct {
	StackID string
	Region  string
	Role    string
}

func (h handle) String() string {
	if h.Role != "" {
		return h.StackID + "|" + h.Role
	}
	return h.StackID
}

func parseHandle(s string) (handle, error) {
	id, role, _ := strings.Cut(s, "|")
	// arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>
	parts := strings.SplitN(id, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "cloudformation" || !strings.HasPrefix(parts[5], "stack/") {
		return handle{}, fmt.Errorf("aws: %q is not a CloudFormation stack handle", s)
	}
	return handle{StackID: id, Region: parts[3], Role: role}, nil
}

// stackName derives the stack name from the environment: readable in the
// console (its name) and unique (its id), within CloudFormation's 128
// characters of letters, digits and dashes.
func stackName(envID, envName string) string {
	name := "mayfly-" + envName + "-" + strings.TrimPrefix(envID, "env-")
	if len(name) > 128 {
		name = name[:128]
	}
	return name
}
