//! Host bindings of the `kiln:function/function` world, generated from `wit/` (the host's only
//! `bindgen!`; wasi-http's come from `wasmtime-wasi-http`).

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "kiln:function/function",
    exports: { default: async },
});
