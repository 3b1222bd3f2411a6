//! Benchmark placeholder for `pool`: replaced by the real benchmark.
fn main() {}
