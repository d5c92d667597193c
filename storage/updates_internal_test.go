package storage

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestUpdatesMapToColumns: every field of every typed update writes
// exactly one column, the column of the model's field of the same name,
// and that column exists in the migrated database; so a field added
// without its column, or mapped to the wrong one, fails here.
func TestUpdatesMapToColumns(t *testing.T) {
	ctx := context.Background()
	db := migratedTestDB(t)
	type update interface{ columns() map[string]any }
	for _, c := range []struct {
		update update
		model  any
	}{
		{EnvironmentUpdate{}, &Environment{}},
		{StackUpdate{}, &Stack{}},
		{ActivityUpdate{}, &EnvironmentActivity{}},
		{RolloutUpdate{}, &Rollout{}},
		{RolloutItemUpdate{}, &RolloutItem{}},
		{UserCheckUpdate{}, &User{}},
	} {
		typ := reflect.TypeOf(c.update)
		t.Run(typ.Name(), func(t *testing.T) {
			sch, err := schema.Parse(c.model, &sync.Map{}, db.db.NamingStrategy)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := db.sql.QueryContext(ctx, "SELECT * FROM "+sch.Table+" LIMIT 0")
			if err != nil {
				t.Fatal(err)
			}
			tableCols, err := rows.Columns()
			rows.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := c.update.columns(); len(got) != 0 {
				t.Errorf("an empty %s writes %v; want nothing", typ.Name(), got)
			}
			for i := range typ.NumField() {
				name := typ.Field(i).Name
				u := reflect.New(typ).Elem()
				u.Field(i).FieldByName("Set").SetBool(true)
				got := u.Interface().(update).columns()
				if len(got) != 1 {
					t.Errorf("%s alone writes %d columns (%v); want 1", name, len(got), got)
					continue
				}
				var col string
				for col = range got {
				}
				f := sch.LookUpField(col)
				if f == nil || f.DBName != col {
					t.Errorf("%s writes %q, which is no column of %s", name, col, sch.Name)
					continue
				}
				if f.Name != name {
					t.Errorf("%s writes %q, the column of %s.%s; want the column of %s.%s", name, col, sch.Name, f.Name, sch.Name, name)
				}
				if !slices.Contains(tableCols, col) {
					t.Errorf("%s writes %q, which table %s does not have (columns %v)", name, col, sch.Table, tableCols)
				}
			}
		})
	}
}
