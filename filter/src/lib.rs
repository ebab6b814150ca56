//! pgmesh's proxy-wasm filter. [`core`] holds the logic (no proxy-wasm, tested natively);
//! the `wasm` module adapts it to Envoy's host calls.

pub mod auth;
pub mod core;
pub mod cors;

#[cfg(target_arch = "wasm32")]
mod wasm;
