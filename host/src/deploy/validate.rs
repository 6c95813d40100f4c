//! What an uploaded component must be: a component (not a core module) exporting the interface
//! of its kind and importing nothing Kiln does not provide.

use super::DeployError;
use crate::kind::AppKind;

/// Checks that `wasm` is a component exporting `wasi:http/incoming-handler@0.2.x` (services) or
/// `kiln:function/invoke@0.1.x` (functions); the error says what was found instead.
pub fn validate_component(wasm: &[u8], kind: AppKind) -> Result<(), DeployError> {
    let invalid = DeployError::InvalidComponent;
    let mut exports = Vec::new();
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for (index, payload) in wasmparser::Parser::new(0).parse_all(wasm).enumerate() {
        let payload =
            payload.map_err(|e| invalid(format!("the upload is not valid WebAssembly: {e}")))?;
        match payload {
            wasmparser::Payload::Version {
                encoding: wasmparser::Encoding::Module,
                ..
            } if index == 0 => {
                return Err(invalid(
                    "the upload is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
                     or turn it into a component that exports wasi:http/incoming-handler"
                        .into(),
                ));
            }
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| {
                        invalid(format!("the component's imports are malformed: {e}"))
                    })?;
                    imports.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| {
                        invalid(format!("the component's exports are malformed: {e}"))
                    })?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    let foreign: Vec<String> = imports
        .iter()
        .filter(|name| !provided(name))
        .map(|n| format!("'{n}'"))
        .collect();
    if !foreign.is_empty() {
        return Err(invalid(format!(
            "the component imports {}, which Kiln does not provide (Kiln provides the WASI 0.2 interfaces: wasi:cli, wasi:clocks, wasi:filesystem, wasi:http, wasi:io, wasi:random, wasi:sockets; wasi:keyvalue@0.2.0-draft and wasi:config@0.2.0-rc.1)",
            foreign.join(", ")
        )));
    }
    let (prefix, wanted) = match kind {
        AppKind::Service => (
            "wasi:http/incoming-handler@0.2.",
            "wasi:http/incoming-handler@0.2.x",
        ),
        AppKind::Function => ("kiln:function/invoke@0.1.", "kiln:function/invoke@0.1.x"),
    };
    if !exports.iter().any(|e| e.starts_with(prefix)) {
        let found = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        return Err(invalid(format!(
            "the component does not export {wanted} (it exports {found})"
        )));
    }
    Ok(())
}

/// Whether Kiln's linker provides an imported interface (any WASI 0.2 package it links, and
/// the key-value draft, the config candidate).
fn provided(import: &str) -> bool {
    if ["store", "atomics", "batch"]
        .iter()
        .any(|i| import == format!("wasi:keyvalue/{i}@0.2.0-draft"))
        || import == "wasi:config/store@0.2.0-rc.1"
    {
        return true;
    }
    [
        "wasi:cli/",
        "wasi:clocks/",
        "wasi:filesystem/",
        "wasi:http/",
        "wasi:io/",
        "wasi:random/",
        "wasi:sockets/",
    ]
    .iter()
    .any(|package| import.starts_with(package) && import.contains("@0.2."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_garbage_are_refused_with_the_reason() {
        let core = validate_component(b"\0asm\x01\0\0\0", AppKind::Service);
        assert!(
            matches!(core, Err(DeployError::InvalidComponent(m)) if m.contains("core WebAssembly module"))
        );
        let garbage = validate_component(b"not wasm at all", AppKind::Service);
        assert!(
            matches!(garbage, Err(DeployError::InvalidComponent(m)) if m.contains("not valid WebAssembly"))
        );
    }

    #[test]
    fn only_wasi_0_2_imports_are_provided() {
        assert!(provided("wasi:http/types@0.2.6"));
        assert!(provided("wasi:io/streams@0.2.10"));
        assert!(!provided("wasi:http/types@0.3.0"));
        assert!(!provided("acme:secrets/vault@1.0.0"));
        assert!(provided("wasi:keyvalue/store@0.2.0-draft"));
        assert!(!provided("wasi:keyvalue/store@0.2.0-draft2"));
        assert!(provided("wasi:config/store@0.2.0-rc.1"));
    }
}
