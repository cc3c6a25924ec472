//! sai3: a distributed storage I/O benchmark.
//!
//! Dependencies point one way: `cmd → net, report → core`. `core` is the engine (no network,
//! no file formats, no CLI); `net` is gRPC and SSH; `report` writes every output file.
pub mod cmd;
pub mod core;
pub mod net;
pub mod report;
