package handlers

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// auditList renders the audit log (admins), filtered by ?actor= ?action=
// (a prefix) ?target= ?result= ?since= ?until= (RFC 3339).
func (h *Handler) auditList(c *echo.Context) error {
	f, fv, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.Limit = 500
	entries, err := h.svc.AuditLog(c.Request().Context(), actorOf(c), f)
	if err != nil {
		return err
	}
	v := web.AuditView{Filter: fv, ExportQuery: auditQuery(fv)}
	for _, e := range entries {
		v.Entries = append(v.Entries, web.AuditEntryView{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action,
			Target: e.Target, Address: e.Address, Result: e.Result, Detail: e.Detail, Via: e.Via,
			ActorID: e.ActorID, ActorIssuer: e.ActorIssuer, ActorSubject: e.ActorSubject})
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
		Result: q.Get("result"), Since: q.Get("since"), Until: q.Get("until")}
	f := envs.AuditFilter{Actor: fv.Actor, Action: fv.Action, Target: fv.Target, Result: fv.Result}
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
	return f, fv, nil
}

func auditQuery(fv web.AuditFilterView) string {
	q := url.Values{}
	for k, v := range map[string]string{"actor": fv.Actor, "action": fv.Action, "target": fv.Target,
		"result": fv.Result, "since": fv.Since, "until": fv.Until} {
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
