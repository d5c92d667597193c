package envs

import "slices"

// Status is a step of an environment's lifecycle:
//
//	pending -> provisioning -> ready -> destroying -> destroyed
//	              |                        |
//	              v                        v
//	           failed  ------------->  destroying      (a failed launch is cleaned up)
//	                                       |
//	                                       v
//	                                 destroy_failed    (retried with backoff)
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
	StatusFailed:        {StatusDestroying},
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
