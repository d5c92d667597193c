package handlers

import (
	"bytes"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/web"
)

// render writes a templ component as HTML with the given status. The page is
// rendered into a buffer first: a render error then becomes an error page
// rather than half a page under the status already sent, and the page goes
// out in one write with its length, instead of a write (and a system call)
// for every 4 KiB that templ's buffer fills.
func render(c *echo.Context, status int, comp templ.Component) error {
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledPage {
			buf.Reset()
			pageBuffers.Put(buf)
		}
	}()
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	return c.HTMLBlob(status, buf.Bytes())
}

// pageBuffers hold rendered pages; one grown past maxPooledPage (a rare
// huge page) is left to the garbage collector rather than kept.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledPage = 1 << 20

func (h *Handler) page(c *echo.Context, title, nav string) web.Page {
	a := actorOf(c)
	return web.Page{Title: title, Nav: nav, Now: h.svc.Now(), CSRFToken: csrfOf(c),
		User: web.UserView{Name: a.Name, IsAdmin: a.IsAdmin(), LocalMode: h.oidc == nil,
			SignedIn: a.Via == "session", Role: string(a.EffectiveRole()),
			CanPublish: envs.Authorize(a, envs.PermPublish) == nil}}
}

func templateView(t envs.Template) web.TemplateView {
	v := web.TemplateView{Name: t.Name, Kind: string(t.Kind), Description: t.Description, Owner: t.OwnerTeam}
	for _, ver := range t.Versions {
		v.Versions = append(v.Versions, versionView(ver))
	}
	if latest, ok := t.Latest(); ok {
		v.Latest = versionView(latest)
		v.Provider = latest.Spec.Provider
	}
	return v
}

func versionView(v envs.Version) web.VersionView {
	vv := web.VersionView{
		Version: v.Spec.Version, Digest: envs.ShortDigest(v.Digest),
		DefaultTTL: web.Duration(v.Spec.TTL.Default), MaxTTL: web.Duration(v.Spec.TTL.Max),
		TTLInput:   envs.FormatDuration(v.Spec.TTL.Default),
		Deprecated: v.DeprecatedAt != nil, PublishedAt: v.PublishedAt, PublishedBy: v.PublishedBy, Live: v.Live,
		Deprecation:     deprecationText(v.DeprecationDate, v.DeprecationAction),
		DeprecationNote: v.DeprecationNote, Description: v.Spec.Description,
	}
	if f := v.Spec.OnFailure; f != nil {
		vv.KeepFailedStack = web.Duration(f.KeepStack)
	}
	for _, p := range v.Spec.Parameters {
		vv.Params = append(vv.Params, web.ParamView{
			Name: p.Name, Label: p.DisplayLabel(), Description: p.Description, Type: string(p.Type),
			Required: p.Required, Secret: p.Secret, Default: p.Default, Pattern: p.Pattern,
			PatternHint: p.PatternHint,
			Min:         p.Min, Max: p.Max, Options: p.Options,
		})
	}
	return vv
}

// extendChoices are the extensions offered in the UI, when they fit.
var extendChoices = []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 24 * time.Hour}

// environmentView is an environment as actor a sees it: the extend and
// destroy controls only when a may use them.
func environmentView(e *envs.Environment, a envs.Actor) web.EnvironmentView {
	v := web.EnvironmentView{
		ID: e.ID, Name: e.Name, Owner: e.Owner, Team: e.Team, Template: e.Template, Kind: string(e.Kind),
		Version: e.Version, Status: string(e.Status), StatusReason: e.StatusReason, FailureReason: e.FailureReason,
		CreatedAt: e.CreatedAt, ReadyAt: e.ReadyAt, ExpiresAt: e.ExpiresAt, MaxExpiresAt: e.MaxExpiresAt,
		DestroyedAt: e.DestroyedAt, Live: e.Status.Live(), DestroyGivenUp: e.DestroyGivenUp(),
		CanDestroy:     e.Status != envs.StatusDestroying && e.Status != envs.StatusDestroyed,
		RelaunchedFrom: e.RelaunchedFrom,
		CanRelaunch:    envs.Authorize(a, envs.PermLaunch) == nil,
		StackCleanedAt: e.StackCleanedAt, StackHeldUntil: e.StackHeldUntil,
	}
	for _, k := range slices.Sorted(maps.Keys(e.Outputs)) {
		val := e.Outputs[k]
		v.Outputs = append(v.Outputs, web.OutputView{Name: k, Value: val,
			IsURL: strings.HasPrefix(val, "http://") || strings.HasPrefix(val, "https://")})
	}
	for _, k := range slices.Sorted(maps.Keys(e.Params)) {
		v.Params = append(v.Params, web.ParamValueView{Name: k, Value: e.Params[k]})
	}
	for _, k := range e.SecretNames {
		v.Params = append(v.Params, web.ParamValueView{Name: k, Secret: true})
	}
	if e.RTO != nil {
		v.RTO = web.Duration(*e.RTO)
	}
	if e.RPO != nil {
		v.RPO = web.Duration(*e.RPO)
	}
	v.SnapshotName = e.Facts[envs.FactSnapshotName]
	if t, err := time.Parse(time.RFC3339, e.Facts[envs.FactSnapshotTakenAt]); err == nil {
		v.SnapshotTakenAt = &t
	}
	v.Drift = driftView(e, a)
	v.Stacks = stacksView(e, a)
	v.Labels = envs.FormatLabels(e.Labels)
	v.VersionDeprecated, v.NewerVersion = e.VersionState.Deprecated, e.VersionState.Newer
	if d := deprecationText(e.VersionState.DeprecationDate, e.VersionState.DeprecationAction); d != "" {
		v.Deprecation = "it will be " + d
	}
	v.Expiry = web.ExpiryView{Soon: e.Expiry.Soon, WarnedAt: e.Expiry.WarnedAt}
	if d := e.Deprecation; d != nil {
		v.DeprecationProgress = &web.DeprecationProgressView{Action: string(d.Action), State: d.State, Target: d.Target,
			Attempts: d.Attempts, MaxAttempts: d.MaxAttempts, Reason: d.Reason, NextAt: d.NextAt}
	}
	if envs.CanActOn(a, e) != nil {
		v.CanDestroy = false
	} else if v.Live {
		if ext := e.Expiry.Extension; ext > 0 {
			v.Expiry.ExtendBy = envs.FormatDuration(ext)
		}
		if left := e.ExtendableBy(); left > e.Expiry.Extension {
			v.Expiry.KeepBy = left.String() // exact: up to the maximum, not past it
		}
		left := e.ExtendableBy()
		for _, d := range extendChoices {
			if d <= left {
				v.ExtendOptions = append(v.ExtendOptions, envs.FormatDuration(d))
			}
		}
	}
	return v
}

