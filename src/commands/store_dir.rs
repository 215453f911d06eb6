//! The settings of an embedded store directory: `--store` of `fdc run` and `fdc refresh`, a
//! production run without MongoDB, and `fdc inspect`, read the same way by every command.
//!
//! In: the environment variable [`CACHE_ENV`]. Out: the [`DiskOptions`] a command puts in its
//! deployment's `StoreSpec::Directory` / `StoreSpec::ExistingDirectory`, with the cache size
//! the variable sets (MiB; the default when unset or not a number).
//!
//! Guarantees: this is the one place that reads the store's settings from the environment; the
//! engine crates read none (`fdc_topology::build` opens the directory with the options given).

use fdc_embedded::DiskOptions;

/// The environment variable that sets the cache budget of a store directory
/// ([`DiskOptions::cache_mib`]).
pub const CACHE_ENV: &str = "FDC_STORE_CACHE_MB";

/// The options of a store directory, from the process environment.
pub fn options() -> DiskOptions {
    options_from(|name| std::env::var(name).ok())
}

/// The options of a store directory, from the environment `var` reads.
fn options_from(var: impl Fn(&str) -> Option<String>) -> DiskOptions {
    DiskOptions::with_cache_setting(var(CACHE_ENV).as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_size_is_read_from_fdc_store_cache_mb() {
        let set = |value: &'static str| {
            move |name: &str| (name == "FDC_STORE_CACHE_MB").then(|| value.to_string())
        };
        assert_eq!(options_from(set("16")).cache_mib, 16);
        assert_eq!(options_from(set("0")).cache_mib, 0);
        assert_eq!(options_from(set("lots")), DiskOptions::default());
        assert_eq!(options_from(|_| None), DiskOptions::default());
    }
}
