//! The engine: configuration, storage, workload generation, execution and metrics.
//! Must not name tonic, prost, russh, clap, polars or rust_xlsxwriter.
pub mod config;
pub mod decimal;
pub mod exec;
pub mod metrics;
pub mod oplog;
pub mod store;
pub mod workload;

mod op;
pub use op::{OpClass, OpKind};
