//! What a first start stores, so that `curl /api/v2/hello?name=World` answers at once.

use crate::kind::AppKind;

/// One seeded app.
pub struct Seed {
    /// Service or function.
    pub kind: AppKind,
    /// Its name.
    pub name: &'static str,
    /// Its description.
    pub description: &'static str,
    /// Its source.
    pub code: &'static str,
    /// Its OpenAPI document (services), served at `/api/docs/{name}`.
    pub schema: Option<&'static str>,
}

/// The services `hello` and `calculator` and the function `hello`.
pub const SEEDS: [Seed; 3] = [
    Seed {
        kind: AppKind::Service,
        name: "hello",
        description: "Seeded greeting service",
        code: include_str!("seeds/hello.js"),
        schema: Some(include_str!("seeds/hello.openapi.json")),
    },
    Seed {
        kind: AppKind::Service,
        name: "calculator",
        description: "Seeded calculator service",
        code: include_str!("seeds/calculator.js"),
        schema: Some(include_str!("seeds/calculator.openapi.json")),
    },
    Seed {
        kind: AppKind::Function,
        name: "hello",
        description: "Seeded greeting function",
        code: include_str!("seeds/hello-function.js"),
        schema: None,
    },
];
