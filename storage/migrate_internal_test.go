package storage

import "testing"

// Every SQLite migration has a PostgreSQL twin with the same number, so a
// schema change made for one database is not forgotten on the other.
func TestEveryMigrationHasAPostgresTwin(t *testing.T) {
	sqlite, err := migrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := migrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	have := map[int]bool{}
	for _, m := range postgres {
		have[m.version] = true
	}
	for _, m := range sqlite {
		if !have[m.version] {
			t.Errorf("migrations/sqlite/%s has no migrations/postgres twin numbered %04d", m.name, m.version)
		}
	}
}
