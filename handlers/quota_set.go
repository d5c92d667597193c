package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// quotaList is the admins' quotas page.
func (h *Handler) quotaList(c *echo.Context) error {
	return h.renderQuotas(c, http.StatusOK, web.QuotasPageView{Flash: c.QueryParam("saved")})
}

func (h *Handler) renderQuotas(c *echo.Context, status int, v web.QuotasPageView) error {
	qs, err := h.svc.Quotas(c.Request().Context(), actorOf(c))
	if err != nil {
		return err
	}
	for _, q := range qs {
		row := web.QuotaRowView{Scope: q.Scope, Name: q.Name, UpdatedBy: q.UpdatedBy, UpdatedAt: q.UpdatedAt}
		if q.MaxLive != nil {
			row.MaxLive = strconv.Itoa(*q.MaxLive)
		}
		if q.MaxMonthly != nil {
			row.MaxMonthly = q.MaxMonthly.String()
		}
		v.Rows = append(v.Rows, row)
	}
	return render(c, status, web.QuotasPage(h.page(c, "Quotas", "admin"), v))
}

// parseQuota reads a limit as typed: an empty limit is none.
func parseQuota(scope, name, maxLive, maxMonthly string) (envs.Quota, error) {
	q := envs.Quota{Scope: strings.TrimSpace(scope), Name: strings.TrimSpace(name)}
	var fields []envs.FieldError
	if s := strings.TrimSpace(maxLive); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			fields = append(fields, envs.FieldError{Field: "max_live", Message: s + " is not a whole number"})
		}
		q.MaxLive = &n
	}
	if s := strings.TrimSpace(maxMonthly); s != "" {
		m, err := envs.ParseMoney(s)
		if err != nil {
			fields = append(fields, envs.FieldError{Field: "max_monthly", Message: err.Error()})
		}
		q.MaxMonthly = &m
	}
	if len(fields) > 0 {
		return q, envs.Invalid("quota is not valid", fields...)
	}
	return q, nil
}

// quotaSave sets a limit from the quotas page; a refused one comes back
// with its errors under the fields.
func (h *Handler) quotaSave(c *echo.Context) error {
	form := web.QuotaRowView{Scope: c.FormValue("scope"), Name: c.FormValue("name"), MaxLive: c.FormValue("max_live"), MaxMonthly: c.FormValue("max_monthly")}
	q, err := parseQuota(form.Scope, form.Name, form.MaxLive, form.MaxMonthly)
	if err == nil {
		err = h.svc.SetQuota(c.Request().Context(), actorOf(c), q)
	}
	if err == nil {
		return redirect(c, "/admin/quotas?saved="+url.QueryEscape("Saved the "+q.Scope+" quota of "+q.Name))
	}
	if envs.ErrorCode(err) != envs.EInvalid {
		return err
	}
	v := web.QuotasPageView{Form: form, Errors: map[string]string{}}
	for _, fe := range envs.ErrorFields(err) {
		v.Errors[fe.Field] = fe.Message
	}
	return h.renderQuotas(c, http.StatusUnprocessableEntity, v)
}

// quotaDelete removes a limit from the quotas page.
func (h *Handler) quotaDelete(c *echo.Context) error {
	if err := h.svc.DeleteQuota(c.Request().Context(), actorOf(c), c.Param("scope"), c.Param("qname")); err != nil {
		return err
	}
	return redirect(c, "/admin/quotas?saved="+url.QueryEscape("Removed the "+c.Param("scope")+" quota of "+c.Param("qname")))
}

type quotaJSON struct {
	Scope      string  `json:"scope"`
	Name       string  `json:"name"`
	MaxLive    *int    `json:"max_live"`
	MaxMonthly *string `json:"max_monthly"` // dollars over 30 days
	UpdatedBy  string  `json:"updated_by,omitempty"`
}

// apiQuotaList is GET /api/v1/quotas.
func (h *Handler) apiQuotaList(c *echo.Context) error {
	qs, err := h.svc.Quotas(c.Request().Context(), actorOf(c))
	if err != nil {
		return err
	}
	out := []quotaJSON{}
	for _, q := range qs {
		j := quotaJSON{Scope: q.Scope, Name: q.Name, MaxLive: q.MaxLive, UpdatedBy: q.UpdatedBy}
		if q.MaxMonthly != nil {
			s := q.MaxMonthly.Decimal()
			j.MaxMonthly = &s
		}
		out = append(out, j)
	}
	return c.JSON(http.StatusOK, out)
}

// apiQuotaSet is PUT /api/v1/quotas/{user|team}/{name}
// {"max_live": 5, "max_monthly": "400"} (null or absent: no limit).
func (h *Handler) apiQuotaSet(c *echo.Context) error {
	var req quotaJSON
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	live := ""
	if req.MaxLive != nil {
		live = strconv.Itoa(*req.MaxLive)
	}
	monthly := ""
	if req.MaxMonthly != nil {
		monthly = *req.MaxMonthly
	}
	q, err := parseQuota(c.Param("scope"), c.Param("qname"), live, monthly)
	if err != nil {
		return err
	}
	if err := h.svc.SetQuota(c.Request().Context(), actorOf(c), q); err != nil {
		return err
	}
	return h.apiQuotaList(c)
}

// apiQuotaDelete is DELETE /api/v1/quotas/{user|team}/{name}.
func (h *Handler) apiQuotaDelete(c *echo.Context) error {
	if err := h.svc.DeleteQuota(c.Request().Context(), actorOf(c), c.Param("scope"), c.Param("qname")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
