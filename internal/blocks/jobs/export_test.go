package jobs

// Schema and DSN are the store's table and how it opens its file, for a
// benchmark that does the store's own work through database/sql alone.
const Schema = schema

func DSN(path string) string { return dsn(path) }
