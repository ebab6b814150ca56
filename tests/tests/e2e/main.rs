//! End-to-end tests through real Envoy (running the built `.wasm`), the sidecar and
//! PostgreSQL. One test binary, one shared stack; some tests start stacks of their own.

// clippy.toml's allow-*-in-tests reach only `#[test]` functions and `#[cfg(test)]` items, not
// the helpers of this integration-test crate, which fail their test the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aggregates;
mod auth;
mod concurrency;
mod config;
mod conformance;
mod context;
mod database;
mod errors;
mod introspection;
mod lifecycle;
mod operators;
mod pages;
mod read;
mod relations;
mod reload;
mod role_claim;
mod rpc;
mod streaming;
mod trust;
mod writes;
