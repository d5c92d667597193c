package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// approvalList is the approvals page: the requests the viewer made or may
// decide (?requested=, ?decided= say what was just done).
func (h *Handler) approvalList(c *echo.Context) error {
	list, err := h.svc.Approvals(c.Request().Context(), actorOf(c))
	if err != nil {
		return err
	}
	v := web.ApprovalsPageView{IsAdmin: actorOf(c).IsAdmin()}
	if id := c.QueryParam("requested"); id != "" {
		v.Flash = "Asked for approval (" + id + "); you will find the decision here."
	}
	if d := c.QueryParam("decided"); d != "" {
		v.Flash = d
	}
	for _, a := range list {
		v.Items = append(v.Items, approvalView(a))
	}
	return render(c, http.StatusOK, web.ApprovalsPage(h.page(c, "Approvals", "approvals"), v))
}

func approvalView(a envs.Approval) web.ApprovalView {
	return web.ApprovalView{ID: a.ID, Kind: a.Kind, Status: a.Status, Requester: a.Requester, Team: a.Team, Template: a.Template,
		EnvironmentID: a.EnvironmentID, TTL: a.TTL, Limit: a.Limit, Reason: a.Reason, Cost: a.Cost.String(), CreatedAt: a.CreatedAt,
		DecidedBy: a.DecidedBy, DecidedAt: a.DecidedAt, Result: a.Result, CanDecide: a.CanDecide, Mine: a.Mine}
}

// approvalCreate asks for an extend past a quota from the environment
// page (the launch form asks through its own handler).
func (h *Handler) approvalCreate(c *echo.Context) error {
	a, err := h.svc.RequestApproval(c.Request().Context(), actorOf(c), envs.ApprovalRequest{Kind: c.FormValue("kind"),
		EnvironmentID: c.FormValue("environment_id"), TTL: c.FormValue("ttl"), Reason: c.FormValue("reason")})
	if err != nil {
		return err
	}
	return redirect(c, "/approvals?requested="+url.QueryEscape(a.ID))
}

// approvalApprove approves from the approvals page.
func (h *Handler) approvalApprove(c *echo.Context) error {
	_, env, err := h.svc.Approve(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return redirect(c, "/approvals?decided="+url.QueryEscape("Approved "+c.Param("id")+": "+env.Name+" goes ahead"))
}

// approvalDeny denies from the approvals page.
func (h *Handler) approvalDeny(c *echo.Context) error {
	if _, err := h.svc.Deny(c.Request().Context(), actorOf(c), c.Param("id"), c.FormValue("reason")); err != nil {
		return err
	}
	return redirect(c, "/approvals?decided="+url.QueryEscape("Denied "+c.Param("id")))
}

type approvalJSON struct {
	envs.Approval
	Cost string `json:"cost"` // dollars
}

func toApprovalJSON(a envs.Approval) approvalJSON {
	return approvalJSON{Approval: a, Cost: a.Cost.Decimal()}
}

// apiApprovalList is GET /api/v1/approvals.
func (h *Handler) apiApprovalList(c *echo.Context) error {
	list, err := h.svc.Approvals(c.Request().Context(), actorOf(c))
	if err != nil {
		return err
	}
	out := []approvalJSON{}
	for _, a := range list {
		out = append(out, toApprovalJSON(a))
	}
	return c.JSON(http.StatusOK, out)
}

// apiApprovalShow is GET /api/v1/approvals/{id}.
func (h *Handler) apiApprovalShow(c *echo.Context) error {
	a, err := h.svc.GetApproval(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toApprovalJSON(*a))
}

// apiApprovalCreate is POST /api/v1/approvals:
// {"kind":"launch","launch":{...as POST /environments},"reason"} or
// {"kind":"extend","environment_id","ttl","reason"} -> 201.
func (h *Handler) apiApprovalCreate(c *echo.Context) error {
	var req struct {
		Kind   string `json:"kind"`
		Launch struct {
			Template string            `json:"template"`
			Version  string            `json:"version"`
			Name     string            `json:"name"`
			Params   map[string]any    `json:"params"`
			TTL      string            `json:"ttl"`
			Labels   map[string]string `json:"labels"`
		} `json:"launch"`
		EnvironmentID string `json:"environment_id"`
		TTL           string `json:"ttl"`
		Reason        string `json:"reason"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	l := req.Launch
	a, err := h.svc.RequestApproval(c.Request().Context(), actorOf(c), envs.ApprovalRequest{Kind: req.Kind,
		Launch:        envs.LaunchRequest{Template: l.Template, Version: l.Version, Name: l.Name, Params: l.Params, TTL: l.TTL, Labels: l.Labels},
		EnvironmentID: req.EnvironmentID, TTL: req.TTL, Reason: req.Reason})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/approvals/"+a.ID)
	return c.JSON(http.StatusCreated, toApprovalJSON(*a))
}

// apiApprovalApprove is POST /api/v1/approvals/{id}/approve -> 200 with
// the request and the environment launched or extended.
func (h *Handler) apiApprovalApprove(c *echo.Context) error {
	a, env, err := h.svc.Approve(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	list, err := h.envsJSON(c, env)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"approval": toApprovalJSON(*a), "environment": list[0]})
}

// apiApprovalDeny is POST /api/v1/approvals/{id}/deny {"reason"}.
func (h *Handler) apiApprovalDeny(c *echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	a, err := h.svc.Deny(c.Request().Context(), actorOf(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toApprovalJSON(*a))
}
