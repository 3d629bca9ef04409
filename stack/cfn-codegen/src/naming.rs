//! Rust identifiers from schema names.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Keywords usable as raw identifiers (`r#type`), for edition 2024.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers; they get a trailing underscore instead.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// A field, parameter or module name: `ShardCount` → `shard_count`, `Type` → `r#type`.
pub fn snake_ident(name: &str) -> String {
    let mut ident = name.to_snake_case();
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    escape(ident)
}

/// A type name: `StreamModeDetails` stays, `iso8601UTC` → `Iso8601Utc`.
pub fn camel_ident(name: &str) -> String {
    let mut ident = name.to_upper_camel_case();
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, 'N');
    }
    escape(ident)
}

fn escape(ident: String) -> String {
    if NOT_RAW.contains(&ident.as_str()) {
        format!("{ident}_")
    } else if KEYWORDS.contains(&ident.as_str()) {
        format!("r#{ident}")
    } else {
        ident
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_idents_escape_keywords() {
        assert_eq!(snake_ident("Type"), "r#type");
        assert_eq!(snake_ident("KMSMasterKeyId"), "kms_master_key_id");
        assert_eq!(snake_ident("deadLetterTargetArn"), "dead_letter_target_arn");
        assert_eq!(snake_ident("Self"), "self_");
    }

    #[test]
    fn camel_idents() {
        assert_eq!(camel_ident("StreamModeDetails"), "StreamModeDetails");
        assert_eq!(camel_ident("iso8601UTC"), "Iso8601Utc");
        assert_eq!(camel_ident("SSESpecification"), "SseSpecification");
    }
}
