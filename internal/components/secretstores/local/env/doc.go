// Package env is Dapr's secretstores.local.env: secrets are this process's
// environment variables, read at every call. With metadata prefix set,
// only variables starting with it are visible, and the prefix is added to
// requested names and removed from listed ones. Variables Dapr keeps from
// apps (DAPR_*, APP_API_TOKEN) are never returned.
//
// It imports the component registry and the secretstores interface only.
package env
