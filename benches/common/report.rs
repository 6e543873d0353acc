//! The end-to-end benches' results as JSON, next to the printed table:
//! `<target>/bench-results/<bench>.json`, and the percentiles they print.
// Each bench includes this file and uses what it needs of it.
#![allow(dead_code)]

use neuralchat_testkit::bin::target_dir;
use serde_json::Value;

/// Writes `results` (with the time of the run) for `bench` and says where;
/// a file that cannot be written is reported, not fatal.
pub fn save(bench: &str, mut results: Value) {
    if let Value::Object(object) = &mut results {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        object.insert("bench".into(), bench.into());
        object.insert("unix_time".into(), at.into());
    }
    let dir = target_dir().join("bench-results");
    let path = dir.join(format!("{bench}.json"));
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let text = serde_json::to_string_pretty(&results).unwrap_or_default();
        std::fs::write(&path, text + "\n")
    });
    match written {
        Ok(()) => println!("results (JSON): {}", path.display()),
        Err(e) => println!("results (JSON) not written to {}: {e}", path.display()),
    }
}

/// The `p`th percentile (0–100) of `sorted` (ascending), by the nearest
/// rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}
