package aws_test

import (
	"errors"
	"fmt"

	"github.com/mayflyhq/mayfly/envs"
)

func errorAs(err error, target **envs.Error) bool { return errors.As(err, target) }

func fieldsOf(err error) string {
	var de *envs.Error
	if errors.As(err, &de) {
		return fmt.Sprint(de.Fields)
	}
	return ""
}
