package handlers

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// auditExport downloads the filtered audit log as JSON lines
// (?format=jsonl, one object per line) or CSV (?format=csv).
func (h *Handler) auditExport(c *echo.Context) error {
	f, _, err := auditFilter(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format != "jsonl" && format != "csv" {
		return envs.Invalid("export is not valid", envs.FieldError{Field: "format", Message: "must be jsonl or csv"})
	}
	entries, err := h.svc.AuditLog(c.Request().Context(), actorOf(c), f)
	if err != nil {
		return err
	}
	name := "mayfly-audit-" + h.svc.Now().Format("20060102T150405Z") + "." + format
	hd := c.Response().Header()
	hd.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "jsonl" {
		hd.Set(echo.HeaderContentType, "application/jsonl; charset=utf-8")
		c.Response().WriteHeader(http.StatusOK)
		enc := json.NewEncoder(c.Response())
		for _, e := range entries {
			if err := enc.Encode(toAuditJSON(e)); err != nil {
				return nil // the client went away; the status is already sent
			}
		}
		return nil
	}
	hd.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	// New columns go at the end, so existing readers of the export keep
	// their column positions.
	_ = w.Write([]string{"id", "at", "actor", "action", "target", "address", "result", "detail", "via",
		"actor_id", "actor_issuer", "actor_subject"})
	for _, e := range entries {
		_ = w.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), csvSafe(e.Actor), csvSafe(e.Action),
			csvSafe(e.Target), e.Address, e.Result, csvSafe(e.Detail), e.Via,
			e.ActorID, csvSafe(e.ActorIssuer), csvSafe(e.ActorSubject)})
	}
	w.Flush()
	return nil
}

// csvSafe defuses spreadsheet formulas: a cell starting with = + - @ is
// prefixed with a quote, so opening the export cannot run anything.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
