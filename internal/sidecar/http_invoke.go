package sidecar

import (
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/cove-env/cove/internal/blocks/invoke"
	"github.com/cove-env/cove/internal/daprerr"
)

// invoke forwards r to app appID at path method and streams the answer
// back. Once the app's status line has been relayed, errors can no longer
// be reported to the caller, only logged.
func (s *Sidecar) invoke(w http.ResponseWriter, r *http.Request, appID, method string) error {
	if s.cfg.Invoker == nil {
		return daprerr.New(daprerr.DirectInvokeNotReady, "invoke API is not ready")
	}
	req := &invoke.Request{
		AppID:         appID,
		Method:        r.Method,
		Path:          method,
		Query:         r.URL.RawQuery,
		Header:        r.Header,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		CallerAppID:   s.cfg.AppID,
	}
	// The app may answer while the request body is still streaming in;
	// HTTP/1 stops reading the body once a response is written unless told.
	if fd, ok := w.(interface{ EnableFullDuplex() error }); ok {
		_ = fd.EnableFullDuplex()
	}
	resp, err := s.cfg.Invoker.Invoke(r.Context(), req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()

	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	w.WriteHeader(resp.Status)

	// Unknown length is how apps stream (chunks, server-sent events): pass
	// each piece on as soon as it arrives. A known length is left to the
	// server's buffering.
	err = copyBody(w, resp.Body, resp.ContentLength < 0)
	if err != nil {
		s.log.Debug("invocation response cut short",
			slog.String("target", appID), slog.String("method", method), slog.Any("error", err))
		// Abort the connection so the caller cannot mistake a truncated
		// body for a complete one; net/http recovers this sentinel.
		panic(http.ErrAbortHandler)
	}
	return nil
}

var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

// copyBody copies with a pooled buffer (a ResponseWriter with ReadFrom
// uses its own), flushing after every write when asked.
func copyBody(w http.ResponseWriter, src io.Reader, flush bool) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if !flush {
		_, err := io.CopyBuffer(w, src, *bp)
		return err
	}
	f, _ := w.(http.Flusher)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if f != nil {
				f.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
