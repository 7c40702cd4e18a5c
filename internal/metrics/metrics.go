// Package metrics records a Dapr sidecar's Prometheus metrics under
// daprd's names, labels and buckets, so the dashboards and alerts written
// for daprd work unchanged on cove's sidecars.
//
// A process holds one Dapr set of metric families in a registry of its own;
// each sidecar of the process records into it under its own app_id, as a
// scrape of many daprd processes would show them.
package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Dapr is the sidecar metric families of one process.
type Dapr struct {
	httpCount    *prometheus.CounterVec   // dapr_http_server_request_count
	httpLatency  *prometheus.HistogramVec // dapr_http_server_latency, ms
	httpReqSize  *prometheus.HistogramVec // dapr_http_server_request_bytes
	httpRespSize *prometheus.HistogramVec // dapr_http_server_response_bytes
	grpcCount    *prometheus.CounterVec   // dapr_grpc_io_server_completed_rpcs
	grpcLatency  *prometheus.HistogramVec // dapr_grpc_io_server_server_latency, ms
	grpcRecvSize *prometheus.HistogramVec // dapr_grpc_io_server_received_bytes_per_rpc
	grpcSentSize *prometheus.HistogramVec // dapr_grpc_io_server_sent_bytes_per_rpc
	// daprd's pub/sub component metrics, latencies in ms.
	pubsubEgressCount    *prometheus.CounterVec   // dapr_component_pubsub_egress_count
	pubsubEgressLatency  *prometheus.HistogramVec // dapr_component_pubsub_egress_latencies
	pubsubIngressCount   *prometheus.CounterVec   // dapr_component_pubsub_ingress_count
	pubsubIngressLatency *prometheus.HistogramVec // dapr_component_pubsub_ingress_latencies
	// daprd's bulk pub/sub metrics, latencies in ms.
	bulkEgressCount    *prometheus.CounterVec   // dapr_component_pubsub_egress_bulk_count
	bulkEgressLatency  *prometheus.HistogramVec // dapr_component_pubsub_egress_bulk_latencies
	bulkIngressCount   *prometheus.CounterVec   // dapr_component_pubsub_ingress_bulk_count
	bulkIngressEvents  *prometheus.CounterVec   // dapr_component_pubsub_ingress_bulk_event_count
	bulkIngressLatency *prometheus.HistogramVec // dapr_component_pubsub_ingress_bulk_latencies
	// daprd's output binding metrics, latencies in ms.
	inputBindingCount    *prometheus.CounterVec   // dapr_component_input_binding_count
	inputBindingLatency  *prometheus.HistogramVec // dapr_component_input_binding_latencies
	outputBindingCount   *prometheus.CounterVec   // dapr_component_output_binding_count
	outputBindingLatency *prometheus.HistogramVec // dapr_component_output_binding_latencies
	// statuses are the HTTP status labels, made once.
	statuses [600]string
}

