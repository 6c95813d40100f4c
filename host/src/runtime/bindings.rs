//! Host bindings of the `kiln:function/function-with-methods` world, generated from `wit/` (the
//! host's only `bindgen!`; wasi-http's come from `wasmtime-wasi-http`). Its interfaces are looked
//! up one by one: `methods` is optional.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "kiln:function/function-with-methods",
    exports: { default: async },
});
