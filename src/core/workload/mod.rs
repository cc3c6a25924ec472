//! Workload generation: op mix sampling, key patterns and names, size distributions, payload
//! data. Pure functions of a seed; no I/O and no clocks.

mod arrivals;
mod datagen;
mod mix;
mod names;
mod pattern;
mod sizes;

pub use arrivals::{Arrival, Schedule};
pub use datagen::{Checker, Generator};
pub use mix::OpMix;
pub use names::{prepared_name, sharded, unique_dir_key, unique_put_key, worker_seed, TreeShape};
pub use pattern::{glob_match, list_prefix, split_absolute};
pub use sizes::sample_size;
