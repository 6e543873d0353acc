//! The end-to-end suite: see `tests/` (real server and CLI processes) and `benches/`.

#![warn(missing_docs)]
