// Package standalone holds black-box tests of `cove sidecar`: the binary is
// built once, and real sidecar processes are driven by curl and the
// official Dapr Go and JavaScript SDKs, calling each other through name
// resolution over mutual TLS.
package standalone
