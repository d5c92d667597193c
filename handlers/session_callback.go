package handlers

import (
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// signinCallback is where the provider sends the browser back. The state
// must match this browser's sign-in cookie and a sign-in in flight (which is
// then forgotten: a replay fails); the code is exchanged with the PKCE
// verifier; the ID token is verified with the recorded nonce. Only then is
// a session created.
func (h *Handler) signinCallback(c *echo.Context) error {
	if h.oidc == nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	ctx := c.Request().Context()
	addr := c.RealIP()
	if err := limit(c, h.signinLimit, "sign-in attempts"); err != nil {
		return err
	}
	fail := func(err error) error {
		h.svc.RecordSignInFailure(ctx, addr, err)
		h.log.Warn("sign-in failed", "err", err, "remote", addr)
		return envs.Errorf(envs.EUnauthorized, "sign-in failed; please try again")
	}
	q := c.QueryParams()
	h.setCookie(c, loginCookie, "", zeroTime)
	if e := q.Get("error"); e != "" {
		return fail(envs.Errorf(envs.EUnauthorized, "the identity provider refused: %s", e))
	}
	state := q.Get("state")
	ck, err := c.Request().Cookie(loginCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		return fail(envs.Errorf(envs.EUnauthorized, "the sign-in state does not match this browser"))
	}
	st, err := h.svc.TakeSignIn(ctx, state)
	if err != nil {
		return fail(err)
	}
	claims, err := h.oidc.Exchange(ctx, q.Get("code"), st.Verifier, st.Nonce)
	if err != nil {
		return fail(err)
	}
	sess, err := h.svc.SignIn(ctx, claims, addr)
	if err != nil {
		return err
	}
	h.setCookie(c, sessionCookie, sess.Token, sess.ExpiresAt)
	return c.Redirect(http.StatusSeeOther, safeReturn(st.ReturnTo))
}
