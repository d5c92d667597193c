package main

import (
	"path/filepath"
	"strings"

	"github.com/mayflyhq/mayfly/storage"
)

// credentialPaths are files where the libraries the portal uses find
// credentials (the AWS SDK, pgx) and where containers mount secrets: the
// local provider hides them from stack processes, with the data directory.
func credentialPaths(getenv func(string) string) []string {
	var paths []string
	home := getenv("HOME")
	add := func(p string) {
		if p != "" {
			paths = append(paths, p)
		}
	}
	if home != "" {
		add(filepath.Join(home, ".aws"))
		add(filepath.Join(home, ".pgpass"))
	}
	for _, k := range []string{"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "PGPASSFILE"} {
		add(getenv(k))
	}
	return append(paths, "/run/secrets", "/var/run/secrets")
}

// hiddenPaths are what stack processes of the local provider must not
// read: the data directory (the SQLite database, secret.key, other stacks
// and their logs), the secret key file and SQLite database when they are
// elsewhere, and the credentials files.
func (m *Main) hiddenPaths() []string {
	c := m.Config
	hidden := []string{c.DataDir}
	if c.SecretKeyFile != "" {
		hidden = append(hidden, c.SecretKeyFile)
	}
	if db := sqliteFile(c.DatabaseURL, c.DataDir); db != "" {
		// SQLite's write-ahead log and shared memory hold pages too.
		hidden = append(hidden, db, db+"-wal", db+"-shm", db+"-journal")
	}
	return append(hidden, c.LocalHidden...)
}

// sqliteFile is the SQLite database a URL names, as storage.Open reads it
// ("" for PostgreSQL).
func sqliteFile(url, dataDir string) string {
	switch {
	case storage.IsPostgres(url):
		return ""
	case url == "":
		return filepath.Join(dataDir, "mayfly.db")
	case strings.HasPrefix(url, "sqlite://"):
		return strings.TrimPrefix(url, "sqlite://")
	case strings.Contains(url, "://"):
		return ""
	default:
		return url
	}
}
