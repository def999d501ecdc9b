//! `rtcx-openapi`: writes the query API's OpenAPI document to `docs/openapi.json` (or the
//! path given), the same document the service serves at `/v1/openapi.json`. A test fails
//! when the committed file drifts from the code.

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json").to_owned());
    let json = rtcx_query_api::openapi::to_pretty_json(&rtcx_query_api::app::document())?;
    std::fs::write(&path, json).with_context(|| format!("writing {path}"))?;
    println!("wrote {path}");
    Ok(())
}
