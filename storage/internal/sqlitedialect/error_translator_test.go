package sqlitedialect_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	_ "modernc.org/sqlite"

	"github.com/mayflyhq/mayfly/storage/internal/sqlitedialect"
)

func TestTranslate(t *testing.T) {
	sqlDB, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	db, err := gorm.Open(sqlitedialect.Dialector{Conn: sqlDB}, &gorm.Config{Logger: logger.Discard, TranslateError: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT UNIQUE)",
		"CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))",
		"INSERT INTO parent (id, name) VALUES (1, 'a')",
	} {
		if err := db.Exec(stmt).Error; err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	tests := []struct {
		name string
		stmt string
		want error
	}{
		{"primary key", "INSERT INTO parent (id, name) VALUES (1, 'b')", gorm.ErrDuplicatedKey},
		{"unique", "INSERT INTO parent (id, name) VALUES (2, 'a')", gorm.ErrDuplicatedKey},
		{"foreign key", "INSERT INTO child (id, parent_id) VALUES (1, 99)", gorm.ErrForeignKeyViolated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := db.Exec(tt.stmt).Error; !errors.Is(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("other errors pass through", func(t *testing.T) {
		got := db.Exec("SELECT * FROM missing").Error
		if got == nil || errors.Is(got, gorm.ErrDuplicatedKey) || errors.Is(got, gorm.ErrForeignKeyViolated) {
			t.Errorf("got %v, want the driver's error", got)
		}
	})
}
