//! The committed output under `stack/cfn/src/resources` must be what the generator produces.

use std::path::Path;

use cfn_codegen::Layout;

#[test]
fn generated_code_is_fresh() -> Result<(), cfn_codegen::Error> {
    let layout = Layout::from_manifest_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let files = cfn_codegen::generate(&layout)?;
    let stale = cfn_codegen::stale(&layout.out, &files)?;
    let list: Vec<String> = stale.iter().map(|s| format!("  {s}")).collect();
    assert!(
        stale.is_empty(),
        "the generated code under stack/cfn/src/resources is out of date:\n{}\nrun `cargo run -p cfn-codegen` to regenerate it",
        list.join("\n")
    );
    Ok(())
}
