//! `rtcx-ingest-openapi`: writes ingest's OpenAPI document (default limits) to
//! `docs/ingest-openapi.json` (or the path given), the document the service serves at
//! `/v1/openapi.json`. A test fails when the committed file drifts from the code.

use anyhow::Context as _;
use rtcx_ingest::app::Limits;
use rtcx_ingest::openapi::{document, to_pretty_json};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ingest-openapi.json").to_owned());
    std::fs::write(&path, to_pretty_json(&document(&Limits::default()))).with_context(|| format!("writing {path}"))?;
    println!("wrote {path}");
    Ok(())
}
