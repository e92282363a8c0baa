module github.com/voxanne/resilience/benchmarks

go 1.26.0

replace github.com/voxanne/resilience => ../

require (
	github.com/avast/retry-go/v5 v5.1.1
	github.com/cenkalti/backoff/v4 v4.3.0
	github.com/eapache/go-resiliency v1.7.0
	github.com/failsafe-go/failsafe-go v0.9.8
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/sony/gobreaker/v2 v2.4.0
	github.com/twilio/twilio-go v1.31.0
	github.com/voxanne/resilience v0.0.0
)

require (
	github.com/aclements/go-moremath v0.0.0-20210112150236-f10218a38794 // indirect
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
	github.com/golang/mock v1.6.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	golang.org/x/perf v0.0.0-20260908200009-22c9c6c9d4da // indirect
	golang.org/x/sync v0.25.0 // indirect
)

tool golang.org/x/perf/cmd/benchstat
