package handlers

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mayflyhq/mayfly/envs"
)

// Metrics are Mayfly's Prometheus metrics. It implements envs.Metrics, so the
// orchestrator reports durations here. Labels are low-cardinality only: no
// environment ids or user names.
type Metrics struct {
	reg       *prometheus.Registry
	provision *prometheus.HistogramVec
	destroy   *prometheus.HistogramVec
	reaperLag prometheus.Histogram
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	drift     *prometheus.CounterVec

	once sync.Once
}

// NewMetrics registers every metric on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		provision: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mayfly_provision_duration_seconds",
			Help:    "Time from launch to ready (or failed), by provider and result.",
			Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"provider", "result"}),
		destroy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mayfly_destroy_duration_seconds",
			Help:    "Time from a destroy request to destroyed, by provider.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 30, 60, 300, 900},
		}, []string{"provider"}),
		reaperLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mayfly_reaper_lag_seconds",
			Help:    "Time from an environment's expiry to the reaper starting its destroy.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mayfly_http_requests_total",
			Help: "HTTP requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mayfly_http_request_duration_seconds",
			Help:    "HTTP request latency by route (SSE streams excluded).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mayfly_drift_checks_total",
			Help: "Drift checks of ready stacks by provider and result (in_sync, drifted, failed).",
		}, []string{"provider", "result"}),
	}
	m.reg.MustRegister(m.provision, m.destroy, m.reaperLag, m.requests, m.latency, m.drift,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) ProvisionDone(provider string, d time.Duration, ok bool) {
	result := "ready"
	if !ok {
		result = "failed"
	}
	m.provision.WithLabelValues(provider, result).Observe(d.Seconds())
}

func (m *Metrics) DestroyDone(provider string, d time.Duration) {
	m.destroy.WithLabelValues(provider).Observe(d.Seconds())
}

func (m *Metrics) ReaperLag(d time.Duration) { m.reaperLag.Observe(d.Seconds()) }

// DriftChecked implements envs.DriftMetrics.
func (m *Metrics) DriftChecked(provider, result string) {
	m.drift.WithLabelValues(provider, result).Inc()
}

func (m *Metrics) observeRequest(method, route string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	if route != "/environments/:id/stream" {
		m.latency.WithLabelValues(route).Observe(d.Seconds())
	}
}

// watch registers the environments-by-status gauge, read from the database
// at scrape time so every replica reports the same truth.
func (m *Metrics) watch(svc *envs.Service) {
	m.once.Do(func() { m.reg.MustRegister(&statusCollector{svc: svc}, &driftCollector{svc: svc}) })
}

type statusCollector struct{ svc *envs.Service }

var environmentsDesc = prometheus.NewDesc("mayfly_environments", "Environments by status.", []string{"status"}, nil)

func (s *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- environmentsDesc }

func (s *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := s.svc.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(environmentsDesc, err)
		return
	}
	for _, st := range envs.Statuses {
		ch <- prometheus.MustNewConstMetric(environmentsDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}

// driftCollector is the drifted-environments gauge, read from the database
// at scrape time like the status gauge.
type driftCollector struct{ svc *envs.Service }

var driftedDesc = prometheus.NewDesc("mayfly_environments_drifted",
	"Ready environments whose stack's last drift check found drift, by provider.", []string{"provider"}, nil)

func (d *driftCollector) Describe(ch chan<- *prometheus.Desc) { ch <- driftedDesc }

func (d *driftCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := d.svc.DriftedCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(driftedDesc, err)
		return
	}
	for _, p := range d.svc.DriftProviders() {
		ch <- prometheus.MustNewConstMetric(driftedDesc, prometheus.GaugeValue, float64(counts[p]), p)
	}
}
