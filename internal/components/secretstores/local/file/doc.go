// Package file is Dapr's secretstores.local.file: secrets read once, at
// Init, from a JSON file (metadata secretsFile; a relative path is taken
// from the working directory, as daprd does). Nested objects and arrays
// flatten into names joined by nestedSeparator (default ":"); with
// multiValued "true" each top-level name is one secret and what is nested
// under it becomes that secret's keys.
//
// It is meant for development: the file is plain text.
//
// It imports the component registry and the secretstores interface only.
package file
