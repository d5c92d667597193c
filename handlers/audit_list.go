package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// auditPageSizes are the audit page's page sizes; the first is the default.
var auditPageSizes = []int{50, 25, 100, 200}

// auditList renders the audit log (admins), filtered by ?actor= ?action=
// (a prefix) ?target= ?result= ?since= ?until= (RFC 3339) ?from= ?to=
// (dates, UTC, both days included), a page of ?limit= at a time: ?before=
// (the next page, older) or ?after= (the previous one) an entry's id.
func (h *Handler) auditList(c *echo.Context) error {
	f, fv, err := auditFilter(c)
	if err != nil {
		return err
	}
	if f.Limit, err = intParam(c.QueryParam("limit"), "limit", auditPageSizes[0], 1, 1000); err != nil {
		return err
	}
	size := f.Limit
	f.Limit++ // one more tells whether there is a page beyond
	entries, err := h.svc.AuditLog(c.Request().Context(), actorOf(c), f)
	if err != nil {
		return err
	}
	more := len(entries) > size
	if more && f.After > 0 {
		entries = entries[1:] // the newest one is the previous page's
	} else if more {
		entries = entries[:size]
	}
	v := web.AuditView{Filter: fv, ExportQuery: auditQuery(fv), PageSize: size, PageSizes: auditPageSizes}
	if len(entries) > 0 {
		newest, oldest := entries[0].ID, entries[len(entries)-1].ID
		if (f.After == 0 && more) || f.After > 0 {
			v.Next = auditPageURL(fv, size, "before", oldest)
		}
		if f.Before > 0 || (f.After > 0 && more) {
			v.Prev = auditPageURL(fv, size, "after", newest)
		}
	}
	for _, e := range entries {
		v.Entries = append(v.Entries, web.AuditEntryView{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action,
			Target: e.Target, Address: e.Address, Result: e.Result, Detail: e.Detail, Via: e.Via,
			ActorID: e.ActorID, ActorIssuer: e.ActorIssuer, ActorSubject: e.ActorSubject, TargetURL: auditTargetURL(e.Action, e.Target)})
	}
	return render(c, http.StatusOK, web.AuditPage(h.page(c, "Audit log", "audit"), v))
}

// apiAuditList is GET /api/v1/audit with the same filters.
func (h *Handler) apiAuditList(c *echo.Context) error {
	f, _, err := auditFilter(c)
	if err != nil {
		return err
	}
	if f.Limit, err = intParam(c.QueryParam("limit"), "limit", 500, 1, 10000); err != nil {
		return err
	}
	entries, err := h.svc.AuditLog(c.Request().Context(), actorOf(c), f)
	if err != nil {
		return err
	}
	out := listJSON[auditJSON]{Items: []auditJSON{}}
	for _, e := range entries {
		out.Items = append(out.Items, toAuditJSON(e))
	}
	return c.JSON(http.StatusOK, out)
}

