package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	_ "modernc.org/sqlite"

	"github.com/voxanne/resilience/tenant"
	"github.com/voxanne/resilience/tenant/sqlstore"
)

func Example() {
	ctx := context.Background()

	// One connection: each connection to ":memory:" is a database of its own.
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	store, err := sqlstore.New(db)
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	secret := []byte("example-secret-of-at-least-32-bytes")
	verifier, err := tenant.HS256(secret)
	if err != nil {
		panic(err)
	}
	mw := tenant.Middleware(verifier,
		tenant.WithDirectory(store), tenant.WithProvisioner(store))
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := tenant.FromContext(r.Context())
		fmt.Printf("user %s, org from %s\n", info.UserID, info.Source)
	}))

	// A brand-new user whose token carries no organisation.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":  "user-42",
		"role": "authenticated",
		"aud":  "authenticated",
		"exp":  time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	h.ServeHTTP(httptest.NewRecorder(), req)

	// The organisation is in the database for every other server instance.
	org, err := store.OrgForUser(ctx, "user-42")
	fmt.Println(org != "", err)
	// Output:
	// user user-42, org from provisioned
	// true <nil>
}

func ExampleStore_Provision() {
	ctx := context.Background()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	store, err := sqlstore.New(db)
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	alice := tenant.Info{UserID: "alice", Email: "alice@clinic.com"}
	first, _ := store.Provision(ctx, alice)
	again, _ := store.Provision(ctx, alice) // idempotent
	var name string
	_ = db.QueryRowContext(ctx, "SELECT name FROM organizations WHERE id = ?", first).Scan(&name)
	fmt.Println(first == again, name)
	// Output: true alice's organization
}
