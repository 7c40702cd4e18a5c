package invoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cove-env/cove/internal/daprerr"
	"github.com/cove-env/cove/internal/resiliency"
)

// Policies supplies the rules an Invoker applies around each call: the
// caller's resiliency policy for the target, and what the target's own
// sidecar enforces and adds (access control, its APP_API_TOKEN). Sidecars
// in one process share the Invoker, so both sides' rules are applied here;
// a callee the Policies do not know (a peer in another process) enforces
// its own on its side.
type Policies interface {
	// Resiliency returns the policy caller applies to calls to target, or
	// nil. The same *Policy must come back for the same pair, since it
	// carries the circuit breaker's state.
	Resiliency(caller, target string) *resiliency.Policy
	// App returns the sidecar settings of appID, or nil when none apply.
	App(appID string) *AppSettings
}

// AppSettings are one app's sidecar settings that matter to its callers.
type AppSettings struct {
	// AppToken is the app's APP_API_TOKEN, sent to it as dapr-api-token.
	AppToken string
	// Access is the app's access control list; nil allows every caller.
	Access *AccessControl
	// TrustDomain is the app's own trust domain as a caller ("public" when
	// empty), matched against callees' policies.
	TrustDomain string
}

// DefaultReplayLimit is how large a request body may be and still be kept
// for retries; a larger one, or one of unknown length, is sent once.
const DefaultReplayLimit = 4 << 20

// HeaderAPIToken carries API tokens: the caller's to its sidecar (never
// forwarded) and the callee's APP_API_TOKEN to the callee.
const HeaderAPIToken = "Dapr-Api-Token"

// SetPolicies installs the rules applied around every call from now on;
// nil removes them.
func (i *Invoker) SetPolicies(p Policies) {
	if p == nil {
		i.policies.Store(nil)
		return
	}
	i.policies.Store(&p)
}

func (i *Invoker) currentPolicies() Policies {
	if p := i.policies.Load(); p != nil {
		return *p
	}
	return nil
}

// applyPolicies runs an HTTP-shaped call of appID through the callee's
// access control and the caller's resiliency policy; call makes one
// attempt.
func (i *Invoker) applyPolicies(ctx context.Context, req *Request, appID string,
	call func(context.Context, *Request, string) (*Response, error)) (*Response, error) {
	// The caller's own token is for its sidecar alone.
	delete(req.Header, HeaderAPIToken)
	pol := i.currentPolicies()
	if pol == nil {
		return call(ctx, req, appID)
	}
	if callee := pol.App(appID); callee != nil {
		if err := i.authorize(pol, callee, req.CallerAppID, req.Path, req.Method, true); err != nil {
			closeBody(req.Body)
			return nil, invokeErrorStatus(req.AppID, err)
		}
		if callee.AppToken != "" {
			req.Header[HeaderAPIToken] = []string{callee.AppToken}
		}
	}
	p := pol.Resiliency(req.CallerAppID, appID)
	if p == nil {
		return call(ctx, req, appID)
	}
	body, replay, err := i.replayableBody(req, p)
	if err != nil {
		return nil, invokeError(req.AppID, err)
	}
	resp, err := resiliency.Run(ctx, p, func(actx context.Context) (*Response, error) {
		attempt := *req
		if replay {
			attempt.Header = req.Header.Clone()
			attempt.Body = nil
			if body != nil {
				attempt.Body = io.NopCloser(bytes.NewReader(body))
			}
		}
		resp, err := call(actx, &attempt, appID)
		if err != nil {
			return nil, attemptError(ctx, actx, req.AppID, err)
		}
		if resp.Status < 200 || resp.Status > 399 {
			return resp, &resiliency.StatusError{Code: resp.Status}
		}
		return resp, nil
	}, resiliency.RunOptions[*Response]{
		NoRetry: !replay,
		Dispose: func(r *Response) {
			if r != nil {
				closeBody(r.Body)
			}
		},
		Keep: func(r *Response, cancel context.CancelFunc) *Response {
			if r == nil {
				cancel()
				return r
			}
			r.Body = &onClose{ReadCloser: r.Body, fn: cancel}
			return r
		},
	})
	return policyResult(req.AppID, resp, err)
}

// replayableBody reads the request body for replay when the policy may
// retry and the body is small enough; otherwise the request goes once.
func (i *Invoker) replayableBody(req *Request, p *resiliency.Policy) ([]byte, bool, error) {
	if !p.HasRetries() {
		return nil, false, nil
	}
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true, nil
	}
	limit := i.replayLimit
	if req.ContentLength <= 0 || req.ContentLength > limit {
		return nil, false, nil // a stream, or too large: never buffered
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, req.ContentLength+1))
	closeBody(req.Body)
	if err != nil {
		return nil, false, fmt.Errorf("reading the request body: %w", err)
	}
	if int64(len(body)) != req.ContentLength {
		return nil, false, fmt.Errorf("request body of %d bytes does not match its Content-Length %d", len(body), req.ContentLength)
	}
	return body, true, nil
}

