//! Benchmark placeholder for `ledger`: replaced by the real benchmark.
fn main() {}