// NewDapr registers the sidecar metric families with reg.
func NewDapr(reg prometheus.Registerer) (*Dapr, error) {
	// daprd's default buckets: latencies in milliseconds, sizes in bytes.
	latency := []float64{1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200, 250,
		300, 400, 500, 650, 800, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000}
	size := []float64{1 << 10, 2 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20,
		64 << 20, 256 << 20, 1 << 30, 4 << 30}
	httpLabels := []string{"app_id", "method", "path", "status"}
	grpcLabels := []string{"app_id", "grpc_server_method", "grpc_server_status"}
	egressLabels := []string{"app_id", "component", "namespace", "success", "topic"}
	ingressLabels := []string{"app_id", "component", "namespace", "process_status", "status", "topic"}
	bindingLabels := []string{"app_id", "component", "namespace", "operation", "success"}
	inputLabels := []string{"app_id", "component", "namespace", "success"}
	bulkIngressLabels := []string{"app_id", "component", "namespace", "process_status", "topic"}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "dapr", Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "dapr", Name: name, Help: help, Buckets: buckets}, labels)
	}
	d := &Dapr{
		httpCount: counter("http_server_request_count",
			"Number of requests the sidecar's HTTP API served.", httpLabels),
		httpLatency: histogram("http_server_latency",
			"Time the sidecar's HTTP API took to answer, in milliseconds.", latency, httpLabels),
		httpReqSize: histogram("http_server_request_bytes",
			"Declared body size (Content-Length) of requests to the sidecar's HTTP API.", size, []string{"app_id"}),
		httpRespSize: histogram("http_server_response_bytes",
			"Body size of the sidecar's HTTP API answers.", size, []string{"app_id"}),
		grpcCount: counter("grpc_io_server_completed_rpcs",
			"Number of calls the sidecar's gRPC API completed, by method and status.", grpcLabels),
		grpcLatency: histogram("grpc_io_server_server_latency",
			"Time the sidecar's gRPC API took to complete a call, in milliseconds.", latency, grpcLabels),
		grpcRecvSize: histogram("grpc_io_server_received_bytes_per_rpc",
			"Size of the request message of unary calls to the sidecar's gRPC API.", size, grpcLabels[:2]),
		grpcSentSize: histogram("grpc_io_server_sent_bytes_per_rpc",
			"Size of the response message of unary calls to the sidecar's gRPC API.", size, grpcLabels[:2]),
		pubsubEgressCount: counter("component_pubsub_egress_count",
			"Number of events published to a pub/sub component.", egressLabels),
		pubsubEgressLatency: histogram("component_pubsub_egress_latencies",
			"Time a publish to a pub/sub component took, in milliseconds.", latency, egressLabels),
		pubsubIngressCount: counter("component_pubsub_ingress_count",
			"Number of events a pub/sub component delivered to the app, by outcome.", ingressLabels),
		pubsubIngressLatency: histogram("component_pubsub_ingress_latencies",
			"Time the app took to take an event, in milliseconds.", latency, ingressLabels),
		bulkEgressCount: counter("component_pubsub_egress_bulk_count",
			"Number of bulk publish calls to a pub/sub component.", egressLabels),
		bulkEgressLatency: histogram("component_pubsub_egress_bulk_latencies",
			"Time a bulk publish to a pub/sub component took, in milliseconds.", latency, egressLabels),
		bulkIngressCount: counter("component_pubsub_ingress_bulk_count",
			"Number of batches a bulk subscription delivered to the app.", bulkIngressLabels),
		bulkIngressEvents: counter("component_pubsub_ingress_bulk_event_count",
			"Number of batches with events of each outcome, as daprd counts them.", bulkIngressLabels),
		bulkIngressLatency: histogram("component_pubsub_ingress_bulk_latencies",
			"Time the app took to take a batch, in milliseconds.", latency, bulkIngressLabels),
		outputBindingCount: counter("component_output_binding_count",
			"Number of operations invoked on an output binding.", bindingLabels),
		outputBindingLatency: histogram("component_output_binding_latencies",
			"Time an output binding took to answer, in milliseconds.", latency, bindingLabels),
		inputBindingCount: counter("component_input_binding_count",
			"Number of events an input binding delivered to the app.", inputLabels),
		inputBindingLatency: histogram("component_input_binding_latencies",
			"Time the app took to take an input binding's event, in milliseconds.", latency, inputLabels),
	}
	for _, c := range []prometheus.Collector{d.httpCount, d.httpLatency, d.httpReqSize, d.httpRespSize,
		d.grpcCount, d.grpcLatency, d.grpcRecvSize, d.grpcSentSize,
		d.pubsubEgressCount, d.pubsubEgressLatency, d.pubsubIngressCount, d.pubsubIngressLatency,
		d.bulkEgressCount, d.bulkEgressLatency, d.bulkIngressCount, d.bulkIngressEvents, d.bulkIngressLatency,
		d.outputBindingCount, d.outputBindingLatency, d.inputBindingCount, d.inputBindingLatency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register Dapr metrics: %w", err)
		}
	}
	for code := range d.statuses {
		d.statuses[code] = strconv.Itoa(code)
	}
	return d, nil
}

