package envs

import "slices"

// Status is a step of an environment's lifecycle:
//
//	pending -> provisioning -> ready -> destroying -> destroyed
//	              |                        ^    |
//	              v                        |    v
//	           failed ---------------------+  destroy_failed  (retried with backoff)
//	              |
//	              +--> destroyed   (its stack was cleaned up already)
//
// A failed launch stays failed, with its reason, timeline and logs, until
// it is destroyed (dismissed) or its TTL runs out; its stack is cleaned up
// meanwhile without a change of status (at once, or after the template's
// on_failure.keep_stack hold; see cleanup.go). Destroying a failed launch
// whose stack is cleaned up needs no provider call: it goes straight to
// destroyed; one whose stack is still there goes through destroying.
// destroy_failed goes back to destroying (a retry) or to destroyed.
type Status string

const (
	StatusPending       Status = "pending"
	StatusProvisioning  Status = "provisioning"
	StatusReady         Status = "ready"
	StatusFailed        Status = "failed"
	StatusDestroying    Status = "destroying"
	StatusDestroyed     Status = "destroyed"
	StatusDestroyFailed Status = "destroy_failed"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusPending, StatusProvisioning, StatusReady, StatusFailed,
	StatusDestroying, StatusDestroyFailed, StatusDestroyed}

var transitions = map[Status][]Status{
	StatusPending:       {StatusProvisioning, StatusFailed, StatusDestroying},
	StatusProvisioning:  {StatusReady, StatusFailed, StatusDestroying},
	StatusReady:         {StatusDestroying},
	StatusFailed:        {StatusDestroying, StatusDestroyed},
	StatusDestroying:    {StatusDestroyed, StatusDestroyFailed},
	StatusDestroyFailed: {StatusDestroying, StatusDestroyed},
	StatusDestroyed:     nil,
}

// CanTransition reports whether the lifecycle allows from -> to.
func CanTransition(from, to Status) bool {
	return slices.Contains(transitions[from], to)
}

// From lists the statuses that may move to `to`.
func From(to Status) []Status {
	var out []Status
	for _, s := range Statuses {
		if CanTransition(s, to) {
			out = append(out, s)
		}
	}
	return out
}

// Live reports whether an environment in this status has, or is getting, a
// stack that users can use: it can be extended and counts against names.
func (s Status) Live() bool {
	return s == StatusPending || s == StatusProvisioning || s == StatusReady
}

// Terminal reports whether nothing more will happen on its own.
func (s Status) Terminal() bool { return s == StatusDestroyed }

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

func statusStrings(ss ...Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
