//! Resolver benchmarks (placeholder until the resolver bench lands).
fn main() {}
