//! fdc-dsl: the .fdl language (being built).