// NewRegistry is a registry with the Go runtime's and the process's
// metrics, which daprd exports too.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in Prometheus's text format (and OpenMetrics when
// asked).
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true})
}

// HTTPOptions are a Dapr Configuration's spec.metric.http.
type HTTPOptions struct {
	// IncreasedCardinality labels each call with its path, keys and actor
	// ids cut off, as daprd does by default; without it the path label
	// is empty unless PathMatching names the path.
	IncreasedCardinality bool
	// PathMatching are path patterns in net/http's ServeMux syntax
	// ("/orders/{id}"); a matching call is labelled with the pattern. A
	// pattern outside /v1.0/invoke/ also matches as an invoked method
	// ("/v1.0/invoke/{app_id}/method/orders/{id}").
	PathMatching []string
	// ExcludeVerbs leaves the method label empty.
	ExcludeVerbs bool
}

// Sidecar records one sidecar's calls.
type Sidecar struct {
	d                  *Dapr
	opts               HTTPOptions
	paths              *http.ServeMux // nil without PathMatching
	httpCount          *prometheus.CounterVec
	httpLatency        prometheus.ObserverVec
	httpReqSize        prometheus.Observer
	httpRespSize       prometheus.Observer
	grpcCount          *prometheus.CounterVec
	grpcLatency        prometheus.ObserverVec
	grpcRecv, grpcSent prometheus.ObserverVec
	egressCount        *prometheus.CounterVec
	egressLatency      prometheus.ObserverVec
	ingressCount       *prometheus.CounterVec
	ingressLatency     prometheus.ObserverVec
	bulkEgressCount    *prometheus.CounterVec
	bulkEgressLatency  prometheus.ObserverVec
	bulkIngressCount   *prometheus.CounterVec
	bulkIngressEvents  *prometheus.CounterVec
	bulkIngressLatency prometheus.ObserverVec
	bindingCount       *prometheus.CounterVec
	bindingLatency     prometheus.ObserverVec
	inputCount         *prometheus.CounterVec
	inputLatency       prometheus.ObserverVec
}

// Sidecar returns the recorder of the sidecar of appID. It fails on a
// path pattern net/http cannot parse or that conflicts with another.
func (d *Dapr) Sidecar(appID string, opts HTTPOptions) (*Sidecar, error) {
	app := prometheus.Labels{"app_id": appID}
	s := &Sidecar{
		d:                  d,
		opts:               opts,
		httpCount:          d.httpCount.MustCurryWith(app),
		httpLatency:        d.httpLatency.MustCurryWith(app),
		httpReqSize:        d.httpReqSize.WithLabelValues(appID),
		httpRespSize:       d.httpRespSize.WithLabelValues(appID),
		grpcCount:          d.grpcCount.MustCurryWith(app),
		grpcLatency:        d.grpcLatency.MustCurryWith(app),
		grpcRecv:           d.grpcRecvSize.MustCurryWith(app),
		grpcSent:           d.grpcSentSize.MustCurryWith(app),
		egressCount:        d.pubsubEgressCount.MustCurryWith(app),
		egressLatency:      d.pubsubEgressLatency.MustCurryWith(app),
		ingressCount:       d.pubsubIngressCount.MustCurryWith(app),
		ingressLatency:     d.pubsubIngressLatency.MustCurryWith(app),
		bulkEgressCount:    d.bulkEgressCount.MustCurryWith(app),
		bulkEgressLatency:  d.bulkEgressLatency.MustCurryWith(app),
		bulkIngressCount:   d.bulkIngressCount.MustCurryWith(app),
		bulkIngressEvents:  d.bulkIngressEvents.MustCurryWith(app),
		bulkIngressLatency: d.bulkIngressLatency.MustCurryWith(app),
		bindingCount:       d.outputBindingCount.MustCurryWith(app),
		bindingLatency:     d.outputBindingLatency.MustCurryWith(app),
		inputCount:         d.inputBindingCount.MustCurryWith(app),
		inputLatency:       d.inputBindingLatency.MustCurryWith(app),
	}
	if len(opts.PathMatching) > 0 {
		s.paths = http.NewServeMux()
		seen := map[string]bool{}
		for _, p := range opts.PathMatching {
			patterns := []string{p}
			if !strings.HasPrefix(p, "/v1.0/invoke/") {
				patterns = append(patterns, "/v1.0/invoke/{app_id}/method"+p)
			}
			for _, pat := range patterns {
				if seen[pat] {
					continue
				}
				seen[pat] = true
				if err := handle(s.paths, pat); err != nil {
					return nil, fmt.Errorf("metric path pattern %q: %w", p, err)
				}
			}
		}
	}
	return s, nil
}

