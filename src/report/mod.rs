//! Output: one exporter per results file, the results folder, the console, and `analyze`.
pub mod plan_view;
