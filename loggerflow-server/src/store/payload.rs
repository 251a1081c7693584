//! How a report is stored: its JSON compressed with zstd (`reports.body`).
//!
//! A standard report (~2.3 KB of JSON, 20 frames) compresses to a fraction
//! of it (BENCHMARKS.md, "Storage"); encoding runs in the ingest
//! handlers, in parallel, so the writer's one task only inserts.

use loggerflow_layer::Report;

use super::StoreError;

/// zstd's level: 1 is its fastest, and compresses these reports nearly as
/// well as 3 (BENCHMARKS.md, "Storage").
const LEVEL: i32 = 1;

/// The largest body decoded: a report is at most 256 KiB of JSON
/// (`Report::bound`); anything larger is not one of ours.
const MAX_DECODED: usize = 4 * 1024 * 1024;

thread_local! {
    /// A compression context per thread: making one per report was a tenth
    /// of the server's CPU under ingest (`perf`, `load ingest`).
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// The stored form of `report`.
pub fn encode(report: &Report) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(report).map_err(|e| StoreError::Other(e.to_string()))?;
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(compressor) => compressor,
            None => slot.insert(
                zstd::bulk::Compressor::new(LEVEL).map_err(|e| StoreError::Other(e.to_string()))?,
            ),
        };
        compressor
            .compress(&json)
            .map_err(|e| StoreError::Other(e.to_string()))
    })
}

/// The report's JSON from its stored form, as text.
pub fn decode_json(body: &[u8]) -> Result<Vec<u8>, StoreError> {
    zstd::bulk::decompress(body, MAX_DECODED)
        .map_err(|e| StoreError::Other(format!("a stored report cannot be read: {e}")))
}

/// The report from its stored form.
pub fn decode(body: &[u8]) -> Result<Report, StoreError> {
    serde_json::from_slice(&decode_json(body)?)
        .map_err(|e| StoreError::Other(format!("a stored report cannot be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_and_garbage_is_an_error() {
        let report: Report = serde_json::from_value(serde_json::json!({
            "id": "0191f3c0-7a0b-7c4e-8d1e-2f3a4b5c6d7e", "project": "shop",
            "timestamp": "2026-11-29T10:00:00Z", "level": "ERROR", "kind": "event",
            "message": "payment failed", "target": "shop::pay", "module": "shop::pay",
            "file": "src/pay.rs", "line": 10, "thread": "main", "host": "h", "frames": []
        }))
        .expect("a report");
        let body = encode(&report).expect("encode");
        assert_eq!(decode(&body).expect("decode"), report);
        assert!(decode(b"not zstd").is_err());
    }
}