// handle registers a pattern, turning ServeMux's panic on a bad one into
// an error: the patterns come from the user's configuration.
func handle(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New(strings.TrimPrefix(fmt.Sprint(r), "http: "))
		}
	}()
	mux.Handle(pattern, http.NotFoundHandler())
	return nil
}

// HTTPServed records a call to the HTTP API once answered: its method,
// its path as the caller sent it, its declared body size (-1 when
// unknown), and its answer's status and body size.
func (s *Sidecar) HTTPServed(method, path string, reqSize int64, status int, respSize int64, elapsed time.Duration) {
	switch {
	case s.opts.ExcludeVerbs:
		method = ""
	case !knownVerb(method):
		method = "UNKNOWN"
	}
	code := ""
	if status >= 0 && status < len(s.d.statuses) {
		code = s.d.statuses[status]
	}
	path = s.pathLabel(path)
	s.httpCount.WithLabelValues(method, path, code).Inc()
	s.httpLatency.WithLabelValues(method, path, code).Observe(ms(elapsed))
	s.httpReqSize.Observe(float64(max(reqSize, 0)))
	s.httpRespSize.Observe(float64(respSize))
}

// GRPCServed records a completed call to the gRPC API. code is the gRPC
// status code's name ("OK", "NotFound"); the message sizes are those of a
// unary call, negative for a stream.
func (s *Sidecar) GRPCServed(method, code string, elapsed time.Duration, recvSize, sentSize int) {
	s.grpcCount.WithLabelValues(method, code).Inc()
	s.grpcLatency.WithLabelValues(method, code).Observe(ms(elapsed))
	if recvSize >= 0 {
		s.grpcRecv.WithLabelValues(method).Observe(float64(recvSize))
		s.grpcSent.WithLabelValues(method).Observe(float64(sentSize))
	}
}

// PubsubEgress records a publish to a pub/sub component, as daprd does:
// its success and how long the broker took (a latency only when it took
// any).
func (s *Sidecar) PubsubEgress(namespace, component, topic string, success bool, elapsed time.Duration) {
	ok := strconv.FormatBool(success)
	s.egressCount.WithLabelValues(component, namespace, ok, topic).Inc()
	if elapsed > 0 {
		s.egressLatency.WithLabelValues(component, namespace, ok, topic).Observe(ms(elapsed))
	}
}

// PubsubIngress records an event a pub/sub component delivered for the
// app: processStatus success, retry or drop; status, when empty, is the
// process status, as daprd labels it. A latency is recorded when the app
// was asked.
func (s *Sidecar) PubsubIngress(namespace, component, processStatus, status, topic string, elapsed time.Duration) {
	if status == "" {
		status = processStatus
	}
	s.ingressCount.WithLabelValues(component, namespace, processStatus, status, topic).Inc()
	if elapsed > 0 {
		s.ingressLatency.WithLabelValues(component, namespace, processStatus, status, topic).Observe(ms(elapsed))
	}
}

