// Package file is configuration.local.file: configuration items read from a
// YAML or JSON file (metadata filePath; a relative path is taken from the
// working directory, as secretstores.local.file does), so an environment
// has a configuration store without a server. The file is a mapping of
// keys to either a value or {value, version, metadata}; an item without a
// version gets one from its value's content hash, so it is the same across
// restarts and changes only with the value.
//
// Subscriptions poll the file every pollInterval (default 1s) and report
// the keys whose items changed since the last read; a removed key is
// reported with an empty item, as Dapr reports deletions. A file that does
// not parse is logged and skipped until it changes again.
//
// It imports the component registry and the configuration interface only.
package file
