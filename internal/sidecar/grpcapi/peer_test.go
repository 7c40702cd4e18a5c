package grpcapi_test

import (
	"net/http"
	"testing"

	"github.com/cove-env/cove/internal/sidecar/grpcapi"
)

func TestIsGRPC(t *testing.T) {
	tests := []struct {
		name        string
		protoMajor  int
		contentType string
		want        bool
	}{
		{name: "plain", protoMajor: 2, contentType: "application/grpc", want: true},
		{name: "codec subtype", protoMajor: 2, contentType: "application/grpc+json", want: true},
		{name: "parameters", protoMajor: 2, contentType: "application/grpc;charset=utf-8", want: true},
		{name: "upper case", protoMajor: 2, contentType: "Application/GRPC+proto", want: true},
		{name: "grpc-web is not gRPC", protoMajor: 2, contentType: "application/grpc-web", want: false},
		{name: "JSON", protoMajor: 2, contentType: "application/json", want: false},
		{name: "no content type", protoMajor: 2, want: false},
		{name: "HTTP/1.1", protoMajor: 1, contentType: "application/grpc", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{ProtoMajor: tc.protoMajor, Header: http.Header{}}
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			if got := grpcapi.IsGRPC(r); got != tc.want {
				t.Errorf("IsGRPC = %v; want %v", got, tc.want)
			}
		})
	}
}
