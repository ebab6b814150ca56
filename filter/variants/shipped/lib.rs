//! The module Envoy loads: the filter with no hooks.
#![cfg(target_arch = "wasm32")]

proxy_wasm::main! {{
    pgmesh_filter::wasm::start(pgmesh_filter::wasm::Hooks::SHIPPED);
}}
