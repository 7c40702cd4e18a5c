package sidecar

import (
	"net/http"

	"github.com/cove-env/cove/internal/daprerr"
)

// absentRoutes adds daprd's routes of the building blocks cove does not
// run yet, or an app has no component of (pub/sub without a pub/sub
// component in scope, actors, workflows,
// jobs, cryptography, conversation). Each answers what daprd answers
// without a component of its kind, so a client learns what is missing
// instead of getting an invocation error from the fallback route.
func (s *Sidecar) absentRoutes(mux *http.ServeMux) {
	always := func(err func(*http.Request) *daprerr.Error) http.HandlerFunc {
		return s.handle(func(_ http.ResponseWriter, r *http.Request) error { return err(r) })
	}
	route := func(verbs []string, patterns []string, h http.HandlerFunc) {
		for _, v := range verbs {
			for _, p := range patterns {
				mux.HandleFunc(v+" "+p, h)
			}
		}
	}
	var (
		get, post, put, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
		postPut             = []string{post, put}
	)

	if s.cfg.Pubsub == nil {
		pubsub := always(func(r *http.Request) *daprerr.Error { return daprerr.NoPubsub(r.PathValue("pubsub")) })
		route(postPut, []string{
			"/v1.0/publish/{pubsub}/{topic...}",
			"/v1.0/publish/bulk/{pubsub}/{topic...}",
			"/v1.0-alpha1/publish/bulk/{pubsub}/{topic...}",
		}, pubsub)
	} else {
		s.pubsubRoutes(mux)
	}

	placement := always(func(*http.Request) *daprerr.Error { return daprerr.NoPlacement() })
	const actor = "/v1.0/actors/{type}/{id}"
	if s.cfg.Actors == nil {
		route(postPut, []string{actor + "/state", actor + "/reminders/{name}", actor + "/timers/{name}"}, placement)
		route([]string{get, post, put, del}, []string{actor + "/method/{method}"}, placement)
		route([]string{get}, []string{actor + "/state/{key}", actor + "/reminders/{name}"}, placement)
		route([]string{del}, []string{actor + "/reminders/{name}", actor + "/timers/{name}"}, placement)
	} else {
		s.actorRoutes(mux)
	}
	for _, v := range []string{"/v1.0", "/v1.0-beta1", "/v1.0-alpha1"} {
		const wf = "/workflows/{component}/{instance}"
		route([]string{get}, []string{v + wf}, placement)
		route([]string{post}, []string{
			v + wf + "/raiseEvent/{event}", v + "/workflows/{component}/{name}/start",
			v + wf + "/pause", v + wf + "/resume", v + wf + "/terminate", v + wf + "/purge",
		}, placement)
	}

	if s.cfg.Jobs != nil {
		s.jobRoutes(mux)
	} else {
		for _, v := range []string{"/v1.0", "/v1.0-alpha1"} {
			p := []string{v + "/jobs/{name}"}
			route([]string{post}, p, always(func(*http.Request) *daprerr.Error {
				return daprerr.NoScheduler(daprerr.SchedulerScheduleJob, "schedule job")
			}))
			route([]string{get}, p, always(func(*http.Request) *daprerr.Error {
				return daprerr.NoScheduler(daprerr.SchedulerGetJob, "get job")
			}))
			route([]string{del}, p, always(func(*http.Request) *daprerr.Error {
				return daprerr.NoScheduler(daprerr.SchedulerDeleteJob, "delete job")
			}))
		}
	}

	crypto := always(func(*http.Request) *daprerr.Error { return daprerr.NoCryptoProviders() })
	route([]string{put}, []string{"/v1.0-alpha1/crypto/{name}/encrypt", "/v1.0-alpha1/crypto/{name}/decrypt"}, crypto)
	route([]string{post}, []string{"/v1.0-alpha1/subtlecrypto/{name}/{op}"}, crypto)

	route([]string{post}, []string{"/v1.0-alpha1/conversation/{name}/converse", "/v1.0-alpha2/conversation/{name}/converse"},
		always(func(r *http.Request) *daprerr.Error { return daprerr.NoConversation(r.PathValue("name")) }))
}
