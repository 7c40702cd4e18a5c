module github.com/cove-env/cove/examples/triage

go 1.26
