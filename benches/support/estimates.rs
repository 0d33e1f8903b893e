//! Reading criterion's saved estimates, for the summary tables the benches print after
//! criterion is done. Each bench includes this file with `#[path]` and uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::SystemTime;

/// Where criterion writes: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else
/// `target/criterion` found from the bench binary (`target/<profile>/deps/<bench>-<hash>`).
pub fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(target).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// The file criterion saved its latest estimates of benchmark `id` (`group/bench[/param]`) in.
fn estimates(id: &str) -> Option<PathBuf> {
    Some(criterion_dir()?.join(id).join("new").join("estimates.json"))
}

/// The median time per iteration (ns) criterion estimated for benchmark `id`.
pub fn median_ns(id: &str) -> Option<f64> {
    let json = std::fs::read_to_string(estimates(id)?).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let value = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

/// [`median_ns`], only if this run wrote it (at or after `since`): an old estimate of a
/// benchmark filtered out of this run would mislead.
pub fn fresh_median_ns(id: &str, since: SystemTime) -> Option<f64> {
    let modified = std::fs::metadata(estimates(id)?).ok()?.modified().ok()?;
    (modified >= since).then(|| median_ns(id)).flatten()
}