// stacksView is the Stacks card of an environment as actor a sees it.
func stacksView(e *envs.Environment, a envs.Actor) web.StacksView {
	v := web.StacksView{EnvironmentID: e.ID, Version: e.Version}
	for _, t := range e.VersionState.Targets {
		v.Versions = append(v.Versions, web.VersionChoice{Version: t.Version, Deprecated: t.Deprecated})
	}
	building := e.Replace != nil && e.Replace.State == envs.ReplaceBuilding
	if e.Status == envs.StatusReady && !building && envs.CanActOn(a, e) == nil {
		v.CanReplace = true
		v.RollbackVersion, v.RollbackInstant = e.RollbackVersion, e.RollbackInstant
	}
	for _, st := range e.Stacks {
		v.Stacks = append(v.Stacks, web.StackView{ID: st.ID, Version: st.Version, Status: string(st.Status), Reason: st.Reason,
			CreatedAt: st.CreatedAt, StandbyUntil: st.StandbyUntil})
	}
	if r := e.Replace; r != nil {
		v.Replace = &web.ReplaceView{FromVersion: r.FromVersion, ToVersion: r.ToVersion, State: r.State, Reason: r.Reason, Why: r.Why}
	}
	return v
}

// driftView is the Drift section of an environment as actor a sees it, nil
// when it has none to show.
func driftView(e *envs.Environment, a envs.Actor) *web.DriftView {
	d := e.Drift
	if d == nil || !d.Supported {
		return nil
	}
	v := &web.DriftView{EnvironmentID: e.ID, Version: e.Version, Status: d.Summary(), LastState: string(d.State),
		Checking: d.Checking, CheckedAt: d.CheckedAt, DriftedSince: d.DriftedSince, Error: d.Error, ErrorAt: d.ErrorAt,
		NextCheck: d.NextCheck, Remedy: string(d.Remedy),
		CanCheck: e.Status == envs.StatusReady && envs.CanActOn(a, e) == nil}
	if d.Interval > 0 {
		v.Interval = web.Duration(d.Interval)
	}
	for _, it := range d.Items {
		iv := web.DriftItemView{Resource: it.Resource, Type: it.Type, Status: it.Status, Detail: it.Detail}
		for _, df := range it.Differences {
			iv.Differences = append(iv.Differences, web.DriftDifferenceView{Path: df.Path, Expected: df.Expected, Actual: df.Actual, Kind: df.Kind})
		}
		v.Items = append(v.Items, iv)
	}
	return v
}

func eventView(e envs.Event) web.EventView {
	return web.EventView{ID: e.ID, At: e.At, Kind: e.Kind, Status: string(e.Status), Message: e.Message, Actor: e.Actor, Stack: e.StackID}
}

// redirect sends the browser to url; htmx requests get HX-Redirect so the
// whole page changes rather than a fragment.
func redirect(c *echo.Context, url string) error {
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", url)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, url)
}

// deprecationText is what a deprecation date does: "replaced on
// 2027-01-15" ("" without a date).
func deprecationText(date *time.Time, action envs.DeprecationAction) string {
	if date == nil {
		return ""
	}
	verb := "replaced with the newest version"
	if action == envs.DeprecationDestroy {
		verb = "destroyed"
	}
	return verb + " on " + web.DateTime(*date)
}
