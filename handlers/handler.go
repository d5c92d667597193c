// Package handlers serves Mayfly over HTTP: the HTML pages (templ + htmx),
// the JSON API under /api/v1, SSE streams, health and metrics. Handlers
// parse, call one envs.Service method, render, and return early on errors;
// business rules live in envs.
package handlers

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/mayflyhq/mayfly/envs"
	"github.com/mayflyhq/mayfly/static"
	"github.com/mayflyhq/mayfly/web"
)

// Config wires the HTTP layer.
type Config struct {
	Service *envs.Service
	Logger  *slog.Logger
	Metrics *Metrics
	// Ready reports whether the server can take traffic (database reachable,
	// migrations applied).
	Ready func(ctx context.Context) error
	// BodyLimit caps request bodies (default 1 MiB, the template size limit).
	BodyLimit int64
	// StreamPoll is how often an SSE stream re-reads its timeline even
	// without a wake-up (events committed by another replica). Default 1s.
	StreamPoll time.Duration
	// AuthRecheck is how often an SSE stream checks that its session or
	// API token still works, and ends if not. Default 5s.
	AuthRecheck time.Duration
	// ProviderChecks reports cloud providers' reachability for the admin
	// view (nil: local only).
	ProviderChecks func() []ProviderCheck

	// OIDC signs people in; nil is local mode: everyone is the local
	// administrator (the server then listens on loopback only).
	OIDC *OIDC
	// ExternalURL is where browsers reach Mayfly; https makes cookies Secure.
	// Its host is one of the names requests are answered for (see checkHost).
	ExternalURL string
	// AllowedHosts are further host names requests are answered for,
	// besides loopback and the external URL's host.
	AllowedHosts []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For (the
	// client address) and X-Forwarded-Proto (the scheme) are believed; from
	// any other peer those headers are ignored.
	TrustedProxies []netip.Prefix
	// WriteTimeout is the server's write timeout. An SSE stream lifts the
	// server's deadlines and gives each of its writes this long instead
	// (default 2m).
	WriteTimeout time.Duration
	// SignInPerMinute limits sign-in attempts per client address (default
	// 20 a minute, in bursts of as many).
	SignInPerMinute int
	// TokenPerSecond and TokenBurst limit requests with API tokens per
	// client address (default 20 a second, in bursts of 200).
	TokenPerSecond int
	TokenBurst     int
	// LocalAdmin is everyone's actor in local mode (no OIDC), carrying the
	// local administrator's user id so that it can hold API tokens (see
	// envs.Service.LocalAdmin); unset: the local actor has no user.
	LocalAdmin *envs.Actor
}

// Handler holds the dependencies of every route.
type Handler struct {
	svc        *envs.Service
	log        *slog.Logger
	metrics    *Metrics
	ready      func(ctx context.Context) error
	streamPoll time.Duration
	recheck    time.Duration
	checks     func() []ProviderCheck

	oidc         *OIDC
	externalURL  string
	hosts        map[string]bool // host names answered besides loopback
	proxies      []netip.Prefix
	clientIP     echo.IPExtractor
	writeTimeout time.Duration
	signinLimit  *limiter
	tokenLimit   *limiter
	localAdmin   envs.Actor
}

// New returns the router with every route and middleware.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = envs.MaxTemplateSize
	}
	if cfg.StreamPoll == 0 {
		cfg.StreamPoll = time.Second
	}
	if cfg.AuthRecheck == 0 {
		cfg.AuthRecheck = 5 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 2 * time.Minute
	}
	h := &Handler{svc: cfg.Service, log: cfg.Logger, metrics: cfg.Metrics, ready: cfg.Ready, streamPoll: cfg.StreamPoll,
		recheck: cfg.AuthRecheck,
		checks:  cfg.ProviderChecks,
		oidc:    cfg.OIDC, externalURL: cfg.ExternalURL, hosts: hostSet(cfg.ExternalURL, cfg.AllowedHosts),
		proxies: cfg.TrustedProxies, clientIP: clientIPExtractor(cfg.TrustedProxies), writeTimeout: cfg.WriteTimeout,
		// Sign-in: a person needs a handful of attempts; a script trying
		// states or codes is slowed to a few a minute.
		signinLimit: newLimiter(float64(cmpOr(cfg.SignInPerMinute, 20))/60, cmpOr(cfg.SignInPerMinute, 20)),
		// Tokens: CI jobs make bursts of calls, guessing needs millions.
		tokenLimit: newLimiter(float64(cmpOr(cfg.TokenPerSecond, 20)), cmpOr(cfg.TokenBurst, 200)),
	}
	h.localAdmin = envs.Actor{Name: "local", Admin: true, Via: "local"}
	if cfg.LocalAdmin != nil {
		h.localAdmin = *cfg.LocalAdmin
	}
	cfg.Metrics.watch(cfg.Service)

	e := echo.New()
	e.Logger = cfg.Logger
	e.HTTPErrorHandler = h.handleError
	e.IPExtractor = h.clientIP
	e.Use(middleware.Recover())
	e.Use(middleware.RequestID())
	e.Use(h.logRequests)
	e.Use(securityHeaders)
	e.Use(h.hsts)
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{LimitBytes: cfg.BodyLimit,
		// A tofu state may be larger than a template; its route bounds it.
		Skipper: func(c *echo.Context) bool { return c.Path() == tofuStatePath }}))
	e.Use(refuseBadText)
	e.Use(h.clock)
	e.Use(h.authenticate)

	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/metrics", echo.WrapHandler(cfg.Metrics.Handler()))
	e.GET("/static/*", echo.WrapHandler(static.Handler()))

	e.GET("/signin", h.signinShow)
	e.GET("/auth/signin", h.signinStart)
	e.GET("/auth/callback", h.signinCallback)
	e.POST("/auth/signout", h.signout)

	// Every other route needs a permission (see envs/access.go); per-object
	// rules (whose environment) are checked by the service.
	read, launch, publish, admin, tokens := envs.PermRead, envs.PermLaunch, envs.PermPublish, envs.PermAdmin, envs.PermTokens
	e.GET(linkRoute, h.linkOpen)
	e.POST(linkRoute, h.linkUse)
	e.GET("/", h.require(read, func(c *echo.Context) error { return c.Redirect(http.StatusSeeOther, "/environments") }))
	e.GET("/catalog", h.require(read, h.catalogShow))
	e.GET("/templates/new", h.require(publish, h.templatePublishForm))
	e.POST("/templates", h.require(publish, h.templatePublish))
	e.GET("/templates/:name", h.require(read, h.templateShow))
	e.POST("/templates/:name/versions/:version/deprecate", h.require(publish, h.templateDeprecate))
	e.POST("/templates/:name/rollouts", h.require(publish, h.templateRolloutStart))
	e.GET("/templates/:name/rollouts/:id", h.require(read, h.templateRolloutShow))
	e.POST("/templates/:name/rollouts/:id/resume", h.require(publish, h.templateRolloutResume))
	e.POST("/templates/:name/rollouts/:id/cancel", h.require(publish, h.templateRolloutCancel))
	e.GET("/templates/:name/drills", h.require(read, h.templateDrills))
	e.GET("/templates/:name/launch", h.require(launch, h.environmentLaunchForm))
	e.POST("/templates/:name/launch", h.require(launch, h.environmentLaunch))
	e.GET("/environments", h.require(read, h.environmentList))
	e.GET("/environments/:id", h.require(read, h.environmentShow))
	e.POST("/environments/:id/extend", h.require(launch, h.environmentExtend))
	e.POST("/environments/:id/replace", h.require(launch, h.environmentReplace))
	e.GET("/environments/:id/replace/params", h.require(launch, h.environmentReplaceParams))
	e.POST("/environments/:id/rollback", h.require(launch, h.environmentRollback))
	e.POST("/environments/:id/destroy", h.require(launch, h.environmentDestroy))
	e.GET("/environments/:id/relaunch", h.require(launch, h.environmentRelaunchForm))
	e.POST("/environments/:id/relaunch", h.require(launch, h.environmentRelaunch))
	// Retrying a failed destroy (optionally retaining resources) is an
	// administrator's call: it can leave cloud resources behind on purpose.
	e.POST("/environments/:id/retry-destroy", h.require(admin, h.environmentRetryDestroy))
	e.GET("/environments/:id/stream", h.require(read, h.environmentStream))
	e.GET("/environments/:id/logs", h.require(read, h.environmentLogs))
	e.GET("/environments/:id/drift", h.require(read, h.environmentDrift))
	e.POST("/environments/:id/drift-check", h.require(launch, h.environmentDriftCheck))
	e.POST("/environments/:id/schedule", h.require(launch, h.environmentSchedule))
	e.GET("/teams/:team/schedule", h.require(read, h.teamScheduleShow))
	e.POST("/teams/:team/schedule", h.require(launch, h.teamScheduleSave))
	// Mayfly's proxy link to an environment's URL output (counts as activity).
	e.Any("/e/:id", h.require(read, h.environmentProxy))
	e.Any("/e/:id/*", h.require(read, h.environmentProxy))
	e.GET("/admin", h.require(admin, h.adminShow))
	e.GET("/admin/audit", h.require(admin, h.auditList))
	e.GET("/admin/audit/export", h.require(admin, h.auditExport))
	e.GET("/admin/users", h.require(admin, h.userList))
	e.POST("/admin/users/:id/revoke", h.require(admin, h.userRevoke))
	e.GET("/admin/notifications", h.require(admin, h.notifyDeliveries))
	// Notification channels: anyone who reads sets their own; the service
	// decides who sets a team's.
	e.GET("/settings/notifications", h.require(read, h.notifySettingsShow))
	e.POST("/settings/notifications", h.require(read, h.notifyChannelAdd))
	e.POST("/settings/notifications/:id/remove", h.require(read, h.notifyChannelRemove))
	e.GET("/tokens", h.require(tokens, h.tokenList))
	e.POST("/tokens", h.require(tokens, h.tokenCreate))
	e.POST("/tokens/:id/revoke", h.require(tokens, h.tokenRevoke))

	api := e.Group("/api/v1")
	api.GET("/templates", h.require(read, h.apiTemplateList))
	api.POST("/templates", h.require(publish, h.apiTemplatePublish))
	api.GET("/templates/:name", h.require(read, h.apiTemplateShow))
	api.GET("/templates/:name/choices", h.require(read, h.apiTemplateChoices))
	api.GET("/templates/:name/drills", h.require(read, h.apiTemplateDrills))
	api.POST("/templates/:name/versions/:version/deprecate", h.require(publish, h.apiTemplateDeprecate))
	api.POST("/templates/:name/rollouts", h.require(publish, h.apiRolloutStart))
	api.GET("/templates/:name/rollouts", h.require(read, h.apiRolloutList))
	api.GET("/templates/:name/rollouts/:id", h.require(read, h.apiRolloutShow))
	api.POST("/templates/:name/rollouts/:id/resume", h.require(publish, h.apiRolloutResume))
	api.POST("/templates/:name/rollouts/:id/cancel", h.require(publish, h.apiRolloutCancel))
	api.GET("/environments", h.require(read, h.apiEnvironmentList))
	api.POST("/environments", h.require(launch, h.apiEnvironmentLaunch))
	api.GET("/environments/:id", h.require(read, h.apiEnvironmentShow))
	api.GET("/environments/:id/events", h.require(read, h.apiEnvironmentEvents))
	api.GET("/environments/:id/logs", h.require(read, h.apiEnvironmentLogs))
	api.POST("/environments/:id/extend", h.require(launch, h.apiEnvironmentExtend))
	api.POST("/environments/:id/relaunch", h.require(launch, h.apiEnvironmentRelaunch))
	api.POST("/environments/:id/replace", h.require(launch, h.apiEnvironmentReplace))
	api.POST("/environments/:id/rollback", h.require(launch, h.apiEnvironmentRollback))
	api.DELETE("/environments/:id", h.require(launch, h.apiEnvironmentDestroy))
	api.POST("/environments/:id/retry-destroy", h.require(admin, h.apiEnvironmentRetryDestroy))
	api.POST("/environments/:id/drift-check", h.require(launch, h.apiEnvironmentDriftCheck))
	api.GET("/environments/:id/lifecycle", h.require(read, h.apiEnvironmentLifecycle))
	api.PUT("/environments/:id/schedule", h.require(launch, h.apiEnvironmentSchedule))
	api.GET("/teams/:team/schedule", h.require(read, h.apiTeamSchedule))
	api.PUT("/teams/:team/schedule", h.require(launch, h.apiTeamScheduleSet))
	api.DELETE("/teams/:team/schedule", h.require(launch, h.apiTeamScheduleSet))
	api.GET("/notifications/channels", h.require(read, h.apiNotifyChannels))
	api.POST("/notifications/channels", h.require(read, h.apiNotifyChannelAdd))
	api.DELETE("/notifications/channels/:id", h.require(read, h.apiNotifyChannelRemove))
	api.GET("/notifications/deliveries", h.require(admin, h.apiNotifyDeliveries))
	api.GET("/admin/providers", h.require(admin, h.apiProviderChecks))
	api.GET("/audit", h.require(admin, h.apiAuditList))
	h.costRoutes(e, api)
	h.tofuStateRoutes(e)
	api.Any("/*", func(c *echo.Context) error { return echo.ErrNotFound })

	// Browsers send Sec-Fetch-Site / Origin with every request; a
	// state-changing request from another site is refused (CSRF). API
	// clients such as curl send neither and are not affected. In front of
	// everything, a request for a host Mayfly does not serve is refused
	// (DNS rebinding, see checkHost).
	return h.checkHost(http.NewCrossOriginProtection().Handler(e))
}