func auditFilter(c *echo.Context) (envs.AuditFilter, web.AuditFilterView, error) {
	// Parsed here rather than by echo, which drops a query it cannot parse
	// (more than 10,000 parameters, a bad escape): the admin would read the
	// whole log as if it were the filtered one.
	q, err := url.ParseQuery(c.QueryString())
	if err != nil {
		return envs.AuditFilter{}, web.AuditFilterView{}, envs.Invalid("filter is not valid", envs.FieldError{Message: err.Error()})
	}
	fv := web.AuditFilterView{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"),
		Result: q.Get("result"), Since: q.Get("since"), Until: q.Get("until"), From: q.Get("from"), To: q.Get("to")}
	f := envs.AuditFilter{Actor: fv.Actor, Action: fv.Action, Target: fv.Target, Result: fv.Result}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"before", &f.Before}, {"after", &f.After}} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return f, fv, envs.Invalid("filter is not valid", envs.FieldError{Field: p.name, Message: "must be an audit entry's id"})
			}
			*p.dst = n
		}
	}
	if f.Before > 0 && f.After > 0 {
		return f, fv, envs.Invalid("filter is not valid", envs.FieldError{Field: "after", Message: "cannot be used with before"})
	}
	// The date pickers: whole days in UTC, both included.
	for _, p := range []struct {
		name, val, instead string
		days               int
		dst                *string
	}{{"from", fv.From, fv.Since, 0, &fv.Since}, {"to", fv.To, fv.Until, 1, &fv.Until}} {
		if p.val == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, p.val)
		if err != nil {
			return f, fv, envs.Invalid("filter is not valid", envs.FieldError{Field: p.name, Message: "must be a date such as 2026-01-02"})
		}
		if p.instead != "" {
			return f, fv, envs.Invalid("filter is not valid", envs.FieldError{Field: p.name, Message: "cannot be used with " + map[string]string{"from": "since", "to": "until"}[p.name]})
		}
		*p.dst = d.AddDate(0, 0, p.days).Format(time.RFC3339)
	}
	for _, p := range []struct {
		name, val string
		dst       **time.Time
	}{{"since", fv.Since, &f.Since}, {"until", fv.Until, &f.Until}} {
		if p.val == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.val)
		if err != nil {
			return f, fv, envs.Invalid("filter is not valid", envs.FieldError{Field: p.name, Message: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"})
		}
		t = t.UTC()
		*p.dst = &t
	}
	if f.Since != nil && f.Until != nil && !f.Until.After(*f.Since) {
		field := "until"
		if fv.To != "" {
			field = "to"
		}
		return f, fv, envs.Invalid("filter is not valid", envs.FieldError{Field: field, Message: "must be after the start of the range"})
	}
	if fv.From != "" {
		fv.Since = ""
	}
	if fv.To != "" {
		fv.Until = ""
	}
	return f, fv, nil
}

// auditPageURL is the audit page of size entries from an entry's id on
// (key "before": older, "after": newer), with the same filters.
func auditPageURL(fv web.AuditFilterView, size int, key string, id int64) string {
	q, _ := url.ParseQuery(auditQuery(fv))
	q.Set("limit", strconv.Itoa(size))
	q.Set(key, strconv.FormatInt(id, 10))
	return "/admin/audit?" + q.Encode()
}

// auditTargetURL is the page of what an audit entry names ("" when it
// has none): an environment, a template (name or name@version), a user,
// the tokens page, a team's schedule.
func auditTargetURL(action, target string) string {
	if target == "" {
		return ""
	}
	if strings.HasPrefix(target, "env-") && !strings.ContainsAny(target, " /@") {
		return "/environments/" + url.PathEscape(target)
	}
	area, _, _ := strings.Cut(action, ".")
	switch {
	case area == "template" || action == "environment.launch" || action == "rollout.start":
		name := target
		if _, after, ok := strings.Cut(name, " "); ok && action == "rollout.start" {
			name = after // "<rollout id> name@version"
		}
		name, version, _ := strings.Cut(name, "@")
		u := "/templates/" + url.PathEscape(name)
		if version != "" {
			u += "#version-" + url.QueryEscape(version)
		}
		return u
	case area == "user":
		return "/admin/users#user-" + url.QueryEscape(target)
	case area == "token":
		return "/tokens"
	case action == "team.schedule":
		return "/teams/" + url.PathEscape(target) + "/schedule"
	}
	return ""
}

func auditQuery(fv web.AuditFilterView) string {
	q := url.Values{}
	for k, v := range map[string]string{"actor": fv.Actor, "action": fv.Action, "target": fv.Target,
		"result": fv.Result, "since": fv.Since, "until": fv.Until, "from": fv.From, "to": fv.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

type auditJSON struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Address string    `json:"address"`
	Result  string    `json:"result"`
	Detail  string    `json:"detail,omitempty"`
	Via     string    `json:"via,omitempty"`
	// Who the actor is, beyond a name that two accounts may share.
	ActorID      string `json:"actor_id,omitempty"`
	ActorIssuer  string `json:"actor_issuer,omitempty"`
	ActorSubject string `json:"actor_subject,omitempty"`
}

func toAuditJSON(e envs.AuditEntry) auditJSON {
	return auditJSON{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target,
		Address: e.Address, Result: e.Result, Detail: e.Detail, Via: e.Via,
		ActorID: e.ActorID, ActorIssuer: e.ActorIssuer, ActorSubject: e.ActorSubject}
}
