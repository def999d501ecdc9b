//! Writes the JSON Schema documents of the Kafka messages to `schemas/json/`
//! (or the folder given as the first argument).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json"));
    std::fs::create_dir_all(&dir)?;
    for doc in rtcx_schemas::json_schema::all() {
        let path = dir.join(doc.file);
        std::fs::write(&path, doc.json)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