// clientIPExtractor returns how the client address (audit log, rate
// limits) is found: the peer's, unless the peer is a trusted reverse proxy,
// whose X-Forwarded-For is then followed back to the nearest address that
// is not a trusted proxy. Only the listed ranges are trusted: echo's
// defaults (loopback, link-local, private networks) are turned off.
func clientIPExtractor(proxies []netip.Prefix) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// fromProxy reports whether the request came straight from a trusted
// reverse proxy (its X-Forwarded-* headers are then believed).
func (h *Handler) fromProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && inPrefixes(h.proxies, ap.Addr())
}

// inPrefixes reports whether addr is in one of the prefixes.
func inPrefixes(prefixes []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		hd := c.Response().Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		// Scripts only from our own static files (no inline script, no eval);
		// htmx sets element styles, which CSP allows through the CSSOM.
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
			"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		return next(c)
	}
}

// logRequests writes one structured line per request, with its request id.
// clock gives the pages the service's clock, for their relative times.
func (h *Handler) clock(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(web.WithClock(r.Context(), h.svc.Now)))
		return next(c)
	}
}

func (h *Handler) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Let the error handler write the response now so the status we
			// log is the one the client gets.
			c.Echo().HTTPErrorHandler(c, err)
		}
		status := http.StatusOK
		if r, _ := echo.UnwrapResponse(c.Response()); r != nil {
			status = r.Status
		}
		route := c.Path()
		h.metrics.observeRequest(c.Request().Method, route, status, time.Since(start))
		if route == "/healthz" || route == "/readyz" || route == "/metrics" || route == "/static/*" {
			return nil
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		h.log.Log(c.Request().Context(), level, "request",
			"method", c.Request().Method, "path", c.Request().URL.Path, "status", status,
			"duration_ms", time.Since(start).Milliseconds(),
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "remote", c.RealIP())
		return nil
	}
}

func (h *Handler) healthz(c *echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

func (h *Handler) readyz(c *echo.Context) error {
	if h.ready != nil {
		if err := h.ready(c.Request().Context()); err != nil {
			h.log.Warn("not ready", "err", err)
			return c.String(http.StatusServiceUnavailable, "not ready\n")
		}
	}
	return c.String(http.StatusOK, "ready\n")
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
