//! Network: the gRPC agent service and the controller's fleet client; SSH deployment.
//! Proto types stay inside this module: the rest of the crate sees engine types only.

/// Code generated from `proto/sai3/v1/agent.proto`.
pub mod pb {
    tonic::include_proto!("sai3.v1");
}

pub mod agent_server;
pub mod agent_service;
pub mod auth;
pub mod codec;
pub mod controller;
pub mod fleet;
pub mod metrics_http;
pub mod ssh;
