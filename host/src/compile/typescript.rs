//! TypeScript sources: the host strips the types (oxc) and hands the engine JavaScript.
//!
//! Only TypeScript's own syntax is transformed (annotations, interfaces, `enum`, `namespace`,
//! parameter properties, type-only imports); the JavaScript underneath is emitted as written,
//! for the engine to run. Syntax errors name the line and column of the TypeScript source.

use std::path::Path;

use oxc_allocator::Allocator;
use oxc_codegen::Codegen;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};

use super::CompileError;

/// Whether `file` names a TypeScript module (`.ts` or `.mts`).
pub fn is_typescript(file: &str) -> bool {
    file.ends_with(".ts") || file.ends_with(".mts")
}

/// The JavaScript of the TypeScript module `source`, or its first syntax error as
/// `file:line:col: message`.
pub fn strip(file: &str, source: &str) -> Result<String, CompileError> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::ts()).parse();
    if let Some(error) = parsed.diagnostics.errors().next() {
        return Err(source_error(file, source, error));
    }
    let mut program = parsed.program;
    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .build(&program);
    if let Some(error) = semantic.diagnostics.errors().next() {
        return Err(source_error(file, source, error));
    }
    let scoping = semantic.semantic.into_scoping();
    let options = TransformOptions::default();
    let transformed = Transformer::new(&allocator, Path::new(file), &options)
        .build_with_scoping(scoping, &mut program);
    if let Some(error) = transformed.diagnostics.errors().next() {
        return Err(source_error(file, source, error));
    }
    Ok(Codegen::new().build(&program).code)
}

fn source_error(file: &str, source: &str, error: &oxc_diagnostics::OxcDiagnostic) -> CompileError {
    let (line, column) = error
        .labels
        .first()
        .map_or((0, 0), |label| line_column(source, label.offset() as usize));
    let mut message = format!("{file}:{line}:{column}: SyntaxError: {}", error.message);
    if let Some(help) = &error.help {
        message.push_str(&format!(" ({help})"));
    }
    CompileError::Source {
        message,
        line,
        column,
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before, |newline| &before[newline + 1..])
        .chars()
        .count()
        + 1;
    (line as u32, column as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_go_and_typescript_only_syntax_becomes_javascript() {
        let js = strip(
            "app.ts",
            "import type { X } from './x';\n\
             interface Point { x: number }\n\
             enum Color { Red, Green }\n\
             class Box { constructor(private size: number) {} }\n\
             const p: Point = { x: 1 } satisfies Point;\n\
             export default { fetch(req: Request): Response { return new Response(String(p.x as number)); } };\n",
        )
        .expect("strips");
        assert!(
            !js.contains("interface") && !js.contains("import type"),
            "{js}"
        );
        assert!(
            !js.contains(": number") && !js.contains("satisfies"),
            "{js}"
        );
        assert!(js.contains("Color[Color[\"Red\"] = 0]"), "{js}");
        assert!(js.contains("this.size = size"), "{js}");
    }

    #[test]
    fn a_syntax_error_names_its_line_and_column_in_the_typescript_source() {
        let Err(CompileError::Source {
            message,
            line,
            column,
        }) = strip("app.ts", "const a: number = 1;\nconst b: = 2;\n")
        else {
            panic!("accepted");
        };
        assert_eq!((line, column), (2, 10), "{message}");
        assert!(
            message.starts_with("app.ts:2:10: SyntaxError: "),
            "{message}"
        );
    }
}
