package sqlitedialect

import (
	"errors"

	"gorm.io/gorm"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// errCodes maps SQLite's extended result codes (https://www.sqlite.org/rescode.html)
// to gorm's errors.
var errCodes = map[int]error{
	sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY: gorm.ErrDuplicatedKey,
	sqlite3.SQLITE_CONSTRAINT_UNIQUE:     gorm.ErrDuplicatedKey,
	sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY: gorm.ErrForeignKeyViolated,
}

// Translate turns a modernc.org/sqlite error into gorm's native error when
// gorm.Config.TranslateError asks for it. Upstream reads the code through a
// JSON round trip of mattn's error type; modernc's error has a Code method.
func (dialector Dialector) Translate(err error) error {
	var serr *msqlite.Error
	if errors.As(err, &serr) {
		if translated, ok := errCodes[serr.Code()]; ok {
			return translated
		}
	}
	return err
}
