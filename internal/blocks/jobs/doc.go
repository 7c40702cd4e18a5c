// Package jobs is the jobs building block on a durable scheduler: jobs are
// kept in an embedded SQLite database, one per environment (or standalone
// sidecar), and each occurrence of a job is delivered once, to one replica
// of the app that scheduled it, as daprd with its scheduler service does.
//
// The Scheduler owns the database and the firing loop; a Service is one
// app's view of it (daprd's schedule, get, delete and list, with daprd's
// errors), and the app's sidecars attach their replicas to it as targets
// once their app is up. HTTPApp and GRPCApp deliver a job to an app as
// daprd does (POST /job/{name}, OnJobEvent).
//
// It imports daprerr and the Dapr protos; it must not import the sidecar,
// the hosts or spec.
package jobs
