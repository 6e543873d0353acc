//! The end-to-end benches' results as JSON, next to the printed table:
//! `<target>/bench-results/<bench>.json`.

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
