package web

import "time"

// ExpiryView is what an environment's expiry warnings show: a banner on
// its page and a badge in the list while it expires soon.
type ExpiryView struct {
	// Soon: live and within its first warning's lead of its expiry.
	Soon bool
	// WarnedAt is when its owner was warned about the current expiry.
	WarnedAt *time.Time
	// ExtendBy is the banner's Extend (a duration, "" none), KeepBy
	// the exact extension up to the maximum lifetime ("" none); set only
	// for someone who may act on it.
	ExtendBy string
	KeepBy   string
}

// LinkView is a one-click link's page: what it does, before (Confirm) or
// after (Done), or why it is refused.
type LinkView struct {
	Token       string
	Action      string // extend, keep, destroy
	Environment string // its name
	EnvID       string
	ExpiresAt   time.Time
	NewExpiry   time.Time
	By          string
	Done        bool
	Refused     string
	CSRFToken   string
}

func linkTitle(v LinkView) string {
	switch {
	case v.Refused != "":
		return "This link cannot be used"
	case v.Done && v.Action == "destroy":
		return "Destroying " + v.Environment
	case v.Done:
		return v.Environment + " now expires " + DateTime(v.NewExpiry)
	case v.Action == "destroy":
		return "Destroy " + v.Environment + " now?"
	case v.Action == "keep":
		return "Keep " + v.Environment + " until its maximum lifetime?"
	}
	return "Extend " + v.Environment + " by " + v.By + "?"
}

func linkButton(v LinkView) string {
	switch v.Action {
	case "destroy":
		return "Destroy now"
	case "keep":
		return "Keep until " + DateTime(v.NewExpiry)
	}
	return "Extend by " + v.By
}

func oneClickURL(token string) string { return "/links/" + token }
