//! fdc-engine: the runtime (being built).
