//! Helpers for the crate's unit tests.

/// Loop count for a stress test: `default` times `CF_TEST_STRESS` (a multiplier, 1 if unset),
/// the same meaning as in the integration tests.
pub(crate) fn stress_iterations(default: usize) -> usize {
    default
        * std::env::var("CF_TEST_STRESS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
}
