package shop

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// Summary describes a database's contents, independent of its file layout:
// two databases with the same rows have the same Summary however their pages
// are arranged (after a VACUUM, in WAL or rollback mode, ...).
type Summary struct {
	// Tables maps every table to its row count.
	Tables map[string]int64
	// TableChecksums maps every table to the sha256 of its canonical
	// encoding, "sha256:<hex>".
	TableChecksums map[string]string
	// Checksum is the sha256 of all tables' canonical encodings, in table
	// name order, "sha256:<hex>".
	Checksum string
}

// Rows is the total number of rows in all tables.
func (s Summary) Rows() int64 {
	var n int64
	for _, c := range s.Tables {
		n += c
	}
	return n
}

// Summarize counts the rows of every table and checksums their contents, all
// in one read transaction so that the counts and checksums agree with each
// other even while something else writes.
//
// The canonical encoding of a table is
//
//	"table " <name> "\n"
//	"columns" (" " <column>)* "\n"
//	then one line per row in primary-key order (rowid order when there is no
//	declared primary key): each value as a type letter and a payload,
//	N (null), I<decimal> (integer), R<shortest round-trip float>, T<len>:<text>,
//	B<len>:<bytes>, separated by ";", ending in "\n".
//
// Names are written as <len>:<name> so that no value or name can be mistaken
// for a separator.
func Summarize(ctx context.Context, db *sql.DB) (Summary, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Summary{}, fmt.Errorf("shop: summarize: begin: %w", err)
	}
	defer tx.Rollback() // read only: nothing to commit

	tables, err := userTables(ctx, tx)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{
		Tables:         make(map[string]int64, len(tables)),
		TableChecksums: make(map[string]string, len(tables)),
	}
	all := sha256.New()
	for _, table := range tables {
		one := sha256.New()
		n, err := encodeTable(ctx, tx, table, io.MultiWriter(all, one))
		if err != nil {
			return Summary{}, fmt.Errorf("shop: summarize table %s: %w", table, err)
		}
		s.Tables[table] = n
		s.TableChecksums[table] = digest(one)
	}
	s.Checksum = digest(all)
	return s, nil
}

func digest(h hash.Hash) string {
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// encodeTable writes the canonical encoding of one table to w and returns its
// row count.
func encodeTable(ctx context.Context, tx *sql.Tx, table string, w io.Writer) (int64, error) {
	columns, order, err := tableColumns(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	buf := []byte("table ")
	buf = appendName(buf, table)
	buf = append(buf, "\ncolumns"...)
	for _, c := range columns {
		buf = append(buf, ' ')
		buf = appendName(buf, c)
	}
	buf = append(buf, '\n')
	if _, err := w.Write(buf); err != nil {
		return 0, err
	}

	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = quoteIdent(c)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+strings.Join(quoted, ", ")+" FROM "+quoteIdent(table)+" ORDER BY "+order)
	if err != nil {
		return 0, fmt.Errorf("read rows: %w", err)
	}
	defer rows.Close()
	values := make([]any, len(columns))
	dest := make([]any, len(columns))
	for i := range values {
		dest[i] = &values[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, fmt.Errorf("read row %d: %w", n+1, err)
		}
		buf = buf[:0]
		for i, v := range values {
			if i > 0 {
				buf = append(buf, ';')
			}
			if buf, err = appendValue(buf, v); err != nil {
				return 0, fmt.Errorf("row %d column %s: %w", n+1, columns[i], err)
			}
		}
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return 0, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read rows: %w", err)
	}
	return n, nil
}

// tableColumns returns a table's columns in declaration order and the ORDER BY
// clause that lists its rows in primary-key order.
func tableColumns(ctx context.Context, tx *sql.Tx, table string) (columns []string, orderBy string, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, "", fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	var pk []string // indexed by position in the primary key
	for rows.Next() {
		var name string
		var pos int
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, "", fmt.Errorf("read columns: %w", err)
		}
		columns = append(columns, name)
		if pos > 0 {
			for len(pk) < pos {
				pk = append(pk, "")
			}
			pk[pos-1] = quoteIdent(name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read columns: %w", err)
	}
	if len(columns) == 0 {
		return nil, "", fmt.Errorf("no columns")
	}
	if len(pk) == 0 {
		return columns, "rowid", nil
	}
	return columns, strings.Join(pk, ", "), nil
}

func appendName(buf []byte, name string) []byte {
	buf = strconv.AppendInt(buf, int64(len(name)), 10)
	buf = append(buf, ':')
	return append(buf, name...)
}

func appendValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(buf, 'N'), nil
	case int64:
		return strconv.AppendInt(append(buf, 'I'), v, 10), nil
	case float64:
		return strconv.AppendFloat(append(buf, 'R'), v, 'g', -1, 64), nil
	case string:
		return appendName(append(buf, 'T'), v), nil
	case []byte:
		buf = strconv.AppendInt(append(buf, 'B'), int64(len(v)), 10)
		buf = append(buf, ':')
		return append(buf, v...), nil
	default:
		return buf, fmt.Errorf("unsupported value type %T", v)
	}
}
