package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// environmentLaunchForm renders the launch form of a template version
// (?version=, default the latest).
func (h *Handler) environmentLaunchForm(c *echo.Context) error {
	f, err := h.launchForm(c, c.QueryParam("version"))
	if err != nil {
		return err
	}
	// A default name, so the form launches as it stands, as the API does
	// without one. An emptied field gets a generated name at launch too.
	f.Name, f.TTL = envs.GeneratedName(f.Template.Name), f.Version.TTLInput
	f.Cost = h.costEstimate(c, f.Template.Name, f.Version.Version, "", plainParams(f))
	return render(c, http.StatusOK, web.LaunchPage(h.page(c, "Launch "+f.Template.Name, "catalog"), f))
}

// environmentLaunch launches from the form; on invalid input it renders the
// form again with the values kept and a message under each field at fault.
func (h *Handler) environmentLaunch(c *echo.Context) error {
	form, err := c.FormValues()
	if err != nil {
		return envs.Errorf(envs.EInvalid, "the form could not be read")
	}
	params, typed := formParams(form)
	labels, labelErr := formLabels(form.Get("labels"))
	req := envs.LaunchRequest{
		Template: c.Param("name"),
		Version:  form.Get("version"),
		Name:     form.Get("name"),
		TTL:      strings.TrimSpace(form.Get("ttl")),
		Params:   params,
		Labels:   labels,
	}
	var env *envs.Environment
	err = labelErr
	if err == nil && form.Get("approval") == "request" {
		// Refused by a quota before: ask for an approval instead.
		var a *envs.Approval
		a, err = h.svc.RequestApproval(c.Request().Context(), actorOf(c), envs.ApprovalRequest{Kind: envs.ApprovalLaunch, Launch: req, Reason: form.Get("approval_reason")})
		if err == nil {
			return redirect(c, "/approvals?requested="+url.QueryEscape(a.ID))
		}
	} else if err == nil {
		env, err = h.svc.Launch(c.Request().Context(), actorOf(c), req)
	}
	if err == nil {
		return redirect(c, "/environments/"+env.ID)
	}
	code := envs.ErrorCode(err)
	if code != envs.EInvalid && code != envs.EConflict && code != envs.EQuota {
		return err
	}
	f, ferr := h.launchForm(c, req.Version)
	if ferr != nil {
		return ferr
	}
	f.Name, f.TTL, f.Labels = req.Name, req.TTL, form.Get("labels")
	status := refusedForm(&f, typed, err)
	if code == envs.EQuota {
		f.General, status = "", http.StatusForbidden
		f.QuotaAsk = &web.QuotaAsk{Limit: envs.ErrorMessage(err), Reason: form.Get("approval_reason")}
	}
	f.Cost = h.costEstimate(c, f.Template.Name, f.Version.Version, req.TTL, plainParams(f))
	return render(c, status, web.LaunchPage(h.page(c, "Launch "+f.Template.Name, "catalog"), f))
}

// plainParams are the form's non-secret values, which decide its cost.
func plainParams(f web.LaunchForm) map[string]string {
	out := map[string]string{}
	for _, p := range f.Version.Params {
		if !p.Secret {
			out[p.Name] = f.Params[p.Name]
		}
	}
	return out
}

// formParams reads the launch form's parameters ("params.<name>") as the
// service takes them, and as typed, to show them again.
func formParams(form url.Values) (map[string]any, map[string]string) {
	params, typed := map[string]any{}, map[string]string{}
	for key, vals := range form {
		name, ok := strings.CutPrefix(key, "params.")
		if !ok || len(vals) == 0 {
			continue
		}
		// A checkbox sends its value only when ticked; a hidden "false"
		// input before it makes an unticked box explicit.
		val := vals[len(vals)-1]
		params[name] = val
		typed[name] = val
	}
	return params, typed
}

// refusedForm puts a refused launch's typed values (never a secret: it is
// not sent back to the browser) and errors into the form, and returns the
// status to answer with.
func refusedForm(f *web.LaunchForm, typed map[string]string, err error) int {
	f.Errors = map[string]string{}
	for _, p := range f.Version.Params {
		if !p.Secret {
			f.Params[p.Name] = typed[p.Name]
		}
	}
	for _, fe := range envs.ErrorFields(err) {
		if key, ok := strings.CutPrefix(fe.Field, "labels."); ok {
			// One input holds every label: its error names the label.
			f.Errors["labels"] = strings.TrimSpace(f.Errors["labels"] + " " + key + ": " + fe.Message)
			continue
		}
		f.Errors[fe.Field] = fe.Message
	}
	if len(f.Errors) == 0 {
		f.General = envs.ErrorMessage(err)
	}
	if envs.ErrorCode(err) == envs.EConflict {
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}

func (h *Handler) launchForm(c *echo.Context, version string) (web.LaunchForm, error) {
	t, err := h.svc.Template(c.Request().Context(), c.Param("name"))
	if err != nil {
		return web.LaunchForm{}, err
	}
	tv := templateView(t)
	f := web.LaunchForm{Template: tv, Version: tv.Latest, Params: map[string]string{}}
	if version != "" {
		found := false
		for _, v := range tv.Versions {
			if v.Version == version {
				f.Version, found = v, true
			}
		}
		if !found {
			return web.LaunchForm{}, envs.Errorf(envs.ENotFound, "template %s has no version %s", t.Name, version)
		}
	}
	// Say "not for you" before someone fills in the form, not after.
	for _, v := range t.Versions {
		if v.Spec.Version == f.Version.Version {
			if err := envs.CanLaunchTemplate(actorOf(c), v.Spec); err != nil {
				return web.LaunchForm{}, err
			}
		}
	}
	for _, p := range f.Version.Params {
		if !p.Secret {
			f.Params[p.Name] = p.Default
		}
	}
	h.applyChoices(c, &f)
	return f, nil
}

// formLabels reads the launch form's labels field: key=value pairs
// separated by commas or new lines.
func formLabels(text string) (map[string]string, error) {
	labels := map[string]string{}
	for _, item := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, envs.Invalid("launch request is not valid", envs.FieldError{Field: "labels", Message: fmt.Sprintf("%q is not key=value", item)})
		}
		labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return labels, nil
}