// BulkPubsubEgress records a bulk publish to a pub/sub component, as
// daprd does: its success and how long the broker took.
func (s *Sidecar) BulkPubsubEgress(namespace, component, topic string, success bool, elapsed time.Duration) {
	ok := strconv.FormatBool(success)
	s.bulkEgressCount.WithLabelValues(component, namespace, ok, topic).Inc()
	if elapsed > 0 {
		s.bulkEgressLatency.WithLabelValues(component, namespace, ok, topic).Observe(ms(elapsed))
	}
}

// BulkPubsubIngress records a batch a bulk subscription handled, as daprd
// does: the batch (process_status empty, as daprd leaves it), how long
// the app took, and, per outcome (success, retry, drop) with events in the
// batch, one count: daprd counts the outcomes of a batch, not its events.
func (s *Sidecar) BulkPubsubIngress(namespace, component, topic string, elapsed time.Duration, entries map[string]int) {
	s.bulkIngressCount.WithLabelValues(component, namespace, "", topic).Inc()
	if elapsed > 0 {
		s.bulkIngressLatency.WithLabelValues(component, namespace, "", topic).Observe(ms(elapsed))
	}
	for status, n := range entries {
		if n > 0 {
			s.bulkIngressEvents.WithLabelValues(component, namespace, status, topic).Inc()
		}
	}
}

// OutputBinding records an operation invoked on an output binding, as
// InputBinding records an event an input binding delivered to the app, as
// daprd's component/input_binding metrics: success when the app took it.
func (s *Sidecar) InputBinding(namespace, component string, success bool, elapsed time.Duration) {
	ok := strconv.FormatBool(success)
	s.inputCount.WithLabelValues(component, namespace, ok).Inc()
	if elapsed > 0 {
		s.inputLatency.WithLabelValues(component, namespace, ok).Observe(ms(elapsed))
	}
}

// daprd does: its success and how long the binding took.
func (s *Sidecar) OutputBinding(namespace, component, operation string, success bool, elapsed time.Duration) {
	ok := strconv.FormatBool(success)
	s.bindingCount.WithLabelValues(component, namespace, operation, ok).Inc()
	if elapsed > 0 {
		s.bindingLatency.WithLabelValues(component, namespace, operation, ok).Observe(ms(elapsed))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func knownVerb(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// pathLabel is the path label of a call: a matching PathMatching pattern,
// else with IncreasedCardinality the path without the parts that name
// single items, else nothing.
func (s *Sidecar) pathLabel(path string) string {
	if s.paths != nil {
		_, pattern := s.paths.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}})
		if pattern != "" {
			return pattern
		}
	}
	if !s.opts.IncreasedCardinality {
		return ""
	}
	return trimPath(path)
}

// trimPath cuts the key off state and secret paths
// (/v1.0/state/{store}/{key} is labelled /v1.0/state/{store}) and replaces
// actor ids with "{id}", so a label names an endpoint and a component,
// never an item; other paths stay whole, as daprd labels them.
func trimPath(path string) string {
	// Segments after the leading slash: version, API, then what it names.
	rest := strings.TrimPrefix(path, "/")
	version, rest, _ := strings.Cut(rest, "/")
	api, rest, ok := strings.Cut(rest, "/")
	if version == "" || !ok {
		return path
	}
	switch api {
	case "state", "secrets":
		name, _, _ := strings.Cut(rest, "/")
		return path[:len(path)-len(rest)+len(name)]
	case "actors":
		typ, rest, ok := strings.Cut(rest, "/")
		if !ok {
			return path
		}
		_, rest, ok = strings.Cut(rest, "/")
		if !ok {
			return "/" + version + "/actors/" + typ + "/{id}"
		}
		method, _, _ := strings.Cut(rest, "/")
		return "/" + version + "/actors/" + typ + "/{id}/" + method
	}
	return path
}
