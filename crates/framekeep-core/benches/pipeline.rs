//! Benchmark placeholder for `pipeline`: replaced by the real benchmark.
fn main() {}
