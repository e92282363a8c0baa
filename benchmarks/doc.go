// Package benchmarks compares the resilience module with peer libraries,
// side by side in one process. It is a separate module so that the peers
// never enter the dependency graph of the module's users.
//
//	cd benchmarks && go test -run '^$' -bench . -count 5 | tee new.txt
//	go tool benchstat new.txt
package benchmarks
