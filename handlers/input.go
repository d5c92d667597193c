package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v5"

	"github.com/mayflyhq/mayfly/envs"
)

// refuseBadText refuses a request whose path or query carries a NUL byte
// or bytes that are not UTF-8: no name, id or filter has them, PostgreSQL
// cannot take them as text (a 500), and a process cannot be given a NUL.
// The query is 422 naming the parameter; a path is 400.
func refuseBadText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if badText(c.Request().URL.Path) {
			return echo.NewHTTPError(http.StatusBadRequest, "the path has a NUL byte or bytes that are not UTF-8")
		}
		raw := c.Request().URL.RawQuery
		if !strings.Contains(raw, "%") && !badText(raw) {
			return next(c) // nothing escaped: the common case, no parsing
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return next(c) // left to the handlers that read the query
		}
		for key, values := range q {
			bad := badText(key)
			for _, v := range values {
				bad = bad || badText(v)
			}
			if bad {
				return envs.Invalid("query is not valid", envs.FieldError{Field: strings.ToValidUTF8(key, "?"),
					Message: "must not contain a NUL byte or bytes that are not UTF-8"})
			}
		}
		return next(c)
	}
}

func badText(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}
