package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// signinShow renders the sign-in page (?return= where to go afterwards).
func (h *Handler) signinShow(c *echo.Context) error {
	ret := safeReturn(c.QueryParam("return"))
	if h.oidc == nil || actorOf(c).Via != "" {
		return c.Redirect(http.StatusSeeOther, ret)
	}
	v := web.SigninView{Return: ret, Issuer: h.oidc.cfg.Issuer, SignedOut: c.QueryParam("signed_out") == "1"}
	return render(c, http.StatusOK, web.SigninPage(h.page(c, "Sign in", ""), v))
}

// signinStart begins the authorization code flow: it records state, nonce
// and the PKCE verifier server-side, binds the state to this browser with a
// short-lived cookie, and sends the browser to the provider.
func (h *Handler) signinStart(c *echo.Context) error {
	if h.oidc == nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	if err := limit(c, h.signinLimit, "sign-in attempts"); err != nil {
		return err
	}
	st := envs.LoginState{State: randomString(), Nonce: randomString(), Verifier: randomString(),
		ReturnTo: safeReturn(c.QueryParam("return"))}
	if err := h.svc.BeginSignIn(c.Request().Context(), st); err != nil {
		return err
	}
	h.setCookie(c, loginCookie, st.State, time.Now().Add(15*time.Minute))
	return c.Redirect(http.StatusFound, h.oidc.AuthURL(st.State, st.Nonce, st.Verifier))
}
