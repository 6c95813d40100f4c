//! A Kiln function in Rust, built from the same `wit/` as the host and the JS engine.
//!
//! - `{"name": "Ada"}` returns `{"message": "Hello, Ada!"}`.
//! - `{"name": "Ada", "count": 3}` streams `{"n": 1, "message": "Hello, Ada!"}` ... then returns
//!   `{"total": 3}`.
//! - `{"fail": "why"}` throws.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "kiln:function/function",
    });
}

use std::cell::Cell;

use bindings::exports::kiln::function::invoke::{
    Error, Generator, Guest, GuestGenerator, Outcome, Step,
};
use serde_json::{Value, json};

struct HelloFunction;

/// Counts up to `total`, one yield per `next`.
struct Counter {
    message: String,
    next: Cell<u64>,
    total: u64,
}

impl Guest for HelloFunction {
    type Generator = Counter;

    fn call(input: String) -> Result<Outcome, Error> {
        let input: Value = serde_json::from_str(&input).map_err(|e| Error {
            message: format!("SyntaxError: {e}"),
            stack: None,
        })?;
        if let Some(reason) = input.get("fail").and_then(Value::as_str) {
            return Err(Error {
                message: format!("Error: {reason}"),
                stack: Some("at call (hello-function/src/lib.rs)".into()),
            });
        }
        let name = input.get("name").and_then(Value::as_str).unwrap_or("World");
        let message = format!("Hello, {name}!");
        match input.get("count").and_then(Value::as_u64) {
            None => Ok(Outcome::Value(Some(
                json!({ "message": message }).to_string(),
            ))),
            Some(total) => Ok(Outcome::Stream(Generator::new(Counter {
                message,
                next: Cell::new(1),
                total,
            }))),
        }
    }
}

impl GuestGenerator for Counter {
    fn next(&self) -> Result<Step, Error> {
        let n = self.next.get();
        if n > self.total {
            return Ok(Step::Done(Some(json!({ "total": self.total }).to_string())));
        }
        self.next.set(n + 1);
        Ok(Step::Yielded(
            json!({ "n": n, "message": self.message }).to_string(),
        ))
    }
}

bindings::export!(HelloFunction with_types_in bindings);
