package handlers

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/web"
)

// userList renders everyone who signed in, with their role and teams and
// the last check of their membership (admins).
func (h *Handler) userList(c *echo.Context) error {
	users, err := h.svc.Users(c.Request().Context(), actorOf(c))
	if err != nil {
		return err
	}
	var v []web.UserRowView
	for _, u := range users {
		v = append(v, web.UserRowView{ID: u.ID, Email: u.Email, EmailUnverified: u.EmailUnverified, Name: u.Name,
			Issuer: u.Issuer, Subject: u.Subject, Role: string(u.Role), Teams: u.Teams, Groups: u.Groups, LastLoginAt: u.LastLoginAt,
			CheckAt: u.CheckAt, ConfirmedAt: u.ConfirmedAt, CheckResult: u.CheckResult, CheckDetail: u.CheckDetail})
	}
	return render(c, http.StatusOK, web.UsersPage(h.page(c, "Users", "users"), v))
}

// userRevoke signs a user out everywhere and revokes their tokens (admins).
func (h *Handler) userRevoke(c *echo.Context) error {
	if err := h.svc.RevokeUserAccess(c.Request().Context(), actorOf(c), c.Param("id")); err != nil {
		return err
	}
	return redirect(c, "/admin/users")
}