// policyResult turns what a policy run ended with into the call's answer:
// a failed status is the app's answer and goes back as it is; a breaker's
// refusal and other errors are ERR_DIRECT_INVOKE.
func policyResult[T any](id string, res T, err error) (T, error) {
	var zero T
	if err == nil {
		return res, nil
	}
	if _, ok := err.(*resiliency.StatusError); ok {
		return res, nil
	}
	var de *daprerr.Error
	if asDaprErr(err, &de) {
		return zero, de
	}
	return zero, invokeError(id, err)
}

// onClose calls fn, once, when the body is closed: it ends an attempt's
// timeout context once its response body has been consumed, so the
// timeout covers the streamed answer as daprd's does, and it ends the
// count of a call to a replica (Target.Done).
type onClose struct {
	io.ReadCloser
	fn   func()
	once sync.Once
}

func (c *onClose) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.fn)
	return err
}

// applyMessagePolicies is applyPolicies for invocations in the gRPC API's
// shape; the message is in memory, so it can always be replayed.
func (i *Invoker) applyMessagePolicies(ctx context.Context, req *MessageRequest, appID string,
	call func(context.Context, *MessageRequest, string) (*MessageResponse, error)) (*MessageResponse, error) {
	md := req.Metadata.Copy()
	delete(md, "dapr-api-token")
	req.Metadata = md
	pol := i.currentPolicies()
	if pol == nil {
		return call(ctx, req, appID)
	}
	if callee := pol.App(appID); callee != nil {
		ext := req.Message.GetHttpExtension()
		verb, hasVerb := ext.GetVerb().String(), ext != nil && ext.GetVerb() != 0
		op, _ := splitMethod(req.Message.GetMethod(), "")
		if err := i.authorize(pol, callee, req.CallerAppID, op, verb, hasVerb); err != nil {
			return nil, invokeErrorStatus(req.AppID, err)
		}
		if callee.AppToken != "" {
			md["dapr-api-token"] = []string{callee.AppToken}
		}
	}
	p := pol.Resiliency(req.CallerAppID, appID)
	if p == nil {
		return call(ctx, req, appID)
	}
	res, err := resiliency.Run(ctx, p, func(actx context.Context) (*MessageResponse, error) {
		res, err := call(actx, req, appID)
		switch {
		case err != nil:
			return nil, attemptError(ctx, actx, req.AppID, err)
		case res.HTTPStatus != 0 && (res.HTTPStatus < 200 || res.HTTPStatus > 399):
			return res, &resiliency.StatusError{Code: res.HTTPStatus}
		case res.Status != nil && res.Status.Code() != codes.OK:
			return res, &resiliency.StatusError{Code: int(res.Status.Code()), GRPC: true}
		}
		return res, nil
	}, resiliency.RunOptions[*MessageResponse]{})
	return policyResult(req.AppID, res, err)
}

// invokeErrorStatus is invokeError carrying the status of a callee-side
// refusal (PermissionDenied becomes 403, as daprd answers it).
func invokeErrorStatus(id string, err error) *daprerr.Error {
	e := invokeError(id, err)
	if st, ok := status.FromError(err); ok && st.Code() == codes.PermissionDenied {
		return e.WithStatus(http.StatusForbidden, codes.PermissionDenied)
	}
	return e
}

func asDaprErr(err error, target **daprerr.Error) bool { return errors.As(err, target) }

// attemptError names an attempt cut short by the policy's timeout as daprd
// does ("failed to invoke, id: x, err: context deadline exceeded"); the
// cause stays DeadlineExceeded for the gRPC API's status.
func attemptError(ctx, actx context.Context, id string, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return invokeError(id, context.DeadlineExceeded)
	}
	return err
}

// AuthorizeProxy applies appID's access control to a gRPC call proxied
// from caller to the full method name, which gRPC-only rules match without
// a verb as in Dapr, and returns appID's APP_API_TOKEN for the call's
// metadata. A refusal is a PermissionDenied status.
func (i *Invoker) AuthorizeProxy(caller, appID, method string) (string, error) {
	pol := i.currentPolicies()
	if pol == nil {
		return "", nil
	}
	bare, err := i.bareAppID(appID)
	if err != nil {
		return "", nil // DialApp reports it
	}
	callee := pol.App(bare)
	if callee == nil {
		return "", nil
	}
	if err := i.authorize(pol, callee, caller, method, "", false); err != nil {
		return "", err
	}
	return callee.AppToken, nil
}

// SelfPolicies narrows p to one sidecar's view, for a standalone sidecar
// whose Invoker serves only its own app: resiliency applies to self's
// outbound calls (not again to calls peers make to self, which their
// sidecars already ran through theirs), and callee rules are self's own,
// enforced on calls arriving from peers; a remote callee enforces its own.
func SelfPolicies(self string, p Policies) Policies { return selfPolicies{self, p} }

type selfPolicies struct {
	self string
	p    Policies
}

func (s selfPolicies) Resiliency(caller, target string) *resiliency.Policy {
	if caller != s.self || target == s.self {
		return nil
	}
	return s.p.Resiliency(caller, target)
}

func (s selfPolicies) App(appID string) *AppSettings {
	if appID != s.self {
		return nil
	}
	return s.p.App(appID)
}
