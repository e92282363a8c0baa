package sqlstore

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadMigrations(t *testing.T) {
	ms, err := readMigrations(fstest.MapFS{
		"10_ten.sql":     {Data: []byte("ten")},
		"9_nine.sql":     {Data: []byte("nine")},
		"002_two.sql":    {Data: []byte("two")},
		"001_one.sql":    {Data: []byte("one")},
		"README.md":      {Data: []byte("skipped")},
		"dir.sql/x.sql":  {Data: []byte("a directory is skipped")},
		"003_three.SQL":  {Data: []byte("not .sql")},
		"004_four.sql~":  {Data: []byte("backup")},
		"005_five_a.sql": {Data: []byte("five")},
	})
	require.NoError(t, err)
	assert.Equal(t, []migration{{1, "one", "one"}, {2, "two", "two"}, {5, "five_a", "five"}, {9, "nine", "nine"}, {10, "ten", "ten"}}, ms)

	for _, name := range []string{"000_zero.sql", "x_one.sql", "one.sql", "-1_neg.sql", "001.sql"} {
		_, err := readMigrations(fstest.MapFS{name: {Data: []byte("x")}})
		require.ErrorContains(t, err, "name is not NNN_name.sql", name)
	}
	_, err = readMigrations(nil)
	require.Error(t, err)
}
